"""Plotting helpers: the overlay is the stated blend, in range; grids and boxes draw."""

import matplotlib

matplotlib.use("Agg")  # tests only; notebooks keep the inline backend

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from camutils.viz import cam_grid, draw_boxes, overlay, to_numpy_image


def test_overlay_is_the_stated_blend_and_stays_in_range():
    img = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    cam = torch.rand(5, 5)
    assert np.allclose(overlay(img, cam, alpha=0.0), img / 255.0)
    heat = overlay(img, cam, alpha=1.0)
    assert heat.shape == (20, 30, 3)
    mid = overlay(img, cam, alpha=0.4)
    assert np.allclose(mid, 0.6 * img / 255.0 + 0.4 * heat, atol=1e-6)
    assert mid.min() >= 0 and mid.max() <= 1
    with pytest.raises(ValueError, match="alpha"):
        overlay(img, cam, alpha=1.5)


def test_overlay_peak_follows_the_cam():
    img = np.zeros((64, 64, 3), np.uint8)
    cam = torch.zeros(8, 8)
    cam[1, 6] = 1.0  # top right
    red = overlay(img, cam, alpha=1.0, cmap="jet")[..., 0]
    y, x = np.unravel_index(red.argmax(), red.shape)
    assert y < 20 and x > 44


def test_to_numpy_image_accepts_pil_tensor_and_gray():
    pil = Image.new("L", (4, 3), 128)
    assert to_numpy_image(pil).shape == (3, 4, 3)
    t = torch.full((3, 3, 4), 7, dtype=torch.uint8)
    assert (to_numpy_image(t) == 7).all()
    assert to_numpy_image(np.zeros((3, 4))).shape == (3, 4, 3)


def test_cam_grid_and_boxes_draw():
    img = np.zeros((32, 32, 3), np.uint8)
    fig = cam_grid(img, torch.rand(3, 4, 4), ["a", "b", "c"], [0.5, 0.3, 0.2], ncols=2)
    assert len(fig.axes) == 4 and fig.axes[1].get_title() == "a 0.50"
    _, ax = plt.subplots()
    draw_boxes(ax, torch.tensor([[2, 3, 10, 12]]), labels=["x"])
    (rect,) = ax.patches
    assert rect.get_width() == 9 and rect.get_height() == 10  # inclusive: xmax - xmin + 1
    plt.close("all")
    with pytest.raises(ValueError, match="one label each"):
        cam_grid(img, torch.rand(3, 4, 4), ["a"])


def test_cam_architecture_draws_the_toy_and_refuses_bad_shapes():
    from camutils.viz import cam_architecture

    f = np.random.default_rng(0).random((3, 4, 4))
    w = np.array([[0.3, 0.5, 0.1], [0.4, 0.6, 0.8]])
    fig = cam_architecture(f, w, ["Dog", "Cat"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    S = w @ f.mean(axis=(1, 2))
    assert f"{S[1]:.3f}" in texts  # S_c printed in its box
    assert any(t.startswith(f"mean {S[0]:.3f}") for t in texts)  # mean of M_c under the map
    assert len(fig.axes[0].images) == 3 + 2  # K feature maps and C class maps
    plt.close(fig)
    with pytest.raises(ValueError, match=r"\(C, K\)"):
        cam_architecture(f, w.T)
    with pytest.raises(ValueError, match="small"):
        cam_architecture(np.ones((9, 2, 2)), np.ones((2, 9)))


def test_diverging_limits_are_symmetric():
    from camutils.viz import diverging_limits

    assert diverging_limits(torch.tensor([[-2.0, 0.5]])) == (-2.0, 2.0)
    assert diverging_limits(np.zeros(3)) == (-1.0, 1.0)


def test_overlay_with_symmetric_limits_puts_zero_at_the_middle_colour():
    img = np.zeros((4, 4, 3), np.uint8)
    cam = torch.tensor([[-2.0, 0.0], [1.0, 2.0]])
    out = overlay(img, cam, alpha=1.0, cmap="RdBu_r", limits=(-2.0, 2.0))
    middle = plt.get_cmap("RdBu_r")(0.5)[:3]
    zero = overlay(img, torch.zeros(2, 2), alpha=1.0, cmap="RdBu_r", limits=(-2.0, 2.0))
    assert np.allclose(zero, middle, atol=1e-6)  # 0 is the neutral colour, not the bottom
    assert out[0, 0, 2] > out[0, 0, 0] and out[-1, -1, 0] > out[-1, -1, 2]  # blue low, red high
    with pytest.raises(ValueError, match="limits"):
        overlay(img, cam, limits=(1.0, 1.0))
    fig = cam_grid(img, cam[None].expand(2, 2, 2), ["a", "b"], cmap="RdBu_r", limits=(-2, 2))
    assert len(fig.axes) == 3 + 1  # the photo, two maps and the colour bar
    plt.close(fig)
