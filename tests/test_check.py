"""The exercise checks accept right answers and give a specific hint for typical wrong ones."""

import torch

from camutils import check


def run(capsys, fn, *args):
    ok = fn(*args)
    return ok, capsys.readouterr().out


def test_toy_scores(capsys):
    F = torch.tensor([11.0, 18.0, 18.0], dtype=torch.float64) / 16
    s1 = float(torch.tensor([0.6, 0.1, 0.1], dtype=torch.float64) @ F)
    s2 = float(torch.tensor([0.4, 0.6, 0.8], dtype=torch.float64) @ F)
    assert run(capsys, check.toy_scores, (s1, s2))[0]
    ok, out = run(capsys, check.toy_scores, (16 * s1, 16 * s2))
    assert not ok and "16 times" in out
    ok, out = run(capsys, check.toy_scores, (s2, s1))
    assert not ok and "order" in out
    ok, out = run(capsys, check.toy_scores, (0.88125, 1.85))
    assert not ok and "ORIGINAL" in out
    ok, out = run(capsys, check.toy_scores, None)
    assert not ok and "Not answered" in out
    assert not run(capsys, check.toy_scores, "two")[0]


def test_cam_function(capsys):
    assert run(capsys, check.cam_function, lambda f, w: torch.einsum("ck,bkhw->bchw", w, f))[0]
    ok, out = run(capsys, check.cam_function, lambda f, w: torch.einsum("ck,bkhw->bchw", w, f) / 5)
    assert not ok and "SUM" in out
    ok, out = run(capsys, check.cam_function, lambda f, w: torch.einsum("kc,bkhw->bchw", w, f))
    assert not ok and "raised" in out
    ok, out = run(capsys, check.cam_function, lambda f, w: f.mean(dim=1))
    assert not ok and "(2, 6, 3, 4)" in out
    relu = lambda f, w: torch.relu(torch.einsum("ck,bkhw->bchw", w, f))  # noqa: E731
    ok, out = run(capsys, check.cam_function, relu)
    assert not ok and "ReLU" in out


def test_gap_head_weights(capsys):
    assert run(capsys, check.gap_head_weights, 62_720_000, 1_280_000)[0]
    ok, out = run(capsys, check.gap_head_weights, 62_721_000, 1_281_000)
    assert not ok and "biases" in out
    ok, out = run(capsys, check.gap_head_weights, 8_960_000, 1_280_000)
    assert not ok and "BOTH" in out
    ok, out = run(capsys, check.gap_head_weights, 62_720_000, 1280)
    assert not ok and "1000 classes" in out


def test_explanation_families(capsys):
    right = {
        "gradient saliency": "backpropagation",
        "LRP": "backpropagation",
        "CAM": "activation",
        "occlusion": "perturbation",
        "LIME": "perturbation",
    }
    assert run(capsys, check.explanation_families, right)[0]
    ok, out = run(capsys, check.explanation_families, {**right, "CAM": "backpropagation"})
    assert not ok and "cam:" in out and "no backward pass" in out
    ok, out = run(capsys, check.explanation_families, {"CAM": "activation"})
    assert not ok and "also classify" in out


def test_upsample_size(capsys):
    assert run(capsys, check.upsample_size, (300, 451))[0]
    ok, out = run(capsys, check.upsample_size, (451, 300))
    assert not ok and "cv2" in out
    assert not run(capsys, check.upsample_size, (224, 224))[0]


def test_box_iou_inclusive(capsys):
    assert run(capsys, check.box_iou_inclusive, 400 / 2800)[0]
    ok, out = run(capsys, check.box_iou_inclusive, 361 / 2681)
    assert not ok and "+1" in out
    ok, out = run(capsys, check.box_iou_inclusive, 0.25)
    assert not ok and "UNION" in out


def test_threshold_box(capsys):
    assert run(capsys, check.threshold_box, (1, 1, 2, 2))[0]
    ok, out = run(capsys, check.threshold_box, (0, 0, 4, 4))
    assert not ok and "LARGEST" in out
    ok, out = run(capsys, check.threshold_box, (1, 1, 3, 2))
    assert not ok and "1.8" in out


def test_threshold_box_answer_agrees_with_camutils():
    import scipy.ndimage as ndi

    m = torch.tensor(
        [[0, 0, 0, 0, 9], [0, 6, 7, 0, 0], [0, 5, 9, 1, 0], [0, 0, 0, 0, 0], [3, 0, 0, 0, 0]],
        dtype=torch.float64,
    )
    labels, n = ndi.label((m >= 0.2 * m.max()).numpy(), structure=[[1, 1, 1]] * 3)
    sizes = [(labels == i).sum() for i in range(1, n + 1)]
    ys, xs = (labels == 1 + max(range(n), key=sizes.__getitem__)).nonzero()
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (1, 1, 2, 2)


def test_top5_localization(capsys):
    assert run(capsys, check.top5_localization, False, True)[0]
    ok, out = run(capsys, check.top5_localization, True, True)
    assert not ok and "FIRST" in out
    ok, out = run(capsys, check.top5_localization, False, False)
    assert not ok and "ANY" in out
