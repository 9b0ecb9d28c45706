"""Boxes from maps: components against scipy.ndimage.label, the paper's rule against a SciPy
reference, the release's heuristics against an OpenCV re-run of its steps, box geometry
against nearest-exact resampling of box masks."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage
from torchvision.transforms.v2 import functional as TF

from camutils.boxes import (
    all_component_boxes,
    box_backend,
    boxes_to_input,
    boxes_to_original,
    connected_components,
    heuristic_box_candidates,
    heuristic_boxes,
    largest_component_boxes,
    largest_component_boxes_from_masks,
    table3_guesses,
    threshold_masks,
)
from camutils.models import Preprocess
from camutils.preprocess import resize_geometry

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
STRUCT = {4: ndimage.generate_binary_structure(2, 1), 8: ndimage.generate_binary_structure(2, 2)}


# --------------------------------------------------------------------------- random masks
def _spiral(h: int, w: int) -> np.ndarray:
    """A one-pixel-wide path winding inwards: the worst case for label propagation."""
    m = np.zeros((h, w), dtype=bool)
    y0, x0, y1, x1 = 0, 0, h - 1, w - 1
    while y0 <= y1 and x0 <= x1:
        m[y0, x0 : x1 + 1] = True
        m[y0 : y1 + 1, x1] = True
        m[y1, x0 : x1 + 1] = True
        m[y0 + 2 : y1 + 1, x0] = True
        if y0 + 2 <= y1:
            m[y0 + 2, x0 : min(x0 + 3, x1 + 1)] = True
        y0, x0, y1, x1 = y0 + 2, x0 + 2, y1 - 2, x1 - 2
    return m


def _snake(h: int, w: int) -> np.ndarray:
    """Boustrophedon: rows joined alternately at the right and left ends."""
    m = np.zeros((h, w), dtype=bool)
    m[::2] = True
    for i, y in enumerate(range(1, h, 2)):
        m[y, w - 1 if i % 2 == 0 else 0] = True
    return m


def _random_masks(rng: np.random.Generator, h: int, w: int, n: int) -> np.ndarray:
    kinds = [
        lambda: rng.random((h, w)) < rng.uniform(0.2, 0.7),  # noise: many small parts
        lambda: _smooth(rng, h, w) > rng.uniform(0.3, 0.8),  # blobs, like thresholded CAMs
        lambda: _spiral(h, w),
        lambda: _snake(h, w),
        lambda: np.ones((h, w), dtype=bool),
        lambda: np.zeros((h, w), dtype=bool),
        lambda: _single_pixels(rng, h, w),
        lambda: _border_frame(h, w),
        lambda: np.eye(h, w, dtype=bool) | _pad_to(rng, h, w),  # a diagonal: 8- but not 4-connected
    ]
    return np.stack([kinds[i % len(kinds)]() for i in range(n)])


def _smooth(rng, h, w):
    small = torch.from_numpy(rng.random((1, 1, max(h // 8, 2), max(w // 8, 2))))
    big = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
    return (big - big.min()) / max(big.max() - big.min(), 1e-12)


def _single_pixels(rng, h, w):
    m = np.zeros((h, w), dtype=bool)
    m[rng.integers(0, h, 5), rng.integers(0, w, 5)] = True
    m[0, 0] = m[-1, -1] = True  # corners
    return m


def _border_frame(h, w):
    m = np.zeros((h, w), dtype=bool)
    m[0], m[-1], m[:, 0], m[:, -1] = True, True, True, True
    if h > 4 and w > 4:
        m[2:-2, 2:-2] = True  # an inner part that touches nothing
    return m


def _pad_to(rng, h, w):
    return rng.random((h, w)) < 0.05


SIZES = [(1, 1), (1, 9), (7, 1), (7, 7), (13, 29), (32, 32), (56, 40), (224, 224)]


@pytest.mark.parametrize("connectivity", [4, 8])
def test_labels_equal_scipy_on_random_masks(connectivity):
    rng = np.random.default_rng(connectivity)
    total = 0
    for h, w in SIZES:
        n = 18 if h * w < 10_000 else 9
        masks = _random_masks(rng, h, w, n)
        got = connected_components(torch.from_numpy(masks).view(3, n // 3, h, w), connectivity)
        assert got.shape == (3, n // 3, h, w) and got.dtype == torch.long
        got = got.view(n, h, w).numpy()
        for i in range(n):
            ref, _ = ndimage.label(masks[i], structure=STRUCT[connectivity])
            np.testing.assert_array_equal(got[i], ref, err_msg=f"{h}x{w} map {i}")
        total += n
    assert total >= 100  # per connectivity: >= 200 maps in all


@pytest.mark.parametrize("device", DEVICES)
def test_labels_snake_and_spiral_full_size(device):
    masks = np.stack(
        [_spiral(224, 224), _snake(224, 224), np.pad(_spiral(97, 223), ((0, 127), (1, 0)))]
    )
    for conn in (4, 8):
        got = connected_components(torch.from_numpy(masks).to(device), conn).cpu().numpy()
        for i in range(len(masks)):
            ref, n_ref = ndimage.label(masks[i], structure=STRUCT[conn])
            np.testing.assert_array_equal(got[i], ref)
    assert ndimage.label(masks[0], structure=STRUCT[4])[1] == 1  # one 25k-pixel path


def test_connectivity_matters_on_a_diagonal():
    eye = torch.eye(4, dtype=torch.bool)[None]
    assert connected_components(eye, 8).max().item() == 1
    assert connected_components(eye, 4).max().item() == 4


def test_labels_bad_input():
    with pytest.raises(TypeError, match="bool"):
        connected_components(torch.zeros(1, 3, 3))
    with pytest.raises(ValueError, match="4 or 8"):
        connected_components(torch.zeros(1, 3, 3, dtype=torch.bool), connectivity=6)
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W\)"):
        connected_components(torch.zeros(3, dtype=torch.bool))


def test_chunking_gives_the_same_labels():
    rng = np.random.default_rng(3)
    masks = torch.from_numpy(_random_masks(rng, 20, 30, 12))
    np.testing.assert_array_equal(
        connected_components(masks, chunk_pixels=600).numpy(),
        connected_components(masks).numpy(),
    )


# --------------------------------------------------------------------------- thresholds
def test_threshold_masks_hand_cases():
    cam = torch.tensor([[[[-1.0, 0.19], [0.2, 1.0]]]])
    assert threshold_masks(cam, 0.2).int().tolist() == [[[[0, 0], [1, 1]]]]
    assert threshold_masks(cam * 5, 0.2).int().tolist() == [[[[0, 0], [1, 1]]]]  # scale-free
    assert threshold_masks(cam, 0.0).int().tolist() == [[[[0, 1], [1, 1]]]]
    assert threshold_masks(cam, 1.0).int().tolist() == [[[[0, 0], [0, 1]]]]
    # no positive evidence: a constant map, an all-zero map, an all-negative map
    for flat in (torch.full((1, 1, 3, 3), 2.0) * 0, torch.full((1, 1, 3, 3), -1.0)):
        assert not threshold_masks(flat).any()
    # a positive constant map keeps everything
    assert threshold_masks(torch.full((1, 1, 3, 3), 2.0)).all()


def test_threshold_masks_per_map_tensor():
    cam = torch.arange(4.0).view(1, 1, 2, 2).expand(2, 3, 2, 2)
    t = torch.tensor([[0.0, 0.5, 1.0], [0.4, 0.7, 0.9]])
    got = threshold_masks(cam, t).sum(dim=(-2, -1))
    assert got.tolist() == [[4, 2, 1], [2, 1, 1]]
    sweep = threshold_masks(cam[:1, :1], torch.tensor([0.0, 0.5, 1.0])[:, None, None])
    assert sweep.shape == (3, 1, 1, 2, 2)


def test_threshold_masks_refuses_nan_and_bad_thresholds():
    with pytest.raises(ValueError, match="NaN"):
        threshold_masks(torch.tensor([[[[float("nan"), 1.0]]]]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        threshold_masks(torch.ones(1, 1, 2, 2), 1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        threshold_masks(torch.ones(1, 1, 2, 2), torch.tensor([-0.1]))


# --------------------------------------------------------------------------- the paper's box
def _reference_box(cam: np.ndarray, t: float, connectivity: int = 8) -> list[int]:
    """SciPy reference with the documented rules: largest component, ties to the smallest
    scipy label (first in raster order), empty mask -> the whole map."""
    h, w = cam.shape
    peak = cam.max()
    mask = (cam >= t * peak) & (peak > 0)
    lab, n = ndimage.label(mask, structure=STRUCT[connectivity])
    if n == 0:
        return [0, 0, w - 1, h - 1]
    areas = np.bincount(lab.ravel())[1:]
    k = int(np.argmax(areas))  # first maximum = smallest label
    ys, xs = ndimage.find_objects(lab)[k]
    return [xs.start, ys.start, xs.stop - 1, ys.stop - 1]


def _random_cams(rng, h, w, n):
    out = []
    for i in range(n):
        kind = i % 6
        if kind == 0:
            out.append(_smooth(rng, h, w) * rng.uniform(0.5, 4) - rng.uniform(0, 1))
        elif kind == 1:
            out.append(rng.normal(size=(h, w)))
        elif kind == 2:
            out.append(np.full((h, w), 0.0))  # normalised constant map
        elif kind == 3:
            out.append(-rng.random((h, w)))  # no positive value
        elif kind == 4:
            c = np.zeros((h, w))
            c[rng.random((h, w)) < 0.3] = 1.0  # plateaus: many equal-size ties
            out.append(c)
        else:
            out.append(_smooth(rng, h, w) ** 3)
    return np.stack(out)


@pytest.mark.parametrize("backend", ["batched", "opencv"])
@pytest.mark.parametrize("connectivity", [4, 8])
def test_largest_component_boxes_equal_scipy_reference(connectivity, backend):
    rng = np.random.default_rng(10 + connectivity)
    for (h, w), t in zip(
        [(7, 7), (13, 29), (56, 40), (224, 224)], [0.2, 0.5, 0.2, 0.35], strict=True
    ):
        n = 24 if h * w < 10_000 else 12
        cams = _random_cams(rng, h, w, n)
        maps = torch.from_numpy(cams).view(n // 4, 4, h, w)
        got = largest_component_boxes(maps, t, connectivity, backend=backend)
        assert got.shape == (n // 4, 4, 4) and got.dtype == torch.long
        got = got.view(n, 4).tolist()
        for i in range(n):
            assert got[i] == _reference_box(cams[i], t, connectivity), (h, w, i)


@pytest.mark.parametrize("backend", ["batched", "opencv"])
def test_largest_component_tie_goes_to_raster_first(backend):
    cam = torch.zeros(1, 1, 6, 6)
    cam[0, 0, 3:5, 0:2] = 1.0  # 4 pixels, starts on row 3
    cam[0, 0, 0:2, 4:6] = 1.0  # 4 pixels, starts on row 0: first in raster order
    assert largest_component_boxes(cam, backend=backend).tolist() == [[[4, 0, 5, 1]]]
    # OpenCV's block-wise scan numbers the left square (first pixel on row 1) before the
    # right one (row 0): the tie must still go to the right one, first in raster order
    cam = torch.zeros(1, 1, 6, 8)
    cam[0, 0, 1:3, 0:2] = 1.0
    cam[0, 0, 0:2, 5:7] = 1.0
    assert largest_component_boxes(cam, backend=backend).tolist() == [[[5, 0, 6, 1]]]


@pytest.mark.parametrize("connectivity", [4, 8])
def test_opencv_and_batched_backends_give_the_same_boxes(connectivity):
    """Spirals, snakes, noise, blobs, diagonals, empty and full masks, odd sizes: the compiled
    per-map routine (the CPU's default) and the batched search agree on every box."""
    rng = np.random.default_rng(20 + connectivity)
    for h, w in [(1, 1), (1, 9), (7, 7), (24, 31), (64, 48), (224, 224)]:
        masks = torch.from_numpy(_random_masks(rng, h, w, 18)).view(3, 6, h, w)
        a = largest_component_boxes_from_masks(masks, connectivity, backend="batched")
        b = largest_component_boxes_from_masks(masks, connectivity, backend="opencv")
        assert a.shape == b.shape == (3, 6, 4) and b.dtype == torch.long
        assert torch.equal(a, b), (h, w)


def test_box_backend_by_device_and_bad_names():
    assert box_backend("cpu") == "opencv" and box_backend(torch.device("cuda")) == "batched"
    assert box_backend("cuda", "opencv") == "opencv"
    masks = torch.zeros(2, 4, 4, dtype=torch.bool)
    with pytest.raises(
        ValueError, match="backend must be 'auto', 'batched' or 'opencv'; found 'cv'"
    ):
        largest_component_boxes_from_masks(masks, backend="cv")  # type: ignore[arg-type]


def test_largest_component_boxes_hand_cases_and_empty_maps():
    cam = torch.zeros(2, 2, 5, 8)
    cam[0, 0, 1:4, 2:5] = 1.0  # 9-pixel square
    cam[0, 0, 0, 7] = 0.5  # a strong lone pixel in the corner
    cam[0, 1] = torch.linspace(0, 1, 8)  # a ramp: columns with x >= 0.2 * 7 are kept
    cam[1, 0] = 3.0  # constant positive map: everything
    cam[1, 1] = -1.0  # nothing positive: whole map by rule
    got = largest_component_boxes(cam).tolist()
    assert got == [[[2, 1, 4, 3], [2, 0, 7, 4]], [[0, 0, 7, 4], [0, 0, 7, 4]]]
    # a border-touching component keeps its border coordinates
    edge = torch.zeros(1, 1, 4, 4)
    edge[0, 0, :, 3] = 1
    assert largest_component_boxes(edge).tolist() == [[[3, 0, 3, 3]]]


def test_largest_component_boxes_on_real_cams():
    """The offline network's top-5 maps of three photos, upsampled to 224: same boxes."""
    from camutils.cam import normalize_cams, upsample_cams
    from camutils.models import load_model
    from camutils.samples import load_sample

    model = load_model(device="cpu")
    x = model.preprocess.batch([load_sample(n) for n in ("chelsea", "china", "coffee")])
    cams = normalize_cams(upsample_cams(model.top_cams(x, k=5).cams, (224, 224)))
    for t in (0.2, 0.5):
        got = largest_component_boxes(cams, t).view(-1, 4).tolist()
        ref = [_reference_box(c, t) for c in cams.view(-1, 224, 224).numpy()]
        assert got == ref


def test_all_component_boxes_equal_scipy_find_objects():
    rng = np.random.default_rng(5)
    masks = _random_masks(rng, 24, 31, 18)
    boxes, index, area = all_component_boxes(torch.from_numpy(masks))
    rows = []
    for i, m in enumerate(masks):
        lab, _ = ndimage.label(m, structure=STRUCT[8])
        counts = np.bincount(lab.ravel())
        for k, (ys, xs) in enumerate(ndimage.find_objects(lab), start=1):
            rows.append([xs.start, ys.start, xs.stop - 1, ys.stop - 1, i, counts[k]])
    got = torch.cat([boxes, index[:, None], area[:, None]], dim=1).tolist()
    assert got == rows


def test_mask_boxes_from_masks_match_cams_path():
    rng = np.random.default_rng(2)
    cams = torch.from_numpy(_random_cams(rng, 16, 16, 12))
    assert torch.equal(
        largest_component_boxes(cams, 0.3),
        largest_component_boxes_from_masks(threshold_masks(cams, 0.3)),
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_boxes_on_gpu_equal_cpu():
    rng = np.random.default_rng(7)
    cams = torch.from_numpy(_random_cams(rng, 224, 224, 48)).float()
    cpu = largest_component_boxes(cams.view(12, 4, 224, 224))
    gpu = largest_component_boxes(cams.view(12, 4, 224, 224).cuda())
    assert gpu.device.type == "cuda"
    assert torch.equal(cpu, gpu.cpu())


# --------------------------------------------------------------------------- the release's heuristics
def _opencv_dt_box(cam: np.ndarray, thresholds=(20, 100, 110)) -> list[list[int]]:
    """The released dt_box steps re-run with OpenCV's own threshold, distance transform and
    contours (CCOMP), then the release's clip, area sort and suppression."""
    cv2 = pytest.importorskip("cv2")
    h, w = cam.shape
    peak = cam.max()
    gray = np.clip(np.floor(255 * cam / peak + 0.5), 0, 255).astype(np.uint8)
    rects = []
    for t in thresholds:
        _, b = cv2.threshold(gray, t, 255, cv2.THRESH_BINARY)
        if b.any() and not b.all():
            d = cv2.distanceTransform(b, cv2.DIST_L2, cv2.DIST_MASK_PRECISE).astype(np.float64)
            d = np.clip(np.floor(d * 255.0 / d.max() + 0.5), 0, 255)
            b = np.where(d > 10, 255, 0).astype(np.uint8)
        contours, _ = cv2.findContours(b, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            x, y, bw, bh = cv2.boundingRect(c)
            lim = lambda v, lo, hi: lo if v < lo else (hi if v > hi else v)  # noqa: E731
            rects.append(
                (lim(x, 0, w - 5), lim(y, 0, h - 5), lim(bw, 0, w - x - 5), lim(bh, 0, h - y - 5))
            )
    rects.sort(key=lambda r: (-r[2] * r[3], r[1], r[0], r[2]))
    kept = []
    for x, y, bw, bh in rects:
        if all(
            max(0, min(x + bw, kx + kw) - max(x, kx)) * max(0, min(y + bh, ky + kh) - max(y, ky))
            <= 0.5 * max(bw * bh, kw * kh)
            for kx, ky, kw, kh in kept
        ):
            kept.append((x, y, bw, bh))
    return sorted(
        [min(x, x + bw), min(y, y + bh), max(x, x + bw), max(y, y + bh)] for x, y, bw, bh in kept
    )


def test_heuristic_candidates_equal_opencv_rerun():
    rng = np.random.default_rng(0)
    for i in range(12):
        h, w = (60, 90) if i % 2 else (120, 80)
        cam = _smooth(rng, h, w) ** rng.uniform(1, 3)
        if i % 3 == 0:
            cam = cam * (rng.random((h, w)) > 0.02)  # pepper: holes
        got = heuristic_box_candidates(torch.from_numpy(cam)).tolist()
        assert sorted(got) == _opencv_dt_box(cam), i
        areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in got]
        assert areas[0] == max(areas)  # largest first


def test_heuristic_hole_gives_a_box_and_suppression():
    cam = np.zeros((60, 60))
    cam[5:45, 5:45] = 1.0
    cam[15:35, 15:35] = 0.0  # a 20 x 20 hole: its contour runs on the ring around it
    got = heuristic_box_candidates(cam).tolist()
    # outer box of the ring, then the hole's box (14..35 = 22 pixels), too small to be dropped
    assert got == [[5, 5, 45, 45], [14, 14, 36, 36]]
    assert sorted(got) == _opencv_dt_box(cam)


def test_heuristic_boxes_padding_and_empty():
    cam = torch.zeros(1, 2, 40, 50)
    cam[0, 0, 10:20, 10:30] = 1.0
    cam[0, 0, 25:35, 35:45] = 0.3  # kept only at threshold 20 of 255
    got = heuristic_boxes(cam)
    assert got.shape == (1, 2, 2, 4)
    assert got[0, 0].tolist() == [[10, 10, 30, 20], [35, 25, 45, 35]]
    assert got[0, 1].tolist() == [[0, 0, 49, 39]] * 2  # empty map: whole map, repeated
    assert heuristic_boxes(cam, max_boxes=3)[0, 0, 2].tolist() == [35, 25, 45, 35]


def test_table3_guesses_order():
    classes = torch.tensor([[10, 20, 30, 40, 50]])
    boxes = torch.arange(5 * 2 * 4).view(1, 5, 2, 4)
    c, b = table3_guesses(classes, boxes)
    assert c.tolist() == [[10, 10, 20, 20, 30]]
    assert b[0, :, 0].tolist() == [0, 4, 8, 12, 16]
    with pytest.raises(ValueError, match="k >= 3"):
        table3_guesses(classes[:, :2], boxes[:, :2])


# --------------------------------------------------------------------------- geometry
def _nearest_exact_index(n_out: int, n_in: int) -> np.ndarray:
    """Source pixel of each output pixel for nearest-exact resizing (pixel centres)."""
    return np.floor((np.arange(n_out) + 0.5) * n_in / n_out).astype(int)


def _mask_box(mask: np.ndarray) -> list[int] | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return [xs.min(), ys.min(), xs.max(), ys.max()]


def _sizes(rng, n):
    fixed = [(300, 451), (451, 300), (224, 224), (100, 150), (375, 500), (333, 257), (1, 600)]
    rand = [tuple(int(v) for v in rng.integers(20, 700, 2)) for _ in range(n - len(fixed))]
    return fixed + rand


@pytest.mark.parametrize("mode", ["squash", "crop"])
def test_geometry_matches_torchvision(mode):
    pre = Preprocess(224, mode, resize=256)
    for h, w in [(300, 451), (451, 300), (257, 333), (1000, 1001), (256, 256), (259, 400)]:
        hh, ww, hr, wr, top, left = (int(v) for v in resize_geometry(torch.tensor([[h, w]]), pre))
        assert pre.resize_only(torch.zeros(3, h, w, dtype=torch.uint8)).shape == (3, 224, 224)
        if mode == "crop":
            assert tuple(TF.resize(torch.zeros(1, h, w), [256]).shape[-2:]) == (hr, wr)
            cols = torch.arange(wr, dtype=torch.float32).expand(1, hr, wr)
            rows = torch.arange(hr, dtype=torch.float32)[:, None].expand(1, hr, wr)
            assert TF.center_crop(cols, [224, 224])[0, 0, 0].item() == left
            assert TF.center_crop(rows, [224, 224])[0, 0, 0].item() == top
        else:
            assert (hr, wr, top, left) == (224, 224, 0, 0)


@pytest.mark.parametrize("mode", ["squash", "crop"])
def test_boxes_to_original_equals_resampled_mask(mode):
    rng = np.random.default_rng(1 if mode == "squash" else 2)
    pre = Preprocess(224, mode, resize=256)
    sizes = _sizes(rng, 24)
    boxes = []
    for _ in sizes:
        x0, x1 = sorted(rng.integers(0, 224, 2))
        y0, y1 = sorted(rng.integers(0, 224, 2))
        boxes.append([[x0, y0, x1, y1], [0, 0, 223, 223]])
    boxes_t = torch.tensor(boxes)
    got = boxes_to_original(boxes_t, torch.tensor(sizes), pre).tolist()
    for i, (h, w) in enumerate(sizes):
        _, _, hr, wr, top, left = (int(v) for v in resize_geometry(torch.tensor([[h, w]]), pre))
        for j, (x0, y0, x1, y1) in enumerate(boxes[i]):
            canvas = np.zeros((hr, wr), dtype=bool)  # the resized image; the input is its crop
            canvas[top + y0 : top + y1 + 1, left + x0 : left + x1 + 1] = True
            orig = canvas[np.ix_(_nearest_exact_index(h, hr), _nearest_exact_index(w, wr))]
            ref = _mask_box(orig)
            if ref is None:  # thinner than one original pixel: at least one pixel is kept
                assert got[i][j][2] == got[i][j][0] or got[i][j][3] == got[i][j][1]
            else:
                assert got[i][j] == ref, (h, w, boxes[i][j])


@pytest.mark.parametrize("mode", ["squash", "crop"])
def test_boxes_to_input_equals_resampled_mask(mode):
    rng = np.random.default_rng(3 if mode == "squash" else 4)
    pre = Preprocess(224, mode, resize=256)
    sizes = _sizes(rng, 24)
    boxes = []
    for h, w in sizes:
        x0, x1 = sorted(rng.integers(0, w, 2))
        y0, y1 = sorted(rng.integers(0, h, 2))
        boxes.append([x0, y0, x1, y1])
    got = boxes_to_input(torch.tensor(boxes), torch.tensor(sizes), pre).tolist()
    for i, (h, w) in enumerate(sizes):
        _, _, hr, wr, top, left = (int(v) for v in resize_geometry(torch.tensor([[h, w]]), pre))
        x0, y0, x1, y1 = boxes[i]
        orig = np.zeros((h, w), dtype=bool)
        orig[y0 : y1 + 1, x0 : x1 + 1] = True
        resized = orig[np.ix_(_nearest_exact_index(hr, h), _nearest_exact_index(wr, w))]
        ref = _mask_box(resized[top : top + 224, left : left + 224])
        if ref is not None:
            assert got[i] == ref, (h, w, boxes[i])
        for v in got[i]:
            assert 0 <= v <= 223


def test_box_geometry_round_trip_and_whole_image():
    pre = Preprocess(224, "squash")
    sizes = torch.tensor([[300, 451], [500, 375], [224, 224]])
    whole_in = torch.tensor([[0, 0, 223, 223]]).expand(3, 4)
    whole_orig = boxes_to_original(whole_in, sizes, pre)
    assert whole_orig.tolist() == [[0, 0, 450, 299], [0, 0, 374, 499], [0, 0, 223, 223]]
    assert torch.equal(boxes_to_input(whole_orig, sizes, pre), whole_in)
    rng = np.random.default_rng(0)
    x = np.sort(rng.integers(0, 224, (3, 50, 2)), axis=-1)
    y = np.sort(rng.integers(0, 224, (3, 50, 2)), axis=-1)
    b = torch.from_numpy(np.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], -1))
    back = boxes_to_input(boxes_to_original(b, sizes, pre), sizes, pre)
    assert torch.equal(back, b)  # images at least as large as the input: an exact round trip


def test_crop_box_outside_the_crop_and_bad_input():
    pre = Preprocess(224, "crop", resize=256)
    # 256 x 512 image: resized unchanged, the crop keeps rows 16..239 and columns 144..367
    got = boxes_to_input(torch.tensor([[0, 0, 50, 255]]), torch.tensor([[256, 512]]), pre)
    assert got.tolist() == [[0, 0, 0, 223]]  # wholly left of the crop: a 1-pixel-wide edge box
    got = boxes_to_input(torch.tensor([[200, 100, 511, 120]]), torch.tensor([[256, 512]]), pre)
    assert got.tolist() == [[56, 84, 223, 104]]
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        boxes_to_original(torch.zeros(1, 4, dtype=torch.long), torch.tensor([300, 400]), pre)
    with pytest.raises(TypeError, match="integer"):
        boxes_to_original(torch.zeros(1, 4), torch.tensor([[300, 400]]), pre)
    with pytest.raises(ValueError, match="original sizes"):
        boxes_to_original(torch.zeros(2, 4, dtype=torch.long), torch.tensor([[300, 400]]), pre)


# --------------------------------------------------------------------------- the annotated sample
def test_ilsvrc_sample_devkit_and_kaggle_agree():
    """Both layouts of data/ilsvrc_sample hold the same images, classes and boxes (read with the
    standard library), inside each image, with ImageNet's 1000 wnids in sorted order."""
    import csv
    import xml.etree.ElementTree as ET

    from PIL import Image

    from camutils.models import imagenet_classes
    from camutils.samples import data_dir

    root = data_dir() / "ilsvrc_sample"
    wnids, _ = imagenet_classes()
    mapping = (root / "kaggle" / "LOC_synset_mapping.txt").read_text(encoding="utf-8").splitlines()
    assert [line.split()[0] for line in mapping] == wnids
    with open(root / "kaggle" / "LOC_val_solution.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["ImageId", "PredictionString"]
    kaggle = {}
    for stem, pred in rows[1:]:
        t = pred.split()
        kaggle[stem] = [
            (t[i], tuple(int(v) for v in t[i + 1 : i + 5])) for i in range(0, len(t), 5)
        ]
    xml_dir = root / "devkit" / "ILSVRC2012_bbox_val_v3" / "val"
    assert sorted(p.stem for p in xml_dir.glob("*.xml")) == sorted(kaggle)
    assert len(kaggle) >= 6
    for stem, objects in kaggle.items():
        ann = ET.parse(xml_dir / f"{stem}.xml").getroot()
        assert ann.findtext("filename") == stem
        devkit = [
            (
                o.findtext("name"),
                tuple(int(o.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")),
            )
            for o in ann.iter("object")
        ]
        assert devkit == objects
        for folder in ("devkit/ILSVRC2012_img_val", "kaggle/ILSVRC/Data/CLS-LOC/val"):
            path = root / folder / f"{stem}.JPEG"
            sample = data_dir() / "samples" / f"{stem.removeprefix('sample_')}.jpg"
            assert path.read_bytes() == sample.read_bytes()
            with Image.open(path) as im:
                w, h = im.size
                depth = len(im.getbands())
        assert (int(ann.findtext("size/width")), int(ann.findtext("size/height"))) == (w, h)
        assert int(ann.findtext("size/depth")) == depth
        for wnid, (x0, y0, x1, y1) in objects:
            assert wnid in wnids
            assert 0 <= x0 <= x1 < w and 0 <= y0 <= y1 < h
