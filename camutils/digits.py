"""Digits on a canvas: a weakly-supervised localization set made from real handwriting.

Each image is one handwritten digit from scikit-learn's ``load_digits`` (1,797 scans of 8x8
pixels, 16 grey levels) scaled up bilinearly and pasted at a random place on a larger black
canvas, together with *clutter*: small crops of OTHER digits (of other classes) that carry
strokes but are not a whole digit. Only the class label is meant for training; the box of the
digit's ink is kept for evaluating localization, in the ILSVRC convention (inclusive pixel
coordinates ``(xmin, ymin, xmax, ymax)``, width ``xmax - xmin + 1``).

Geometry, with ``s`` the scale and ``(x_0, y_0)`` the canvas corner of the digit's frame:
canvas pixel ``u`` samples the source at ``p = (u + 1/2 - x_0) / s - 1`` (``p = 0..7`` are the
scan's pixel centres, as in ``grid_sample(align_corners=False)``), so one source pixel covers
``s x s`` canvas pixels. Bilinear interpolation with zeros outside the scan is non-zero only for
``-1 < p < 8``: the frame is ``9 s`` pixels wide and lies wholly on the canvas, so no ink is ever
cut off by the canvas edge.
Rendered values below ``ink_threshold`` are set to 0, so "ink" is exactly "non-zero": the box
is the tight box of the non-zero pixels of the digit's layer. Clutter never touches the box
grown by ``margin`` pixels, so every pixel inside the box belongs to the digit and every pixel
of the digit lies inside the box.

Train and test canvases are drawn from disjoint sets of source scans (:func:`split_sources`),
so the test digits, and the writers' strokes in them, are never seen in training.

Everything is vectorised over the batch (one ``grid_sample`` for all digits, one for all
fragments) and drawn from a seeded ``torch.Generator`` on the CPU: the same seed gives the same
tensors, bit for bit.

Example:
    >>> train = digit_canvases("train", n=8, seed=0)
    >>> train.images.shape, train.labels.shape, train.boxes.shape
    (torch.Size([8, 1, 56, 56]), torch.Size([8]), torch.Size([8, 4]))
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "DigitCanvases",
    "Rendering",
    "digit_canvases",
    "ink_boxes",
    "load_source_digits",
    "make_canvases",
    "render_canvases",
    "split_sources",
]


class DigitCanvases(NamedTuple):
    """A batch of canvases.

    Attributes:
        images: ``(N, 1, H, W)`` float32 in ``[0, 1]`` (ink bright on black).
        labels: ``(N,)`` long, the digit's class ``0..9``: the only supervision for training.
        boxes: ``(N, 4)`` long, the digit's ink box ``(xmin, ymin, xmax, ymax)``, inclusive.
        sources: ``(N,)`` long, the index of the digit's scan in ``load_digits``.
    """

    images: Tensor
    labels: Tensor
    boxes: Tensor
    sources: Tensor


class Rendering(NamedTuple):
    """:func:`render_canvases`' output: the canvases and their two layers, kept apart."""

    images: Tensor  # (N, 1, H, W) = max(digit, clutter)
    boxes: Tensor  # (N, 4) long, inclusive ink box of ``digit``
    digit: Tensor  # (N, 1, H, W) the digit alone (0 outside its ink)
    clutter: Tensor  # (N, 1, H, W) the fragments alone


@lru_cache(maxsize=1)
def _sklearn_digits() -> tuple[Tensor, Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = torch.as_tensor(d.images, dtype=torch.float32) / 16.0  # (1797, 8, 8) in [0, 1]
    labels = torch.as_tensor(d.target, dtype=torch.long)
    return images, labels


def load_source_digits() -> tuple[Tensor, Tensor]:
    """scikit-learn's handwritten digits: ``(1797, 8, 8)`` float32 in ``[0, 1]`` and ``(1797,)``
    labels (bundled with scikit-learn: no download)."""
    images, labels = _sklearn_digits()
    return images.clone(), labels.clone()


def split_sources(
    labels: Tensor, test_fraction: float = 0.25, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Split scan indices into disjoint, class-stratified train and test sets.

    Each class's scans are shuffled with ``seed`` and the first ``round(test_fraction * n_c)``
    go to the test set. Returns sorted ``(train_idx, test_idx)`` long tensors.

    Example:
        >>> tr, te = split_sources(torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]), 0.5)
        >>> sorted(tr.tolist() + te.tolist()), len(te)
        ([0, 1, 2, 3, 4, 5, 6, 7], 4)
    """
    if labels.ndim != 1:
        raise ValueError(f"labels must be (N,); found shape {tuple(labels.shape)}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1); found {test_fraction}")
    g = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in torch.unique(labels).tolist():  # 10 classes: not a hot path
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = round(test_fraction * len(idx))
        test.append(idx[:k])
        train.append(idx[k:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


def ink_boxes(layer: Tensor) -> Tensor:
    """Tight inclusive boxes ``(xmin, ymin, xmax, ymax)`` of the non-zero pixels of each map.

    Args:
        layer: ``(N, 1, H, W)`` or ``(N, H, W)``; every map must have a non-zero pixel.

    Example:
        >>> m = torch.zeros(1, 5, 6); m[0, 1:3, 2:5] = 1
        >>> ink_boxes(m).tolist()
        [[2, 1, 4, 2]]
    """
    if layer.ndim == 4:
        if layer.shape[1] != 1:
            raise ValueError(f"expected one channel (N, 1, H, W); found {tuple(layer.shape)}")
        layer = layer[:, 0]
    if layer.ndim != 3:
        raise ValueError(f"layer must be (N, H, W) or (N, 1, H, W); found {tuple(layer.shape)}")
    ink = layer != 0
    cols, rows = ink.any(dim=1), ink.any(dim=2)  # (N, W), (N, H)
    if not bool(cols.any(dim=1).all()):
        bad = torch.nonzero(~cols.any(dim=1)).flatten()[:5].tolist()
        raise ValueError(f"maps without any ink have no box (first indices: {bad})")
    w, h = cols.shape[1], rows.shape[1]
    xmin = cols.int().argmax(dim=1)
    xmax = w - 1 - cols.flip(1).int().argmax(dim=1)
    ymin = rows.int().argmax(dim=1)
    ymax = h - 1 - rows.flip(1).int().argmax(dim=1)
    return torch.stack([xmin, ymin, xmax, ymax], dim=1).long()


def _sample_grid(
    x0: Tensor, y0: Tensor, scale: Tensor, ox: Tensor, oy: Tensor, size: int
) -> Tensor:
    """``grid_sample`` grid mapping canvas pixel ``u`` to source ``p = o + (u + 1/2 - x_0)/s``
    in an 8x8 source, as normalised coordinates ``(2p + 1) / 8 - 1``."""
    u = torch.arange(size, dtype=torch.float32) + 0.5
    px = ox[:, None] + (u[None, :] - x0[:, None]) / scale[:, None]  # (N, W)
    py = oy[:, None] + (u[None, :] - y0[:, None]) / scale[:, None]  # (N, H)
    gx = (2 * px + 1) / 8 - 1
    gy = (2 * py + 1) / 8 - 1
    n = len(x0)
    return torch.stack(
        [gx[:, None, :].expand(n, size, size), gy[:, :, None].expand(n, size, size)], dim=-1
    )


def _uniform(g: torch.Generator, n: int, lo: float, hi: float) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def render_canvases(
    digits: Tensor,
    fragments: Tensor,
    *,
    size: int = 56,
    scale: tuple[float, float] = (2.5, 3.0),
    fragment_size: tuple[float, float] = (2.5, 4.0),
    margin: int = 1,
    ink_threshold: float = 0.1,
    seed: int = 0,
) -> Rendering:
    """Paste digits and clutter fragments on black ``size x size`` canvases (the core renderer).

    Args:
        digits: ``(N, 8, 8)`` source scans in ``[0, 1]``, one per canvas.
        fragments: ``(N, F, 8, 8)``: the scans that the ``F`` clutter fragments of each canvas are
            cut from (``F`` may be 0).
        size: canvas side in pixels.
        scale: range of the digit's (and each fragment's) upscaling factor ``s``.
        fragment_size: range of a fragment's side in SOURCE pixels (of 8); its window is placed
            at a random offset inside the scan.
        margin: free pixels kept between the digit's box and any fragment.
        ink_threshold: rendered values below it are set to 0 (so "ink" means "non-zero").
        seed: the random draws (positions, scales, windows, sides) come from this seed.

    Raises:
        ValueError: if the canvas is too small to always find room for a fragment beside the
            digit: ``ceil(max fragment_size * max scale) + margin`` must not exceed
            ``floor((size - 9 * max scale) / 2)``.
    """
    if digits.ndim != 3 or digits.shape[1:] != (8, 8):
        raise ValueError(f"digits must be (N, 8, 8); found {tuple(digits.shape)}")
    if (
        fragments.ndim != 4
        or fragments.shape[0] != digits.shape[0]
        or fragments.shape[2:] != (8, 8)
    ):
        raise ValueError(
            f"fragments must be (N, F, 8, 8) with N = {digits.shape[0]}; "
            f"found {tuple(fragments.shape)}"
        )
    s_lo, s_hi = scale
    f_lo, f_hi = fragment_size
    if not 0 < s_lo <= s_hi or not 0 < f_lo <= f_hi <= 8:
        raise ValueError(f"bad ranges: scale={scale}, fragment_size={fragment_size} (<= 8)")
    if 9 * s_hi > size:
        raise ValueError(f"a digit frame of 9 x {s_hi} pixels does not fit a {size}-px canvas")
    frag_max = math.ceil(f_hi * s_hi)
    room = math.floor((size - 9 * s_hi) / 2)
    if frag_max + margin > room:
        raise ValueError(
            f"no guaranteed room for clutter: fragments up to {frag_max} px + margin {margin} "
            f"but only {room} px beside the largest digit on a {size}-pixel canvas; enlarge "
            "the canvas or shrink scale / fragment_size"
        )
    g = torch.Generator().manual_seed(seed)
    n, nf = digits.shape[0], fragments.shape[1]
    digits = digits.float().cpu()
    fragments = fragments.float().cpu()

    # --- the digit: scale, then a position with its whole 8x8 frame on the canvas
    s = _uniform(g, n, s_lo, s_hi)
    x0 = torch.rand(n, generator=g) * (size - 9 * s)
    y0 = torch.rand(n, generator=g) * (size - 9 * s)
    start = torch.full((n,), -1.0)  # the frame starts one source pixel before the scan
    grid = _sample_grid(x0, y0, s, start, start, size)
    digit = F.grid_sample(digits[:, None], grid, mode="bilinear", align_corners=False)
    digit = torch.where(digit >= ink_threshold, digit, torch.zeros(()))
    boxes = ink_boxes(digit)

    # --- clutter: F windows of other scans, each placed beside the digit's (grown) box
    clutter = torch.zeros(n, 1, size, size)
    if nf:
        m = n * nf
        fs = _uniform(g, m, s_lo, s_hi)
        fw = _uniform(g, m, f_lo, f_hi)  # window side in source pixels
        fh = _uniform(g, m, f_lo, f_hi)
        ox = torch.rand(m, generator=g) * (8 - fw) - 0.5  # window inside the scan's pixels
        oy = torch.rand(m, generator=g) * (8 - fh) - 0.5
        wpx = torch.ceil(fw * fs).long()  # footprint on the canvas, whole pixels
        hpx = torch.ceil(fh * fs).long()
        b = boxes.repeat_interleave(nf, dim=0) if n else boxes
        # free room on each side of the box grown by the margin: left, right, top, bottom
        rooms = torch.stack(
            [b[:, 0] - margin, size - 1 - b[:, 2] - margin, b[:, 1] - margin,
             size - 1 - b[:, 3] - margin],
            dim=1,
        )  # fmt: skip
        need = torch.stack([wpx, wpx, hpx, hpx], dim=1)
        ok = rooms >= need
        if not bool(ok.any(dim=1).all()):  # excluded by the check above; kept as a guard
            raise RuntimeError("a fragment found no room beside the digit")
        side = torch.multinomial(ok.float(), 1, generator=g).flatten()
        r1, r2 = torch.rand(m, generator=g), torch.rand(m, generator=g)
        # along the chosen side: anywhere in the free strip; across it: anywhere on the canvas
        fx = torch.where(
            side == 0,
            (r1 * (rooms[:, 0] - wpx + 1)).floor(),
            torch.where(
                side == 1,
                b[:, 2] + margin + 1 + (r1 * (rooms[:, 1] - wpx + 1)).floor(),
                (r1 * (size - wpx + 1)).floor(),
            ),
        ).long()
        fy = torch.where(
            side == 2,
            (r2 * (rooms[:, 2] - hpx + 1)).floor(),
            torch.where(
                side == 3,
                b[:, 3] + margin + 1 + (r2 * (rooms[:, 3] - hpx + 1)).floor(),
                (r2 * (size - hpx + 1)).floor(),
            ),
        ).long()
        grid = _sample_grid(fx.float(), fy.float(), fs, ox, oy, size)
        pieces = F.grid_sample(
            fragments.reshape(m, 1, 8, 8), grid, mode="bilinear", align_corners=False
        )
        u = torch.arange(size)
        inside_x = (u[None, :] >= fx[:, None]) & (u[None, :] < (fx + wpx)[:, None])  # (m, W)
        inside_y = (u[None, :] >= fy[:, None]) & (u[None, :] < (fy + hpx)[:, None])  # (m, H)
        window = (inside_y[:, :, None] & inside_x[:, None, :])[:, None]
        pieces = torch.where(window & (pieces >= ink_threshold), pieces, torch.zeros(()))
        clutter = pieces.view(n, nf, size, size).amax(dim=1, keepdim=True)
    images = torch.maximum(digit, clutter)
    return Rendering(images, boxes, digit, clutter)


def make_canvases(
    images8: Tensor,
    labels: Tensor,
    pool: Tensor,
    n: int,
    *,
    clutter: int = 3,
    seed: int = 0,
    **render_kwargs,
) -> DigitCanvases:
    """``n`` canvases whose digits AND clutter are drawn (with replacement) from ``pool``.

    Args:
        images8: ``(M, 8, 8)`` all source scans; labels: their ``(M,)`` classes.
        pool: indices of the scans this split may use (e.g. from :func:`split_sources`).
        n: number of canvases.
        clutter: fragments per canvas, each cut from a scan of the pool of ANOTHER class.
        seed: seeds the choice of scans and (through ``render_canvases``) the geometry.
        **render_kwargs: passed to :func:`render_canvases` (``size``, ``scale``, ...).
    """
    if images8.ndim != 3 or labels.shape != images8.shape[:1]:
        raise ValueError(
            f"images8 must be (M, 8, 8) with labels (M,); found {tuple(images8.shape)} and "
            f"{tuple(labels.shape)}"
        )
    pool = torch.as_tensor(pool, dtype=torch.long)
    pool_labels = labels[pool]
    classes = torch.unique(pool_labels)
    if clutter and len(classes) < 2:
        raise ValueError("clutter comes from other classes: the pool needs at least two classes")
    g = torch.Generator().manual_seed(seed)
    src = pool[torch.randint(len(pool), (n,), generator=g)]
    y = labels[src]
    # clutter scans: a different class c' = y + k (mod C) chosen uniformly, then a scan of c'
    order = pool[torch.argsort(pool_labels, stable=True)]
    counts = torch.stack([(pool_labels == c).sum() for c in classes])
    starts = torch.cumsum(counts, 0) - counts
    ncls = len(classes)
    pos = torch.searchsorted(classes, y)  # position of y among the pool's classes
    shift = torch.randint(1, max(ncls, 2), (n, clutter), generator=g)
    other = (pos[:, None] + shift) % ncls
    pick = (torch.rand(n, clutter, generator=g) * counts[other]).floor().long()
    frag_src = order[starts[other] + pick]  # (n, clutter)
    r = render_canvases(images8[src], images8[frag_src], seed=seed + 1, **render_kwargs)
    return DigitCanvases(r.images, y, r.boxes, src)


def digit_canvases(
    split: Literal["train", "test"],
    n: int = 4000,
    seed: int = 0,
    *,
    test_fraction: float = 0.25,
    split_seed: int = 0,
    device: str | torch.device | None = None,
    **kwargs,
) -> DigitCanvases:
    """The ready-made split: ``n`` canvases from the train or the test scans of ``load_digits``.

    The split of scans depends only on ``split_seed`` and ``test_fraction`` (default: 1,347
    train scans, 450 test scans, stratified by class), so the two splits never share a scan
    whatever ``seed`` draws the canvases. The train and test canvases use different seed
    streams even for equal ``seed``. ``**kwargs`` go to :func:`make_canvases` /
    :func:`render_canvases` (``clutter``, ``size``, ``scale``, ...). Tensors are generated on
    the CPU (so they are the same everywhere) and then moved to ``device``.

    Example:
        >>> te = digit_canvases("test", n=4, seed=1)
        >>> te.boxes.dtype, bool((te.boxes[:, 2] >= te.boxes[:, 0]).all())
        (torch.int64, True)
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; found {split!r}")
    images8, labels = _sklearn_digits()
    train_idx, test_idx = split_sources(labels, test_fraction, split_seed)
    pool = train_idx if split == "train" else test_idx
    stream = 2 * seed + (0 if split == "train" else 1) + 1000 * split_seed
    out = make_canvases(images8, labels, pool, n, seed=stream * 7919, **kwargs)
    if device is not None:
        out = DigitCanvases(*(t.to(device) for t in out))
    return out
