"""The CAM mathematics: the seed's toy numbers, the paper's identity, a slow reference."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from camutils.cam import (
    class_activation_maps,
    class_scores_from_cams,
    normalize_cams,
    upsample_cams,
)

# The toy of notebook 01: three 4x4 units, Dog (0.3, 0.5, 0.1) and Cat (0.4, 0.6, 0.8).
TOY_F = torch.tensor(
    [
        [[1, 2, 0, 0], [2, 4, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]],
        [[0, 0, 0, 0], [0, 1, 3, 1], [0, 3, 5, 2], [0, 1, 2, 0]],
        [[0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 2, 4], [0, 1, 4, 6]],
    ],
    dtype=torch.float64,
).unsqueeze(0)
TOY_W = torch.tensor([[0.3, 0.5, 0.1], [0.4, 0.6, 0.8]], dtype=torch.float64)


def test_toy_values_match_hand_arithmetic():
    cams = class_activation_maps(TOY_F, TOY_W)
    # F_k = (11, 18, 18) / 16
    assert torch.allclose(
        TOY_F.mean(dim=(2, 3)), torch.tensor([[11.0, 18.0, 18.0]], dtype=torch.float64) / 16
    )
    # S_1 = 0.3*11/16 + 0.5*18/16 + 0.1*18/16 = 14.1/16; S_2 = (4.4 + 10.8 + 14.4)/16 = 29.6/16
    scores = class_scores_from_cams(cams)
    assert torch.allclose(scores, torch.tensor([[0.88125, 1.85]], dtype=torch.float64))
    assert torch.allclose(class_scores_from_cams(cams, reduction="sum"), 16 * scores)
    # M_2 at the bottom-right corner: 0.4*0 + 0.6*0 + 0.8*6 = 4.8; M_1 at (1, 1): 0.3*4 + 0.5*1
    assert cams[0, 1, 3, 3].item() == pytest.approx(4.8)
    assert cams[0, 0, 1, 1].item() == pytest.approx(1.7)
    p = scores.softmax(-1)
    assert p[0, 0].item() == pytest.approx(np.exp(0.88125) / (np.exp(0.88125) + np.exp(1.85)))


def _slow_cams(f, w, classes):
    b, k, h, wd = f.shape
    out = torch.zeros(b, classes.shape[1], h, wd, dtype=f.dtype)
    for i in range(b):
        for j, c in enumerate(classes[i]):
            for kk in range(k):
                out[i, j] += w[c, kk] * f[i, kk]
    return out


def test_identity_score_is_mean_of_cam_plus_bias():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(3, 16, 5, 6, generator=g, dtype=torch.float64)
    head = torch.nn.Linear(16, 10).double()
    logits = head(f.mean(dim=(2, 3)))
    cams = class_activation_maps(f, head.weight)
    assert torch.allclose(class_scores_from_cams(cams, head.bias), logits)


@pytest.mark.parametrize("spec", ["int", "list", "tensor"])
def test_class_specs_agree_with_slow_loop(spec):
    g = torch.Generator().manual_seed(1)
    f = torch.randn(4, 6, 3, 3, generator=g, dtype=torch.float64)
    w = torch.randn(7, 6, generator=g, dtype=torch.float64)
    if spec == "int":
        classes, idx = 3, torch.full((4, 1), 3)
    elif spec == "list":
        classes, idx = [6, 0], torch.tensor([[6, 0]] * 4)
    else:
        classes = idx = torch.randint(0, 7, (4, 5), generator=g)
    got = class_activation_maps(f, w, classes)
    assert torch.allclose(got, _slow_cams(f, w, idx))
    assert torch.allclose(
        class_activation_maps(f, w)[:, idx[0]], _slow_cams(f, w, idx[:1].expand(4, -1))
    )


def test_dtype_promotion_and_device_kept():
    f = torch.randn(1, 4, 2, 2).half()
    w = torch.randn(3, 4)
    out = class_activation_maps(f, w, [0])
    assert out.dtype == torch.float32 and out.device == f.device


@pytest.mark.parametrize(
    "f_shape, w_shape, classes, match",
    [
        ((4, 2, 2), (3, 4), None, "features must be"),
        ((1, 4, 2, 2), (3, 5), None, "weight must be"),
        ((1, 4, 2, 2), (3, 4), [3], "must lie in"),
        ((1, 4, 2, 2), (3, 4), [-1], "must lie in"),
        ((2, 4, 2, 2), (3, 4), torch.zeros(3, 1, dtype=torch.long), "B = 2"),
    ],
)
def test_bad_input_is_explained(f_shape, w_shape, classes, match):
    with pytest.raises(ValueError, match=match):
        class_activation_maps(torch.zeros(f_shape), torch.zeros(w_shape), classes)


def test_float_class_indices_refused():
    with pytest.raises(TypeError, match="integer"):
        class_activation_maps(torch.zeros(1, 4, 2, 2), torch.zeros(3, 4), torch.tensor([0.0]))


def test_normalize_minmax_against_numpy():
    g = torch.Generator().manual_seed(2)
    cams = torch.randn(2, 3, 5, 7, generator=g)
    got = normalize_cams(cams).numpy()
    a = cams.numpy()
    lo = a.min(axis=(2, 3), keepdims=True)
    hi = a.max(axis=(2, 3), keepdims=True)
    assert np.allclose(got, (a - lo) / (hi - lo), atol=1e-6)
    assert np.allclose(got.min(axis=(2, 3)), 0) and np.allclose(got.max(axis=(2, 3)), 1)


def test_normalize_max_clips_negative_evidence():
    cams = torch.tensor([[[[-2.0, 0.0], [1.0, 4.0]]]])
    assert torch.allclose(normalize_cams(cams, "max"), torch.tensor([[[[0.0, 0.0], [0.25, 1.0]]]]))


def test_constant_maps_give_zeros_not_nan():
    cams = torch.stack([torch.full((3, 3), 2.5), torch.full((3, 3), -1.0), torch.zeros(3, 3)])
    out = normalize_cams(cams[None], "minmax")
    assert torch.isfinite(out).all() and (out == 0).all()


def test_max_method_on_non_positive_and_constant_maps():
    cams = torch.stack([torch.full((3, 3), -1.0), torch.zeros(3, 3), torch.full((3, 3), 2.5)])
    out = normalize_cams(cams[None], "max")
    assert torch.isfinite(out).all()
    assert (out[0, :2] == 0).all()  # nothing positive: nothing to localise
    assert (out[0, 2] == 1).all()  # every location is at the (positive) maximum


def test_normalize_bad_method():
    with pytest.raises(ValueError, match="minmax"):
        normalize_cams(torch.zeros(1, 1, 2, 2), "softmax")


def test_upsample_matches_interpolate_and_keeps_height_first():
    cams = torch.randn(2, 3, 7, 7)
    up = upsample_cams(cams, (224, 300))
    assert up.shape == (2, 3, 224, 300)
    ref = F.interpolate(cams, size=(224, 300), mode="bilinear", align_corners=False)
    assert torch.equal(up, ref)
    near = upsample_cams(cams, 14, mode="nearest")
    assert torch.equal(near[..., ::2, ::2], cams)


def test_normalising_before_or_after_bilinear_upsampling_nearly_agree():
    # Bilinear values stay between the cell values, but the extremes of the 7x7 map fall between
    # output pixels, so the two orders differ slightly (camutils upsamples first).
    cams = torch.randn(1, 2, 7, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    a = normalize_cams(upsample_cams(cams, 224))
    b = upsample_cams(normalize_cams(cams), 224)
    assert 0 < (a - b).abs().max() < 0.05
    assert torch.equal(a.flatten(2).argmax(-1), b.flatten(2).argmax(-1))
    assert a.amax() == 1 and b.amax() < 1  # only normalising last reaches exactly 1


def test_a_1d_tensor_is_one_class_per_image_everywhere():
    """(B,) tensor: one class per image (cam, saliency, wsol alike); a list: the same classes
    for every image; (B, n): n per image."""
    from camutils.saliency import gradient_saliency

    g = torch.Generator().manual_seed(3)
    f = torch.randn(3, 6, 4, 4, generator=g, dtype=torch.float64)
    w = torch.randn(5, 6, generator=g, dtype=torch.float64)
    per_image = torch.tensor([4, 0, 2])
    got = class_activation_maps(f, w, per_image)
    assert got.shape == (3, 1, 4, 4)
    assert torch.equal(got, class_activation_maps(f, w, per_image[:, None]))
    assert torch.allclose(got, _slow_cams(f, w, per_image[:, None]))
    assert class_activation_maps(f, w, [4, 0, 2]).shape == (3, 3, 4, 4)  # a list: all three each
    with pytest.raises(ValueError, match="one class per image: 3 expected, found 2"):
        class_activation_maps(f, w, torch.tensor([1, 2]))
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 5)).eval()
    x = torch.rand(3, 3, 4, 4, generator=g)
    sal = gradient_saliency(net, x, per_image)
    assert sal.shape == (3, 1, 4, 4)
    assert torch.equal(sal, gradient_saliency(net, x, per_image[:, None]))
