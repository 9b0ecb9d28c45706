"""The digits-on-a-canvas set: boxes hold the ink and only it, splits never share a scan."""

import numpy as np
import pytest
import torch

from camutils.digits import (
    DigitCanvases,
    digit_canvases,
    ink_boxes,
    load_source_digits,
    make_canvases,
    render_canvases,
    split_sources,
)


@pytest.fixture(scope="module")
def rendering():
    images8, labels = load_source_digits()
    g = torch.Generator().manual_seed(3)
    idx = torch.randint(len(images8), (200, 4), generator=g)
    return render_canvases(images8[idx[:, 0]], images8[idx[:, 1:]], seed=5)


def slow_ink_box(layer: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(layer)
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def test_ink_boxes_hand_case_and_loop_reference(rendering):
    m = torch.zeros(2, 1, 6, 7)
    m[0, 0, 2, 3] = 0.5  # a single pixel
    m[1, 0, 0, 0] = m[1, 0, 5, 6] = 1.0  # opposite corners
    assert ink_boxes(m).tolist() == [[3, 2, 3, 2], [0, 0, 6, 5]]
    expected = [slow_ink_box(d[0].numpy()) for d in rendering.digit]
    assert rendering.boxes.tolist() == expected


def test_box_holds_all_of_the_digit_and_nothing_else(rendering):
    r = rendering
    n, _, h, w = r.images.shape
    ys = torch.arange(h).view(1, h, 1)
    xs = torch.arange(w).view(1, 1, w)
    b = r.boxes.view(n, 4, 1, 1)
    inside = (xs >= b[:, 0]) & (xs <= b[:, 2]) & (ys >= b[:, 1]) & (ys <= b[:, 3])
    inside = inside[:, None]
    assert r.digit[~inside].abs().max() == 0  # no ink of the digit outside its box
    # the box is tight: each of its four edges touches ink
    d = r.digit[:, 0] > 0
    idx = torch.arange(n)
    assert d[idx, :, r.boxes[:, 0]].any(1).all() and d[idx, :, r.boxes[:, 2]].any(1).all()
    assert d[idx, r.boxes[:, 1], :].any(1).all() and d[idx, r.boxes[:, 3], :].any(1).all()
    # clutter stays out of the box grown by the 1-pixel margin: inside it the image IS the digit
    grown = ((xs >= b[:, 0] - 1) & (xs <= b[:, 2] + 1) & (ys >= b[:, 1] - 1) & (ys <= b[:, 3] + 1))[
        :, None
    ]
    assert r.clutter[grown].abs().max() == 0
    assert torch.equal(r.images[inside], r.digit[inside])
    assert torch.equal(r.images, torch.maximum(r.digit, r.clutter))
    # clutter is really there (a window can fall on a blank part of a scan, rarely all three)
    assert (r.clutter.flatten(1).amax(1) > 0).float().mean() > 0.9


def test_values_shapes_dtypes():
    c = digit_canvases("train", n=50, seed=1)
    assert isinstance(c, DigitCanvases)
    assert c.images.shape == (50, 1, 56, 56) and c.images.dtype == torch.float32
    assert c.labels.shape == (50,) and c.labels.dtype == torch.long
    assert c.boxes.shape == (50, 4) and c.boxes.dtype == torch.long
    assert c.sources.shape == (50,) and c.sources.dtype == torch.long
    assert 0 <= c.images.min() and c.images.max() <= 1
    assert ((0 <= c.labels) & (c.labels <= 9)).all()
    assert (c.boxes[:, :2] >= 0).all() and (c.boxes[:, 2:] <= 55).all()
    assert (c.boxes[:, 2] >= c.boxes[:, 0]).all() and (c.boxes[:, 3] >= c.boxes[:, 1]).all()
    _, labels = load_source_digits()
    assert torch.equal(c.labels, labels[c.sources])
    # a scan scaled 2.5-3x draws ink only inside its frame of 9 x 3 = 27 pixels, and every
    # digit is at least five source rows (12 pixels) tall
    w = c.boxes[:, 2] - c.boxes[:, 0] + 1
    h = c.boxes[:, 3] - c.boxes[:, 1] + 1
    assert w.max() <= 27 and h.max() <= 27 and h.min() >= 12


def test_splits_are_disjoint_stratified_and_used():
    _, labels = load_source_digits()
    tr, te = split_sources(labels, 0.25, seed=0)
    assert len(set(tr.tolist()) & set(te.tolist())) == 0
    assert sorted(tr.tolist() + te.tolist()) == list(range(len(labels)))
    per_class = torch.bincount(labels[te], minlength=10).float()
    assert torch.allclose(per_class / torch.bincount(labels), torch.full((10,), 0.25), atol=0.01)
    train = digit_canvases("train", n=300, seed=0)
    test = digit_canvases("test", n=300, seed=0)
    assert set(train.sources.tolist()) <= set(tr.tolist())
    assert set(test.sources.tolist()) <= set(te.tolist())
    # another split seed gives another split
    tr2, _ = split_sources(labels, 0.25, seed=1)
    assert not torch.equal(tr, tr2)


def test_clutter_comes_from_other_classes_of_the_pool():
    # scans that give their class away by their grey level: class 0 = 1.0, 1 = 0.5, 2 = 0.75
    levels = torch.tensor([1.0, 0.5, 0.75])
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    images8 = levels[labels].view(-1, 1, 1).expand(-1, 8, 8).clone()
    pool = torch.tensor([0, 1, 2, 3])  # classes 0 and 1 only: class 2 must never appear
    c = make_canvases(images8, labels, pool, 200, clutter=3, seed=0)
    # recover the clutter: everything outside the digit's box
    n = len(c.images)
    ys = torch.arange(56).view(1, 56, 1)
    xs = torch.arange(56).view(1, 1, 56)
    b = c.boxes.view(n, 4, 1, 1)
    inside = (xs >= b[:, 0]) & (xs <= b[:, 2]) & (ys >= b[:, 1]) & (ys <= b[:, 3])
    clutter_max = torch.where(inside, 0.0, c.images[:, 0]).flatten(1).amax(1)
    zeros, ones = c.labels == 0, c.labels == 1
    assert zeros.any() and ones.any()
    assert clutter_max[zeros].max() <= 0.5 + 1e-6  # class-0 canvases: class-1 fragments only
    assert clutter_max[ones].min() >= 0.99  # class-1 canvases: class-0 fragments (level 1.0)


def test_deterministic_for_a_seed():
    a = digit_canvases("test", n=40, seed=7)
    b = digit_canvases("test", n=40, seed=7)
    c = digit_canvases("test", n=40, seed=8)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(a.images, c.images)
    # train and test draw from different streams even with the same seed
    assert not torch.equal(digit_canvases("train", n=40, seed=7).images, a.images)


def test_bad_input_is_refused():
    images8, _ = load_source_digits()
    with pytest.raises(ValueError, match="no guaranteed room"):
        render_canvases(images8[:2], images8[:6].view(2, 3, 8, 8), size=40)
    with pytest.raises(ValueError, match=r"\(N, 8, 8\)"):
        render_canvases(torch.zeros(2, 16, 16), torch.zeros(2, 0, 8, 8))
    with pytest.raises(ValueError, match="without any ink"):
        ink_boxes(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="split"):
        digit_canvases("val", n=2)
