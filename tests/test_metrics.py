"""Localization metrics: hand-worked IoU and error cases, a slow per-image reference of the
devkit's rules, MaxBoxAcc against wsolevaluation's own test cases and a per-image OpenCV loop
written after its code, the paper's rule swept against a SciPy loop."""

import math
import warnings

import cv2
import numpy as np
import pytest
import torch
from scipy import ndimage

from camutils.boxes import contour_boxes, largest_component_boxes, wsol_thresholds
from camutils.cam import normalize_cams
from camutils.metrics import (
    LocalizationMeter,
    MaxBoxAccMeter,
    best_iou,
    box_iou,
    localization_errors,
    max_box_acc,
)

T = torch.tensor


# --------------------------------------------------------------------------- IoU
def test_box_iou_hand_cases():
    a = T([0, 0, 9, 9])  # 10 x 10 = 100 pixels (inclusive)
    assert box_iou(a, a).item() == 1.0
    assert box_iou(a, T([10, 0, 19, 9])).item() == 0.0  # side by side, no shared pixel
    # touching: share the column x = 9 -> 10 pixels; union 190
    assert box_iou(a, T([9, 0, 18, 9])).item() == pytest.approx(10 / 190)
    assert box_iou(a, T([5, 0, 14, 9])).item() == pytest.approx(50 / 150)
    assert box_iou(a, T([0, 0, 4, 9])).item() == pytest.approx(0.5)  # inside, half the area
    assert box_iou(T([3, 3, 3, 3]), T([3, 3, 3, 3])).item() == 1.0  # one pixel, not area 0
    assert box_iou(T([0, 0, 0, 0]), T([1, 1, 1, 1])).item() == 0.0  # diagonal neighbours
    # a box on the image border, the whole 500 x 375 image as ground truth
    assert box_iou(T([0, 0, 249, 374]), T([0, 0, 499, 374])).item() == pytest.approx(0.5)
    # degenerate boxes (xmax < xmin) have area 0: IoU 0, never NaN
    assert box_iou(T([5, 5, 4, 4]), T([5, 5, 4, 4])).item() == 0.0


def test_box_iou_broadcasts_and_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    lo = torch.randint(0, 50, (7, 1, 2), generator=g)
    a = torch.cat([lo, lo + torch.randint(0, 30, (7, 1, 2), generator=g)], -1)
    lo = torch.randint(0, 50, (1, 5, 2), generator=g)
    b = torch.cat([lo, lo + torch.randint(0, 30, (1, 5, 2), generator=g)], -1)
    got = box_iou(a, b)
    assert got.shape == (7, 5) and got.dtype == torch.float32
    for i in range(7):
        for j in range(5):
            pa = {
                (x, y)
                for x in range(a[i, 0, 0], a[i, 0, 2] + 1)
                for y in range(a[i, 0, 1], a[i, 0, 3] + 1)
            }
            pb = {
                (x, y)
                for x in range(b[0, j, 0], b[0, j, 2] + 1)
                for y in range(b[0, j, 1], b[0, j, 3] + 1)
            }
            assert got[i, j].item() == pytest.approx(len(pa & pb) / len(pa | pb))


def test_best_iou_any_of_several_gt_boxes():
    pred = T([[[0, 0, 9, 9], [100, 100, 120, 120]], [[0, 0, 9, 9], [0, 0, 1, 1]]])
    gt = T(
        [[[0, 0, 4, 9], [50, 50, 60, 60], [0, 0, 9, 9]], [[0, 0, 9, 9], [0, 0, 0, 0], [0, 0, 0, 0]]]
    )
    valid = T([[True, True, True], [True, False, False]])
    got = best_iou(pred, gt, valid)
    assert got.flatten().tolist() == pytest.approx([1.0, 0.0, 1.0, 0.04])
    # padding rows never count: hide the exact match
    valid2 = T([[True, True, False], [False, False, False]])
    assert best_iou(pred, gt, valid2).flatten().tolist() == pytest.approx([0.5, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="gt_valid"):
        best_iou(pred, gt, valid.int())


# --------------------------------------------------------------------------- top-k errors
def _slow_devkit(classes, boxes, gt_class, gt_boxes, gt_valid, k):
    """Per image, per guess, per GT box: the devkit's loops in plain Python."""
    loc_err = cls_err = 0
    for i in range(len(gt_class)):
        loc_ok = cls_ok = False
        for j in range(min(k, classes.shape[1])):
            if int(classes[i, j]) != int(gt_class[i]):
                continue
            cls_ok = True
            for g in range(gt_boxes.shape[1]):
                if gt_valid[i, g] and box_iou(boxes[i, j], gt_boxes[i, g]).item() >= 0.5:
                    loc_ok = True
        loc_err += not loc_ok
        cls_err += not cls_ok
    n = len(gt_class)
    return 100 * loc_err / n, 100 * cls_err / n


def _hand_batch():
    # image 0: class 3, two GT boxes; the right class comes 2nd with a box on the 2nd GT box
    # image 1: class 1, GT box on the image border; right class 1st, box IoU exactly 0.5
    # image 2: class 0; right class 1st but its box misses (IoU 0.25); right again as guess 5
    # image 3: class 7; never guessed
    classes = T([[5, 3, 2, 1, 0], [1, 2, 3, 4, 5], [0, 9, 8, 6, 0], [1, 2, 3, 4, 5]])
    boxes = T(
        [
            [[0, 0, 9, 9], [20, 20, 29, 29], [0, 0, 9, 9], [0, 0, 9, 9], [0, 0, 9, 9]],
            [[0, 0, 49, 99], [0, 0, 9, 9], [0, 0, 9, 9], [0, 0, 9, 9], [0, 0, 9, 9]],
            [[0, 0, 9, 9], [0, 0, 9, 9], [0, 0, 9, 9], [0, 0, 9, 9], [0, 0, 19, 19]],
            [[0, 0, 9, 9]] * 5,
        ]
    )
    gt_class = T([3, 1, 0, 7])
    gt_boxes = T(
        [
            [[0, 0, 9, 9], [20, 20, 29, 29]],
            [[0, 0, 99, 99], [0, 0, 0, 0]],
            [[0, 0, 19, 19], [0, 0, 0, 0]],
            [[0, 0, 9, 9], [0, 0, 0, 0]],
        ]
    )
    gt_valid = T([[True, True], [True, False], [True, False], [True, False]])
    return classes, boxes, gt_class, gt_boxes, gt_valid


def test_localization_meter_hand_worked():
    classes, boxes, gt_class, gt_boxes, gt_valid = _hand_batch()
    known = T([[20, 20, 29, 29], [0, 0, 9, 9], [0, 0, 19, 19], [0, 0, 9, 9]])
    meter = LocalizationMeter()
    per = meter.update(classes, boxes, gt_class, gt_boxes, gt_valid, known)
    r = meter.compute()
    # top-1 loc: only image 1 (IoU 0.5 counts) -> 3 wrong of 4; top-5: images 0, 1, 2 -> 1 wrong
    assert r["top1_loc_error"] == 75.0 and r["top5_loc_error"] == 25.0
    # top-1 cls: images 1, 2 right; top-5 cls: images 0, 1, 2 right
    assert r["top1_cls_error"] == 50.0 and r["top5_cls_error"] == 25.0
    # GT-known: boxes of images 0, 2, 3 match; image 1's 10x10 box is far too small
    assert r["gt_known_loc_acc"] == 75.0
    assert r["images"] == 4 and r["guesses"] == 5
    assert per["top1_loc"].tolist() == [False, True, False, False]
    assert per["iou"][2].tolist() == pytest.approx([0.25, 0.25, 0.25, 0.25, 1.0])
    for k in (1, 5):
        slow = _slow_devkit(classes, boxes, gt_class, gt_boxes, gt_valid, k)
        assert (r[f"top{k}_loc_error"], r[f"top{k}_cls_error"]) == pytest.approx(slow)


def test_localization_meter_accumulates_like_one_batch():
    g = torch.Generator().manual_seed(1)
    b, k, gmax = 40, 5, 3
    classes = torch.randint(0, 4, (b, k), generator=g)
    lo = torch.randint(0, 40, (b, k, 2), generator=g)
    boxes = torch.cat([lo, lo + torch.randint(5, 40, (b, k, 2), generator=g)], -1)
    lo = torch.randint(0, 40, (b, gmax, 2), generator=g)
    gt_boxes = torch.cat([lo, lo + torch.randint(5, 40, (b, gmax, 2), generator=g)], -1)
    gt_valid = torch.rand(b, gmax, generator=g) < 0.7
    gt_valid[:, 0] = True
    gt_class = torch.randint(0, 4, (b,), generator=g)
    whole = localization_errors(classes, boxes, gt_class, gt_boxes, gt_valid, boxes[:, 0])
    meter = LocalizationMeter()
    for s in (slice(0, 7), slice(7, 30), slice(30, 40)):
        meter.update(classes[s], boxes[s], gt_class[s], gt_boxes[s], gt_valid[s], boxes[s, 0])
    assert meter.compute() == whole
    for kk in (1, 5):
        slow = _slow_devkit(classes, boxes, gt_class, gt_boxes, gt_valid, kk)
        assert (whole[f"top{kk}_loc_error"], whole[f"top{kk}_cls_error"]) == pytest.approx(slow)


def test_fewer_guesses_and_missing_guesses():
    classes, boxes, gt_class, gt_boxes, gt_valid = _hand_batch()
    meter = LocalizationMeter()
    with pytest.warns(UserWarning, match="top-5"):
        meter.update(classes[:, :2], boxes[:, :2], gt_class, gt_boxes, gt_valid)
    r = meter.compute()
    assert r["guesses"] == 2
    # top-5 from 2 guesses: image 0 (2nd guess) is found, image 2's 5th guess is not there
    assert r["top5_loc_error"] == 50.0 and r["top1_loc_error"] == 75.0
    # -1 marks a missing guess: never correct, even against class -1 padding elsewhere
    padded = classes.clone()
    padded[:, 2:] = -1
    r2 = localization_errors(padded, boxes, gt_class, gt_boxes, gt_valid)
    assert r2["top5_loc_error"] == 50.0 and r2["top5_cls_error"] == 25.0


def test_blacklisted_images_count_for_classification_only():
    classes, boxes, gt_class, gt_boxes, gt_valid = _hand_batch()
    meter = LocalizationMeter()
    meter.update(
        classes, boxes, gt_class, gt_boxes, gt_valid, blacklisted=T([False, False, False, True])
    )
    r = meter.compute()
    assert r["loc_images"] == 3 and r["images"] == 4
    assert r["top5_loc_error"] == 0.0  # the never-guessed image 3 is left out
    assert r["top1_loc_error"] == pytest.approx(200 / 3)
    assert r["top5_cls_error"] == 25.0  # still counted for classification
    assert "gt_known_loc_acc" not in r


def test_meter_refuses_bad_shapes_and_empty_compute():
    classes, boxes, gt_class, gt_boxes, gt_valid = _hand_batch()
    meter = LocalizationMeter()
    with pytest.raises(RuntimeError, match="before any update"):
        meter.compute()
    with pytest.raises(ValueError, match="pred_boxes"):
        meter.update(classes, boxes[:, :3], gt_class, gt_boxes, gt_valid)
    with pytest.raises(ValueError, match="gt_class"):
        meter.update(classes, boxes, gt_class[:2], gt_boxes, gt_valid)


def test_empty_masks_and_constant_maps_give_finite_errors():
    """Constant and all-negative maps: the whole-map box, finite IoU, no NaN anywhere."""
    cams = torch.zeros(3, 1, 20, 30)
    cams[1] = 4.0  # constant
    cams[2] = -1.0  # nothing positive
    cams = torch.cat([normalize_cams(cams[:2]), cams[2:]])
    assert not torch.isnan(cams).any()
    boxes = largest_component_boxes(cams)[:, 0]
    assert boxes.tolist() == [[0, 0, 29, 19]] * 3
    gt_boxes = T([[[0, 0, 29, 19]], [[0, 0, 14, 19]], [[0, 0, 4, 4]]])
    valid = torch.ones(3, 1, dtype=torch.bool)
    r = localization_errors(
        T([[0], [0], [1]]), boxes[:, None], T([0, 0, 0]), gt_boxes, valid, boxes, topk=(1,)
    )
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in r.values())
    assert r["top1_loc_error"] == pytest.approx(100 / 3)  # whole map fits image 0, 50% image 1
    assert r["gt_known_loc_acc"] == pytest.approx(200 / 3)


# --------------------------------------------------------------------------- MaxBoxAcc
def _slow_box_acc(cams, gt_boxes, thresholds, deltas, multi):
    """SciPy loop: per image, per threshold."""
    counts = np.zeros((len(deltas), len(thresholds)))
    for cam, gts in zip(cams, gt_boxes, strict=True):
        h, w = cam.shape
        for ti, t in enumerate(thresholds):
            mask = (cam >= t * cam.max()) & (cam.max() > 0)
            lab, n = ndimage.label(mask, structure=np.ones((3, 3)))
            objs = ndimage.find_objects(lab)
            if n == 0:
                cands = [[0, 0, w - 1, h - 1]]
            else:
                areas = np.bincount(lab.ravel())[1:]
                order = range(n) if multi else [int(np.argmax(areas))]
                cands = [
                    [objs[k][1].start, objs[k][0].start, objs[k][1].stop - 1, objs[k][0].stop - 1]
                    for k in order
                ]
            best = max(box_iou(T(c), T(g)).item() for c in cands for g in gts)
            for di, d in enumerate(deltas):
                counts[di, ti] += best >= d
    return 100 * counts / len(cams)


@pytest.mark.parametrize("v2", [False, True])
def test_max_box_acc_equals_slow_loop(v2):
    rng = np.random.default_rng(0)
    n, h, w = 12, 32, 40
    small = torch.from_numpy(rng.random((n, 1, 5, 6)))
    cams = torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear")[:, 0]
    cams = normalize_cams(cams)
    cams[0] = 0.0  # an empty map
    lo = torch.from_numpy(rng.integers(0, 20, (n, 2, 2)))
    gt = torch.cat([lo, lo + torch.from_numpy(rng.integers(4, 12, (n, 2, 2)))], -1)
    valid = torch.ones(n, 2, dtype=torch.bool)
    thresholds = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9]
    meter = MaxBoxAccMeter(
        thresholds, (0.3, 0.5, 0.7) if v2 else (0.5,), multi_contour=v2, box_rule="paper"
    )
    meter.update(cams[:5], gt[:5], valid[:5])
    meter.update(cams[5:, None], gt[5:], valid[5:])
    r = meter.compute()
    deltas = (0.3, 0.5, 0.7) if v2 else (0.5,)
    ref = _slow_box_acc(cams.numpy(), gt.tolist(), thresholds, deltas, v2)
    np.testing.assert_allclose(r["accuracy"].numpy(), ref)
    assert r["best"] == pytest.approx(ref.max(axis=1).tolist())
    assert r["max_box_acc_v2"] == pytest.approx(ref.max(axis=1).mean())
    assert r["images"] == n
    one = max_box_acc(cams, gt, valid, thresholds, v2=v2, box_rule="paper")
    assert one["best"] == r["best"]


def test_max_box_acc_hand_case_and_chunking():
    cam = torch.zeros(2, 20, 20)
    cam[:, 5:15, 5:15] = 1.0
    cam[:, :, 0:5] = 0.5  # joins the square at thresholds <= 0.5
    gt = T([[[5, 5, 14, 14]], [[0, 0, 14, 19]]])
    valid = torch.ones(2, 1, dtype=torch.bool)
    r = max_box_acc(cam, gt, valid, thresholds=[0.3, 0.5, 0.6, 0.9])
    # image 0 is right above 0.5, image 1 (the joined shape is its box) at and below 0.5
    assert r["accuracy"].tolist() == [[50.0, 50.0, 50.0, 50.0]]
    assert r["best_threshold"] == [0.3]  # first best threshold
    paper = max_box_acc(cam, gt, valid, thresholds=[0.3, 0.5, 0.6, 0.9], box_rule="paper")
    assert paper["accuracy"].tolist() == [[50.0, 50.0, 50.0, 50.0]]
    chunked = MaxBoxAccMeter(
        [0.3, 0.5, 0.6, 0.9], box_rule="paper", chunk_pixels=400, mask_pixels=800
    )
    chunked.update(cam, gt, valid)
    assert torch.equal(chunked.compute()["accuracy"], paper["accuracy"])
    with pytest.raises(ValueError, match="one map"):
        max_box_acc(cam[:, None].expand(2, 3, 20, 20), gt, valid)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert MaxBoxAccMeter().thresholds.numel() == 100


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_metrics_on_gpu_equal_cpu():
    classes, boxes, gt_class, gt_boxes, gt_valid = _hand_batch()
    cpu = localization_errors(classes, boxes, gt_class, gt_boxes, gt_valid, boxes[:, 0])
    args = [t.cuda() for t in (classes, boxes, gt_class, gt_boxes, gt_valid, boxes[:, 0])]
    assert localization_errors(*args) == cpu
    rng = np.random.default_rng(1)
    small = torch.from_numpy(rng.random((16, 1, 7, 7))).float()
    cams = normalize_cams(torch.nn.functional.interpolate(small, size=(224, 224), mode="bilinear"))
    gt = torch.tensor([[[40, 40, 180, 180]]]).expand(16, 1, 4)
    valid = torch.ones(16, 1, dtype=torch.bool)
    for rule in ("wsol", "paper"):
        ref = max_box_acc(cams, gt, valid, v2=True, box_rule=rule)
        got = max_box_acc(cams.cuda(), gt.cuda(), valid.cuda(), v2=True, box_rule=rule)
        assert torch.equal(got["accuracy"], ref["accuracy"])


# --------------------------------------------------------------------------- wsolevaluation
# Their test cases (evaluation_test.py, compute_bboxes_from_scoremaps): the first box at each of
# the thresholds np.arange(0, 1, 0.2); arrays are [y][x].
_WSOL_CASES = {
    "degenerate": (np.zeros((3, 3)), [[0, 0, 0, 0]] * 5),
    "unimodal": (
        [
            [0.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.4, 0.4, 0.4, 0.6],
            [0.0, 0.4, 1.0, 0.8, 0.6],
            [0.0, 0.4, 0.4, 0.4, 0.6],
        ],
        [[1, 1, 4, 3], [1, 1, 4, 3], [2, 1, 4, 3], [2, 2, 4, 3], [2, 2, 3, 3]],
    ),
    "multimodal": (
        [
            [0.4, 0.0, 0.2, 0.2, 0.2],
            [0.4, 0.4, 0.0, 0.4, 0.0],
            [0.0, 0.0, 0.0, 0.4, 0.0],
            [1.0, 0.6, 0.8, 0.2, 0.2],
        ],
        [[0, 0, 4, 3], [0, 0, 2, 2], [0, 3, 3, 3], [2, 3, 3, 3], [0, 3, 1, 3]],
    ),
}


@pytest.mark.parametrize("case", sorted(_WSOL_CASES))
def test_contour_boxes_reproduce_wsolevaluation_test_cases(case):
    scoremap, expected = _WSOL_CASES[case]
    thresholds = np.arange(0, 1, 0.2)
    boxes, index = contour_boxes(T(scoremap, dtype=torch.float64)[None], thresholds)
    assert index.tolist() == [0, 1, 2, 3, 4]  # one box per threshold
    assert boxes.tolist() == expected
    multi, multi_index = contour_boxes(T(scoremap, dtype=torch.float64)[None], thresholds, True)
    first = [multi[multi_index == i][0].tolist() for i in range(5)]
    assert len(multi) >= 5 and sorted(set(multi_index.tolist())) == [0, 1, 2, 3, 4]
    if case != "multimodal":  # one contour per threshold: V1 and V2 agree
        assert first == expected


def test_contour_boxes_refuse_what_wsolevaluation_refuses():
    with pytest.raises(ValueError, match="NaN"):
        contour_boxes(torch.full((1, 3, 3), float("nan")), [0.0, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        contour_boxes(torch.full((1, 3, 3), 2.0), [0.0])
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        contour_boxes(torch.zeros(3, 3), [0.0])
    with pytest.raises(ValueError, match="thresholds"):
        contour_boxes(torch.zeros(1, 3, 3), [1.5])
    with pytest.raises(ValueError, match="box_rule"):
        MaxBoxAccMeter(box_rule="scipy")
    with pytest.raises(ValueError, match="connectivity"):
        MaxBoxAccMeter(connectivity=4)


def test_wsol_thresholds_are_numpys_floats():
    for interval in (0.01, 0.001, 0.05):
        t = wsol_thresholds(interval)
        assert t.tolist() == np.arange(0, 1, interval).tolist()  # bit for bit
    assert MaxBoxAccMeter().thresholds.tolist() == np.arange(0, 1, 0.01).tolist()
    with pytest.raises(ValueError, match="interval"):
        wsol_thresholds(0)


def _wsol_reference(scoremaps, gt_boxes, thresholds, iou_thresholds, multi_contour):
    """wsolevaluation's BoxEvaluator (accumulate + compute), rewritten after evaluation.py:
    per image and threshold, cv2.threshold, cv2.findContours (RETR_TREE), the largest contour
    by cv2.contourArea or all of them, boundingRect boxes to x + w, (0, 0, 0, 0) without a
    contour; IoU with the +1, best over boxes and ground truth."""
    num_correct = np.zeros((len(iou_thresholds), len(thresholds)))
    for scoremap, gts in zip(scoremaps, gt_boxes, strict=True):
        height, width = scoremap.shape
        image = np.expand_dims((scoremap * 255).astype(np.uint8), 2)
        best = []
        for threshold in thresholds:
            _, thr = cv2.threshold(image, int(threshold * np.max(image)), 255, cv2.THRESH_BINARY)
            contours = cv2.findContours(thr, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
            if len(contours) == 0:
                boxes = [[0, 0, 0, 0]]
            else:
                if not multi_contour:
                    contours = [max(contours, key=cv2.contourArea)]
                boxes = []
                for c in contours:
                    x, y, w, h = cv2.boundingRect(c)
                    boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
            a, g = np.array(boxes)[:, None], np.array(gts)[None]
            iw = np.maximum(
                0, np.minimum(a[..., 2], g[..., 2]) - np.maximum(a[..., 0], g[..., 0]) + 1
            )
            ih = np.maximum(
                0, np.minimum(a[..., 3], g[..., 3]) - np.maximum(a[..., 1], g[..., 1]) + 1
            )
            inter = iw * ih
            area = lambda b: (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)  # noqa: E731
            best.append((inter / (area(a) + area(g) - inter)).max())
        for i, delta in enumerate(iou_thresholds):
            num_correct[i] += np.asarray(best) >= delta
    return 100.0 * num_correct / len(scoremaps)


def _random_scoremaps(n, h, w, seed):
    rng = np.random.default_rng(seed)
    small = torch.from_numpy(rng.random((n, 1, 6, 7)) ** 3)
    maps = torch.nn.functional.interpolate(small, size=(h, w), mode="bicubic")[:, 0]
    maps = normalize_cams(maps.clamp_min(0))
    lo = torch.from_numpy(rng.integers(0, min(h, w) // 2, (n, 2, 2)))
    gt = torch.cat([lo, lo + torch.from_numpy(rng.integers(3, min(h, w) // 2, (n, 2, 2)))], -1)
    return maps, gt


@pytest.mark.parametrize("v2", [False, True])
def test_max_box_acc_equals_wsolevaluation(v2):
    maps, gt = _random_scoremaps(24, 48, 56, seed=3)
    maps[0] = 0.0  # a constant map after min-max normalisation: no contour
    maps[1, 10:20, 10:30] = 1.0  # a plateau (ties in contour area)
    maps[2] = (maps[2] > 0.5).double() * 0.5  # a two-level map, values on the 8-bit grid edge
    valid = torch.ones(len(gt), 2, dtype=torch.bool)
    deltas = (0.3, 0.5, 0.7) if v2 else (0.5,)
    thresholds = np.arange(0, 1, 0.01)
    meter = MaxBoxAccMeter(iou_thresholds=deltas, multi_contour=v2)
    meter.update(maps[:10], gt[:10], valid[:10])
    meter.update(maps[10:].float(), gt[10:], valid[10:])  # float32 maps go through the same rule
    r = meter.compute()
    ref_lo = _wsol_reference(maps[:10].numpy(), gt[:10].tolist(), thresholds, deltas, v2)
    ref_hi = _wsol_reference(
        maps[10:].float().double().numpy(), gt[10:].tolist(), thresholds, deltas, v2
    )
    ref = (10 * ref_lo + 14 * ref_hi) / 24
    np.testing.assert_allclose(r["accuracy"].numpy(), ref, rtol=0, atol=1e-9)
    assert r["best"] == pytest.approx(ref.max(axis=1).tolist(), abs=1e-9)
    assert r["max_box_acc_v2"] == pytest.approx(ref.max(axis=1).mean(), abs=1e-9)


def test_empty_mask_is_a_miss_by_wsolevaluation_and_the_whole_image_by_the_paper():
    # a constant map (all zeros after min-max normalisation) against a ground truth that covers
    # most of the image: wsolevaluation gives no box, a miss; the paper's rule the whole image
    cam = torch.zeros(1, 40, 50)
    gt = T([[[2, 2, 47, 37]]])
    valid = torch.ones(1, 1, dtype=torch.bool)
    wsol = max_box_acc(cam, gt, valid)
    paper = max_box_acc(cam, gt, valid, box_rule="paper")
    assert wsol["max_box_acc"] == 0.0
    assert paper["max_box_acc"] == 100.0
    assert contour_boxes(cam, [0.0, 0.5])[0].tolist() == [[0, 0, 0, 0], [0, 0, 0, 0]]
    # 50 random maps, one of them constant: the constant one adds nothing by their rule
    maps, gts = _random_scoremaps(50, 40, 50, seed=5)
    gts[0] = gt[0, 0]
    maps[0] = 0.0
    valid = torch.ones(50, 2, dtype=torch.bool)
    with_constant = MaxBoxAccMeter()
    with_constant.update(maps, gts, valid)
    without = MaxBoxAccMeter()
    without.update(maps[1:], gts[1:], valid[1:])
    counts = with_constant.compute()["accuracy"] * 50
    np.testing.assert_allclose(counts.numpy(), (without.compute()["accuracy"] * 49).numpy())


def test_wsol_rule_refuses_unnormalised_maps():
    cam = torch.zeros(1, 1, 8, 8)
    cam[0, 0, 2:5, 2:5] = 7.0
    gt = T([[[2, 2, 4, 4]]])
    valid = torch.ones(1, 1, dtype=torch.bool)
    with pytest.raises(ValueError, match="min-max"):
        max_box_acc(cam, gt, valid)
    assert max_box_acc(normalize_cams(cam), gt, valid)["max_box_acc"] == 100.0
