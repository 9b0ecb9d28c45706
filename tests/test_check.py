"""The exercise checks accept right answers and give a specific hint for typical wrong ones."""

import torch

import camutils
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


def test_gap_head_weights_on_a_larger_grid(capsys):
    ok, out = run(capsys, check.gap_head_weights, 1280 * 14 * 14 * 1000, 1_280_000, 14)
    assert ok and "196 times" in out
    ok, out = run(capsys, check.gap_head_weights, 62_720_000, 1_280_000, 14)
    assert not ok and "7 x 7 grid of a 224" in out
    ok, out = run(capsys, check.gap_head_weights, 1280 * 14 * 14 * 1000, 1280 * 196 * 1000, 14)
    assert not ok and "ONE number per channel" in out
    ok, out = run(capsys, check.gap_head_weights, 1280 * 14 * 1000, 1_280_000, 14)
    assert not ok and "BOTH" in out
    ok, out = run(capsys, check.gap_head_weights, 2.5088e8, 1.28e6, 14)  # floats are fine
    assert ok
    ok, out = run(capsys, check.gap_head_weights, "a lot", 1_280_000, 14)
    assert not ok and "two whole numbers" in out
    ok, out = run(capsys, check.gap_head_weights, None, None, 14)
    assert not ok and "Not answered" in out


def test_occlusion_cost(capsys):
    import torch.nn as nn

    from camutils.saliency import occlusion

    # the answer agrees with camutils: a 13 x 13 grid, and one more forward pass than copies
    seen = []
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 224 * 224, 2)).eval()
    net.register_forward_hook(lambda m, i, o: seen.append(o.shape[0]))
    grid = occlusion(net, torch.zeros(1, 3, 224, 224), 0).shape[-2:]
    assert tuple(grid) == (13, 13) and sum(seen) == 170

    assert run(capsys, check.occlusion_cost, (13, 13), 170)[0]
    assert run(capsys, check.occlusion_cost, torch.Size([13, 13]), 170.0)[0]
    ok, out = run(capsys, check.occlusion_cost, (14, 14), 197)
    assert not ok and "stick out" in out
    ok, out = run(capsys, check.occlusion_cost, (12, 12), 145)
    assert not ok and "first one too" in out
    ok, out = run(capsys, check.occlusion_cost, (7, 7), 50)
    assert not ok and "56 / stride 28" in out
    ok, out = run(capsys, check.occlusion_cost, (13, 13), 169)
    assert not ok and "which image" in out
    ok, out = run(capsys, check.occlusion_cost, (13, 13), 50)
    assert not ok and "count again" in out
    ok, out = run(capsys, check.occlusion_cost, 13, 170)
    assert not ok and "(h', w')" in out
    ok, out = run(capsys, check.occlusion_cost, (13, 13), None)
    assert not ok and "Not answered" in out


def test_flatten_to_gap(capsys):
    assert run(capsys, check.flatten_to_gap, lambda W: W.sum(dim=(2, 3)))[0]
    assert run(capsys, check.flatten_to_gap, lambda W: W.flatten(2).sum(-1).float())[0]
    ok, out = run(capsys, check.flatten_to_gap, lambda W: W.mean(dim=(2, 3)))
    assert not ok and "too small" in out
    ok, out = run(capsys, check.flatten_to_gap, lambda W: W.sum(dim=(2, 3)) * 10)
    assert not ok and "too large" in out
    ok, out = run(capsys, check.flatten_to_gap, lambda W: W.sum(dim=(2, 3)).T)
    assert not ok and "one row per class" in out
    ok, out = run(capsys, check.flatten_to_gap, lambda W: W.sum(dim=(0, 1)))
    assert not ok and "Which axes" in out
    ok, out = run(capsys, check.flatten_to_gap, lambda W: W[:, :, 0, 0])
    assert not ok and "sum_k F_k" in out
    ok, out = run(capsys, check.flatten_to_gap, lambda W: W.sum(dim=(2, 3)).numpy())
    assert not ok and "torch tensor" in out
    ok, out = run(capsys, check.flatten_to_gap, lambda W: W.sum(dim=5))
    assert not ok and "raised IndexError" in out
    ok, out = run(capsys, check.flatten_to_gap, lambda W: None)  # the notebook's stub
    assert not ok and "Not answered" in out


def test_flatten_to_gap_inverts_the_copied_weights_of_notebook_02():
    w = torch.randn(6, 4, dtype=torch.float64)
    W = (w[:, :, None, None] / 12).expand(6, 4, 3, 4)  # W_c[k, x, y] = w_k^c / (hw)
    assert torch.allclose(W.sum(dim=(2, 3)), w)
    f = torch.randn(2, 4, dtype=torch.float64)[:, :, None, None].expand(2, 4, 3, 4)
    V = torch.randn(6, 4, 3, 4, dtype=torch.float64)  # any flatten head, constant features
    assert torch.allclose(f.flatten(1) @ V.flatten(1).T, f.mean(dim=(2, 3)) @ V.sum(dim=(2, 3)).T)


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
    ok, out = run(capsys, check.explanation_families, ["CAM", "activation"])
    assert not ok and "dict" in out


def test_per_image_cams(capsys):
    right = lambda f, w, c: torch.einsum("bnk,bkxy->bnxy", w[c], f)  # noqa: E731
    assert run(capsys, check.per_image_cams, right)[0]
    assert run(capsys, check.per_image_cams, camutils.class_activation_maps)[0]
    first = lambda f, w, c: torch.einsum("nk,bkxy->bnxy", w[c[0]], f)  # noqa: E731
    ok, out = run(capsys, check.per_image_cams, first)
    assert not ok and "FIRST image's classes" in out
    every = lambda f, w, c: torch.einsum("ck,bkxy->bcxy", w, f)  # noqa: E731
    ok, out = run(capsys, check.per_image_cams, every)
    assert not ok and "every class's map" in out
    cross = lambda f, w, c: torch.einsum("bnk,akxy->abnxy", w[c], f)  # noqa: E731
    ok, out = run(capsys, check.per_image_cams, cross)
    assert not ok and "(3, 2, 2, 4)" in out
    ok, out = run(capsys, check.per_image_cams, lambda f, w, c: right(f, w, c) / 5)
    assert not ok and "SUM" in out
    ok, out = run(capsys, check.per_image_cams, lambda f, w, c: torch.relu(right(f, w, c)))
    assert not ok and "ReLU" in out
    wrong_k = lambda f, w, c: torch.einsum("bnk,bkxy->bnxy", w[c].flip(-1), f)  # noqa: E731
    ok, out = run(capsys, check.per_image_cams, wrong_k)
    assert not ok and "classes[b]" in out
    ok, out = run(
        capsys, check.per_image_cams, lambda f, w, c: torch.einsum("bnk,bkxy->bnxy", w, f)
    )
    assert not ok and "raised" in out
    ok, out = run(capsys, check.per_image_cams, lambda f, w, c: None)
    assert not ok and "Not answered" in out


def test_upsample_size(capsys):
    assert run(capsys, check.upsample_size, (300, 451))[0]
    assert run(capsys, check.upsample_size, torch.Size([300, 451]))[0]
    ok, out = run(capsys, check.upsample_size, (451, 300))
    assert not ok and "PIL" in out
    assert not run(capsys, check.upsample_size, (224, 224))[0]
    ok, out = run(capsys, check.upsample_size, 451)
    assert not ok and "two whole numbers" in out


def test_normalized_pixel(capsys):
    assert run(capsys, check.normalized_pixel, 1 / 3, 0.0)[0]
    assert run(capsys, check.normalized_pixel, 0.33, 0)[0]
    ok, out = run(capsys, check.normalized_pixel, 0.0, 1 / 3)
    assert not ok and "swapped" in out
    ok, out = run(capsys, check.normalized_pixel, 0.5, 0.0)
    assert not ok and "range" in out
    ok, out = run(capsys, check.normalized_pixel, 0.0, 0.0)
    assert not ok and "MINIMUM" in out
    ok, out = run(capsys, check.normalized_pixel, 1 / 3, 0.5)
    assert not ok and "does not shift" in out
    ok, out = run(capsys, check.normalized_pixel, 1 / 3, 1 / 3)
    assert not ok and "ReLU first" in out
    ok, out = run(capsys, check.normalized_pixel, 33.3, 0)
    assert not ok and "percentages" in out


def test_normalized_pixel_answer_agrees_with_camutils():
    m = torch.tensor([[[[-4.0, 0.0, 8.0]]]])
    assert torch.allclose(camutils.normalize_cams(m)[0, 0, 0, 1], torch.tensor(1 / 3))
    assert camutils.normalize_cams(m, method="max")[0, 0, 0, 1] == 0


def test_box_iou_inclusive(capsys):
    assert run(capsys, check.box_iou_inclusive, 400 / 2800)[0]
    assert run(capsys, check.box_iou_inclusive, torch.tensor(400 / 2800))[0]
    ok, out = run(capsys, check.box_iou_inclusive, 361 / 2681)
    assert not ok and "+1" in out
    ok, out = run(capsys, check.box_iou_inclusive, 0.25)
    assert not ok and "UNION" in out
    ok, out = run(capsys, check.box_iou_inclusive, 0.125)
    assert not ok and "overlap once" in out
    ok, out = run(capsys, check.box_iou_inclusive, 14.29)
    assert not ok and "percentage" in out
    ok, out = run(capsys, check.box_iou_inclusive, "1/7")
    assert not ok and "one number" in out


def test_box_iou_inclusive_answer_agrees_with_camutils():
    from camutils.metrics import box_iou

    iou = box_iou(torch.tensor([10, 10, 49, 49]), torch.tensor([30, 30, 69, 69]))
    assert abs(float(iou) - 1 / 7) < 1e-6


def test_threshold_box(capsys):
    assert run(capsys, check.threshold_box, (1, 1, 2, 2))[0]
    assert run(capsys, check.threshold_box, torch.tensor([1, 1, 2, 2]))[0]
    ok, out = run(capsys, check.threshold_box, (0, 0, 4, 4))
    assert not ok and "LARGEST" in out
    ok, out = run(capsys, check.threshold_box, (1, 1, 3, 2))
    assert not ok and "1.8" in out
    ok, out = run(capsys, check.threshold_box, (1, 0, 4, 2))
    assert not ok and "diagonally" in out
    ok, out = run(capsys, check.threshold_box, (1, 1, 3, 3))
    assert not ok and "inclusive" in out
    ok, out = run(capsys, check.threshold_box, (1, 1, 2))
    assert not ok and "four whole numbers" in out


def test_threshold_box_shifted(capsys):
    assert run(capsys, check.threshold_box_shifted, (1, 1, 3, 2))[0]
    ok, out = run(capsys, check.threshold_box_shifted, (1, 1, 2, 2))
    assert not ok and "original map" in out
    ok, out = run(capsys, check.threshold_box_shifted, (0, 0, 4, 4))
    assert not ok and "NEW maximum" in out
    ok, out = run(capsys, check.threshold_box_shifted, (1, 1, 2, 3))
    assert not ok and "order" in out
    ok, out = run(capsys, check.threshold_box_shifted, None)
    assert not ok and "Not answered" in out


def _paper_box(m):
    import scipy.ndimage as ndi

    labels, n = ndi.label((m >= 0.2 * m.max()).numpy(), structure=[[1, 1, 1]] * 3)
    sizes = [(labels == i).sum() for i in range(1, n + 1)]
    ys, xs = (labels == 1 + max(range(n), key=sizes.__getitem__)).nonzero()
    return (xs.min(), ys.min(), xs.max(), ys.max())


def test_threshold_box_answers_agree_with_scipy_and_camutils():
    from camutils.boxes import largest_component_boxes

    m = torch.tensor(check._SMALL_MAP, dtype=torch.float64)
    for shift, box in [(0, (1, 1, 2, 2)), (2, (1, 1, 3, 2))]:
        assert _paper_box(m + shift) == box
        assert tuple(largest_component_boxes((m + shift)[None, None], 0.2)[0, 0].tolist()) == box
    # min-max normalising first makes the box blind to the shift
    shifted = camutils.normalize_cams((m + 2)[None, None])
    assert tuple(largest_component_boxes(shifted, 0.2)[0, 0].tolist()) == (1, 1, 2, 2)


def test_localization_errors(capsys):
    assert run(capsys, check.localization_errors, 60, 40, 80)[0]
    assert run(capsys, check.localization_errors, 60.0, 40.0, 80.0)[0]
    ok, out = run(capsys, check.localization_errors, 0.6, 0.4, 0.8)
    assert not ok and "percentages" in out
    ok, out = run(capsys, check.localization_errors, 20, 40, 80)
    assert not ok and "class is wrong" in out and "top-5" not in out
    ok, out = run(capsys, check.localization_errors, 40, 40, 80)
    assert not ok and "classification error" in out
    ok, out = run(capsys, check.localization_errors, 60, 0, 80)
    assert not ok and "wrong class never counts" in out
    ok, out = run(capsys, check.localization_errors, 60, 20, 80)
    assert not ok and "CLASSIFICATION" in out
    ok, out = run(capsys, check.localization_errors, 60, 60, 80)
    assert not ok and "accuracy" in out
    ok, out = run(capsys, check.localization_errors, 60, 40, 60)
    assert not ok and "whatever the network's ranking" in out
    ok, out = run(capsys, check.localization_errors, 60, 40, 20)
    assert not ok and "not the error" in out
    ok, out = run(capsys, check.localization_errors, 20, 0, 60)  # three hints at once
    assert not ok and out.count(";") == 2
    ok, out = run(capsys, check.localization_errors, 60, 40, None)
    assert not ok and "Not answered" in out


def test_localization_errors_answer_agrees_with_the_meter():
    from camutils.metrics import LocalizationMeter

    # the exercise's five photos: classes 0..4 are the true classes, other numbers wrong ones;
    # each guess gets a box whose IoU with the ground truth (0, 0, 99, 99) is the given value
    true = torch.tensor([0, 1, 2, 3, 4])
    guesses = torch.tensor(
        [[10, 11, 0, 12, 13], [1, 14, 15, 16, 17], [2, 18, 19, 20, 21],
         [22, 23, 24, 25, 26], [4, 27, 28, 29, 30]]
    )  # fmt: skip
    ious = torch.tensor(
        [[0.92, 0.95, 0.55, 0.30, 0.88], [0.40, 0.70, 0.65, 0.20, 0.35], [0.65, 0, 0, 0, 0],
         [0.58, 0.20, 0.58, 0.55, 0.60], [0.94, 0, 0, 0, 0]]
    )  # fmt: skip
    true_map_iou = torch.tensor([0.55, 0.40, 0.65, 0.62, 0.94])

    def box(iou):  # a box inside (0, 0, 99, 99) with this IoU: width 100, height 100 * iou
        return torch.stack([torch.zeros_like(iou), torch.zeros_like(iou),
                            torch.full_like(iou, 99), (100 * iou).round() - 1], -1).long()  # fmt: skip

    meter = LocalizationMeter()
    gt = torch.tensor([[[0, 0, 99, 99]]]).expand(5, 1, 4)
    meter.update(guesses, box(ious), true, gt, torch.ones(5, 1, dtype=torch.bool),
                 gt_known_boxes=box(true_map_iou))  # fmt: skip
    r = meter.compute()
    assert (r["top1_loc_error"], r["top5_loc_error"], r["gt_known_loc_acc"]) == (60, 40, 80)


def test_top5_localization(capsys):
    assert run(capsys, check.top5_localization, False, True)[0]
    ok, out = run(capsys, check.top5_localization, True, True)
    assert not ok and "FIRST" in out
    ok, out = run(capsys, check.top5_localization, False, False)
    assert not ok and "ANY" in out
    ok, out = run(capsys, check.top5_localization, "no", "yes")
    assert not ok and "True or False" in out


def test_every_check_reminds_instead_of_raising_when_unanswered(capsys):
    import inspect

    for name in sorted(set(check.__all__) - set(check.SETTINGS)):
        fn = getattr(check, name)
        n = sum(
            p.default is inspect.Parameter.empty for p in inspect.signature(fn).parameters.values()
        )
        ok, out = run(capsys, fn, *[None] * n)
        assert not ok and out.startswith("Not answered"), name


def test_pooling_credit(capsys):
    assert run(capsys, check.pooling_credit, 196, 1, 1 / 196)[0]
    assert run(capsys, check.pooling_credit, 196.0, torch.tensor(1), torch.tensor(1 / 196))[0]
    assert run(capsys, check.pooling_credit, 49, 1, 1 / 49, 7)[0]
    ok, out = run(capsys, check.pooling_credit, 1, 196, 1 / 196)
    assert not ok and "swapped" in out
    ok, out = run(capsys, check.pooling_credit, 49, 1, 1 / 49)
    assert not ok and "14 x 14 grid" in out and "divide by the cells" in out
    ok, out = run(capsys, check.pooling_credit, 56 * 56, 1, 1 / 196)
    assert not ok and "not pixels" in out
    ok, out = run(capsys, check.pooling_credit, 196, 196, 1 / 196)
    assert not ok and "nudge" in out and "GAP" not in out
    ok, out = run(capsys, check.pooling_credit, 196, 0, 1 / 196)
    assert not ok and "does change" in out
    ok, out = run(capsys, check.pooling_credit, 196, 1, 1)
    assert not ok and "MEAN" in out and "GMP" not in out
    ok, out = run(capsys, check.pooling_credit, 196, 1, 100 / 196)
    assert not ok and "percentage" in out
    ok, out = run(capsys, check.pooling_credit, 196, 1, 196)
    assert not ok and "divides by the number" in out
    ok, out = run(capsys, check.pooling_credit, 196, 1, 0.3)
    assert not ok and "dF_k / df_k" in out
    ok, out = run(capsys, check.pooling_credit, 100, 5, 1)  # three hints at once
    assert not ok and "GAP: " in out and "GMP: " in out and "GAP's share: " in out
    ok, out = run(capsys, check.pooling_credit, "all", 1, 1 / 196)
    assert not ok and "whole numbers" in out
    ok, out = run(capsys, check.pooling_credit, 196, 1.5, 1 / 196)
    assert not ok and "whole numbers" in out
    ok, out = run(capsys, check.pooling_credit, 196, 1, None)
    assert not ok and "Not answered" in out


def test_pooling_credit_answer_agrees_with_autograd():
    from camutils.wsol import make_net

    g = torch.Generator().manual_seed(0)
    f = torch.rand(1, 32, 14, 14, generator=g, dtype=torch.float64)  # distinct values: no ties
    for head, cells, share in [("gap", 196, 1 / 196), ("gmp", 1, 1.0)]:
        net = make_net(head, seed=0).double()
        fg = f.clone().requires_grad_(True)
        net.head(net.pooled(fg))[0, 3].backward()
        w = net.head.weight[3].detach()  # w_k^c of class 3
        grad = fg.grad[0].flatten(1)  # (K, cells): dS_3 / df_k(x, y)
        assert ((grad != 0).sum(1) == cells).all()
        assert torch.allclose(grad, torch.where(grad != 0, w[:, None] * share, 0.0))
        assert torch.allclose(grad.sum(1), w)  # all of w_k^c is handed out, either way


def test_surgery_parameters(capsys):
    assert run(capsys, check.surgery_parameters, 323_546)[0]
    assert run(capsys, check.surgery_parameters, 34_586, 64)[0]
    assert run(capsys, check.surgery_parameters, 3.23546e5)[0]  # a whole float is fine
    ok, out = run(capsys, check.surgery_parameters, 323_546 - 15_312)
    assert not ok and "keeps its trained body" in out
    ok, out = run(capsys, check.surgery_parameters, 323_546 + 404_234)
    assert not ok and "DROPS" in out
    ok, out = run(capsys, check.surgery_parameters, 323_546 - 1024)  # two slips, one count
    assert not ok and "conv has a bias" in out and "TWO learnt" in out
    ok, out = run(capsys, check.surgery_parameters, 323_546 - 10)
    assert not ok and "Linear has a bias" in out
    ok, out = run(capsys, check.surgery_parameters, 323_546 - 1034)
    assert not ok and "both have biases" in out
    ok, out = run(capsys, check.surgery_parameters, 323_546 - 2048)
    assert not ok and "two learnt parameters" in out
    ok, out = run(capsys, check.surgery_parameters, 323_546 + 2048)
    assert not ok and "buffers" in out
    ok, out = run(capsys, check.surgery_parameters, 323_546 + 2049)
    assert not ok and "buffers" in out
    ok, out = run(capsys, check.surgery_parameters, 323_546 - 8 * 32 * 1024)
    assert not ok and "3 x 3 weights" in out
    ok, out = run(capsys, check.surgery_parameters, 323_546 - 32 * 9 * 1024 + 9 * 1024 * 1024)
    assert not ok and "K = 32 channels, not 1024" in out
    ok, out = run(capsys, check.surgery_parameters, 323_546 - 10 * 1024 + 1024 * 196 * 10)
    assert not ok and "one number per unit" in out
    ok, out = run(capsys, check.surgery_parameters, 34_586)
    assert not ok and "width 64" in out
    ok, out = run(capsys, check.surgery_parameters, 400_000)
    assert not ok and "layer by layer" in out
    ok, out = run(capsys, check.surgery_parameters, "many")
    assert not ok and "one whole number" in out
    ok, out = run(capsys, check.surgery_parameters, 323_546.5)
    assert not ok and "one whole number" in out


def test_surgery_parameters_agree_with_camutils(capsys):
    from camutils.wsol import gap_surgery, make_net

    fc = make_net("fc", seed=0)
    assert sum(p.numel() for p in fc.body.parameters()) == check._BODY_PARAMETERS
    assert sum(p.numel() for p in fc.head.parameters()) == check._FC_HEAD_PARAMETERS
    for width in (64, 1024, 7):
        n = sum(p.numel() for p in gap_surgery(fc, width=width).parameters())
        assert run(capsys, check.surgery_parameters, n, width)[0], width
        buffers = sum(b.numel() for b in gap_surgery(fc, width=width).body[2].buffers())
        ok, out = run(capsys, check.surgery_parameters, n + buffers, width)
        assert not ok and "buffers" in out


def _sweep(acc, thresholds=None):
    t = thresholds if thresholds is not None else [i / 20 for i in range(20)]
    return {"thresholds": t, "accuracy": torch.tensor([acc], dtype=torch.float64)}


# two curves shaped like the notebook's: GMP peaks early, the surgery network late
_GMP = [0, 2, 20, 52, 45, 40, 36, 30, 26, 22, 18, 15, 12, 10, 8, 6, 4, 3, 2, 1]
_SURGERY = [0, 0, 1, 3, 13, 30, 44, 60, 75, 80, 82, 78, 70, 60, 50, 40, 30, 20, 10, 5]


def test_ranking_reversal(capsys):
    gmp, surgery = _sweep(_GMP), _sweep(_SURGERY)
    ok, out = run(capsys, check.ranking_reversal, 0.3, gmp, surgery)
    assert ok and "t = 0.30" in out and "44.0% vs 36.0%" in out
    assert run(capsys, check.ranking_reversal, torch.tensor(0.3), gmp, surgery)[0]
    ok, out = run(capsys, check.ranking_reversal, 0.25, gmp, surgery)
    assert not ok and "still ahead" in out and "higher" in out
    ok, out = run(capsys, check.ranking_reversal, 0.35, gmp, surgery)
    assert not ok and "FIRST" in out
    ok, out = run(capsys, check.ranking_reversal, 0.5, gmp, surgery)
    assert not ok and "peaks" in out
    ok, out = run(capsys, check.ranking_reversal, 0.15, gmp, surgery)
    assert not ok and "GMP's best" in out
    ok, out = run(capsys, check.ranking_reversal, 0.1, gmp, surgery)
    assert not ok and "start from the paper's" in out
    ok, out = run(capsys, check.ranking_reversal, 30, gmp, surgery)
    assert not ok and "percentage" in out
    ok, out = run(capsys, check.ranking_reversal, 0.33, gmp, surgery)
    assert not ok and "0.00, 0.05" in out
    ok, out = run(capsys, check.ranking_reversal, "0.3", gmp, surgery)
    assert not ok and "one threshold" in out
    ok, out = run(capsys, check.ranking_reversal, 0.3, surgery["accuracy"], gmp)
    assert not ok and 'runs[0].sweeps["CAM on GMP"]' in out
    ok, out = run(capsys, check.ranking_reversal, None, gmp, surgery)
    assert not ok and "Not answered" in out
    # the answer is read from the sweeps given: another run, another threshold
    later = _sweep(_GMP[:6] + [50] + _GMP[7:])
    assert not run(capsys, check.ranking_reversal, 0.3, later, surgery)[0]
    assert run(capsys, check.ranking_reversal, 0.35, later, surgery)[0]
    ok, out = run(capsys, check.ranking_reversal, 0.3, gmp, _sweep([0.0] * 20))  # never ahead
    assert not ok and "never" in out
    ok, out = run(capsys, check.ranking_reversal, 0.3, gmp, _sweep(_SURGERY[:10]))
    assert not ok and 'runs[0].sweeps["CAM on GMP"]' in out
    # a run in which the surgery network is already ahead at the paper's threshold
    early = _sweep(_SURGERY[:4] + [60] + _SURGERY[5:])
    ok, out = run(capsys, check.ranking_reversal, 0.2, gmp, early)
    assert ok and "t = 0.20" in out and "t = 0.15 it was not" in out
    ok, out = run(capsys, check.ranking_reversal, 0.3, gmp, early)
    assert not ok and "FIRST" in out


def test_ranking_reversal_reads_the_meters_result(capsys):
    from camutils.metrics import MaxBoxAccMeter

    # one 10 x 10 image, box (2, 2, 5, 5): a map with a broad base and a peak inside the box
    gt, valid = torch.tensor([[[2, 2, 5, 5]]]), torch.ones(1, 1, dtype=torch.bool)
    broad = torch.full((1, 10, 10), 0.3)
    broad[0, 2:6, 2:6] = 1.0
    peak = torch.zeros(1, 10, 10)
    peak[0, 0:8, 0:8] = 0.2
    peak[0, 3, 3] = 1.0
    t = torch.arange(20, dtype=torch.float64) / 20
    results = []
    for m in (peak, broad):
        meter = MaxBoxAccMeter(thresholds=t, iou_thresholds=(0.3, 0.5), box_rule="paper")
        meter.update(m, gt, valid)
        results.append(meter.compute())
    acc_peak = results[0]["accuracy"][1].tolist()  # the IoU 0.5 row
    acc_broad = results[1]["accuracy"][1].tolist()
    first = next(i for i, v in enumerate(t.tolist()) if v >= 0.2 and acc_broad[i] > acc_peak[i])
    assert run(capsys, check.ranking_reversal, float(t[first]), results[0], results[1])[0]


# --------------------------------------------------------------------------- notebook 06
def _right_verdicts(ln):
    c, classes, iou = ln["label"], ln["classes"], ln["gt_known_iou"]
    return classes[0] == c and iou >= 0.5, c in classes and iou >= 0.5, iou >= 0.5


def _lines():  # shaped like result.lines(): the stored verdicts beside the three fields
    out = []
    for label, classes, iou in [(281, [285, 282, 281, 287, 728], 0.98), (872, [872, 1, 2, 3, 4], 0.35),
                                (967, [967, 5, 6, 7, 8], 0.71), (892, [971, 818, 633, 673, 9], 0.6)]:  # fmt: skip
        t1, t5, gk = _right_verdicts({"label": label, "classes": classes, "gt_known_iou": iou})
        out.append({"stem": f"s{label}", "status": "ok", "label": label, "classes": classes,
                    "gt_known_iou": iou, "top1_loc": t1, "top5_loc": t5, "gt_known": gk})  # fmt: skip
    return out + [{"stem": "broken", "status": "unreadable image"}]


def test_loc_verdicts(capsys):
    lines = _lines()
    ok, out = run(capsys, check.loc_verdicts, _right_verdicts, lines)
    assert ok and "all 12 cases" in out
    assert run(capsys, check.loc_verdicts, _right_verdicts)[0]  # the hand-made cases alone
    as_list = lambda ln: [int(v) for v in _right_verdicts(ln)]  # noqa: E731 - 0/1 is fine
    assert run(capsys, check.loc_verdicts, as_list, lines)[0]

    def variant(top1=None, top5=None, gt=None, strict=False):
        def fn(ln):
            c, cs, iou = ln["label"], ln["classes"], ln["gt_known_iou"]
            good = iou > 0.5 if strict else iou >= 0.5
            return (
                top1(c, cs, good) if top1 else cs[0] == c and good,
                top5(c, cs, good) if top5 else c in cs and good,
                gt(c, cs, good) if gt else good,
            )

        return fn

    wrong = [
        (variant(top1=lambda c, cs, good: cs[0] == c), "bad box"),
        (variant(top1=lambda c, cs, good: c in cs and good), "FIRST guess only"),
        (variant(top5=lambda c, cs, good: good), "among the five"),
        (variant(top5=lambda c, cs, good: c in cs), "also needs IoU >= 0.5"),
        (variant(top5=lambda c, cs, good: c in cs[:4] and good), "the last one included"),
        (variant(gt=lambda c, cs, good: c in cs and good), "whatever the classifier ranked"),
        (variant(strict=True), "not > 0.5"),
    ]
    for fn, hint in wrong:
        ok, out = run(capsys, check.loc_verdicts, fn, lines)
        assert not ok and hint in out, (hint, out)
    ok, out = run(capsys, check.loc_verdicts, lambda ln: (ln["top1_loc"], 0, 0), lines)
    assert not ok and "field 'top1_loc'" in out
    for skeleton in (lambda ln: None, lambda ln: (None, None, None)):
        ok, out = run(capsys, check.loc_verdicts, skeleton)
        assert not ok and out.startswith("Not answered")
    ok, out = run(capsys, check.loc_verdicts, lambda ln: "yes")
    assert not ok and "three True/False" in out
    ok, out = run(capsys, check.loc_verdicts, lambda ln: (True, 2, False))
    assert not ok and "three True/False" in out
    ok, out = run(capsys, check.loc_verdicts, lambda ln: 1 / 0)
    assert not ok and "ZeroDivisionError" in out
    ok, out = run(capsys, check.loc_verdicts, (False, True, True))
    assert not ok and "function itself" in out
    # the stored verdicts of the lines are checked too: a function right on the hand-made cases
    # only cannot pass lines whose verdicts say otherwise
    flipped = [
        dict(ln, top1_loc=not ln["top1_loc"]) if ln["status"] == "ok" else ln for ln in lines
    ]
    assert not run(capsys, check.loc_verdicts, _right_verdicts, flipped)[0]


def test_loc_verdicts_cases_agree_with_the_meter():
    from camutils.metrics import LocalizationMeter

    cases = check._VERDICT_CASES
    classes = torch.tensor([cs for (_, cs, _), _ in cases])
    true = torch.tensor([lb for (lb, _, _), _ in cases])
    ious = torch.tensor([iou for (_, _, iou), _ in cases])
    gt = torch.tensor([[[0, 0, 99, 99]]]).expand(len(cases), 1, 4)
    # a box inside (0, 0, 99, 99) with this IoU: width 100, height 100 * iou
    true_box = torch.stack([torch.zeros_like(ious), torch.zeros_like(ious),
                            torch.full_like(ious, 99), (100 * ious).round() - 1], -1).long()  # fmt: skip
    away = torch.tensor([200, 200, 299, 299])  # IoU 0: the box of a wrong class does not matter
    boxes = torch.where((classes == true[:, None])[..., None], true_box[:, None], away)
    r = LocalizationMeter().update(
        classes, boxes, true, gt, torch.ones(len(cases), 1, dtype=torch.bool), true_box
    )
    got = list(
        zip(r["top1_loc"].tolist(), r["top5_loc"].tolist(), r["gt_known"].tolist(), strict=True)
    )
    assert got == [want for _, want in cases]


def test_box_to_original(capsys):
    ok, out = run(capsys, check.box_to_original, (89, 100, 410, 287))
    assert ok and "2.232" in out and "1.674" in out
    assert run(capsys, check.box_to_original, torch.tensor([89, 100, 410, 287]))[0]
    ok, out = run(capsys, check.box_to_original, (89, 100, 408, 286))  # round(v * W / 224)
    assert ok and "within a pixel or two" in out and "(89, 100, 410, 287)" in out
    wrong = [
        ((67, 134, 306, 382), "swapped"),  # x by 375 / 224, y by 500 / 224
        ((89, 134, 408, 382), "one factor for both axes"),  # both by 500 / 224
        ((67, 100, 306, 286), "one factor for both axes"),  # both by 375 / 224
        ((40, 60, 183, 171), "box on the 224 x 224 input"),
        ((18, 36, 82, 102), "multiply by W / 224"),  # divided
        ((100, 89, 287, 410), "wrong order"),
        ((144, 111, 354, 274), "mode='crop'"),
        ((89, 100, 500, 375), "xmax <= 499"),
        ((0, 0, 10, 10), "each x coordinate times W / 224"),
        ("89, 100, 410, 287", "four numbers"),
        ((89, 100, 410), "four numbers"),
    ]
    for answer, hint in wrong:
        ok, out = run(capsys, check.box_to_original, answer)
        assert not ok and hint in out, (answer, out)
        assert "(89, 100, 410, 287)" not in out  # a hint never gives the answer away


def test_box_to_original_answer_agrees_with_a_resized_mask():
    import torch.nn.functional as F

    x0, y0, x1, y1 = check._MAP_BOX
    mask = torch.zeros(1, 1, 224, 224)
    mask[..., y0 : y1 + 1, x0 : x1 + 1] = 1
    big = F.interpolate(mask, size=check._MAP_SIZE, mode="nearest-exact")[0, 0]
    ys, xs = big.nonzero(as_tuple=True)
    box = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
    assert box == (89, 100, 410, 287)


def test_blacklist_errors(capsys):
    ok, out = run(capsys, check.blacklist_errors, 58.0, 100 * (1 - 20_400 / 48_238))
    assert ok and "57.71 %" in out and "65.9 %" in out
    assert run(capsys, check.blacklist_errors, 58, 57.71)[0]
    wrong = [
        ((0.58, 0.5771), "percentages"),
        ((42.0, 42.29), "every image: that is the accuracy"),
        ((58.0, 59.2), "leave the denominator too"),  # 20,400 / 50,000
        ((58.0, 100 * (1 - 21_000 / 48_238)), "were correct leave the count"),
        ((58.0, 100 * 27_838 / 50_000), "not by 50,000"),
        ((58.0, 58.0), "both counts change"),
        ((58.0, 50.0), "images that remain"),
        ((60.0, 57.71), "NOT correct"),
        (("58", [1, 2]), "two numbers"),
    ]
    for answer, hint in wrong:
        ok, out = run(capsys, check.blacklist_errors, *answer)
        assert not ok and hint in out, (answer, out)
        assert "57.71" not in out


def test_blacklist_errors_answer_agrees_with_the_meter():
    from camutils.metrics import LocalizationMeter

    n, n_bl, correct, correct_bl = 50_000, 1_762, 21_000, 600
    true = torch.zeros(n, dtype=torch.long)
    guess = torch.ones(n, 1, dtype=torch.long)
    guess[:correct] = 0  # the first 21,000 are correct (true class, the ground-truth box)
    blacklisted = torch.zeros(n, dtype=torch.bool)
    blacklisted[:correct_bl] = True
    blacklisted[correct : correct + n_bl - correct_bl] = True
    gt = torch.tensor([[[0, 0, 99, 99]]]).expand(n, 1, 4)
    boxes, valid = gt.clone(), torch.ones(n, 1, dtype=torch.bool)
    every, clean = LocalizationMeter(topk=(1,)), LocalizationMeter(topk=(1,))
    every.update(guess, boxes, true, gt, valid)
    clean.update(guess, boxes, true, gt, valid, blacklisted=blacklisted)
    full_error, clean_error = every.compute()["top1_loc_error"], clean.compute()["top1_loc_error"]
    assert abs(full_error - 58.0) < 1e-6 and abs(clean_error - 100 * (1 - 20_400 / 48_238)) < 1e-6
    assert check.blacklist_errors(full_error, clean_error)
