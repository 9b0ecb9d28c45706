"""Values of the three baseline explanations: hand-worked cases, slow references, paper identities."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from camutils.models import CAMModel, CAMOutput
from camutils.saliency import (
    grad_cam,
    gradient_saliency,
    grid_segments,
    lime_superpixels,
    occlusion,
    occlusion_to_pixels,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Linear(nn.Module):
    """``S_c = sum_{ch,i,j} W[c, ch, i, j] x[ch, i, j] + b_c``: gradients and occlusion by hand."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias if bias is not None else torch.zeros(weight.shape[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bchw,kchw->bk", x, self.weight) + self.bias


def _small_cam_model(pool: str = "avg", classes: int = 6, seed: int = 0) -> CAMModel:
    torch.manual_seed(seed)
    body = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 12, 3, stride=2, padding=1),
        nn.ReLU(),
    )
    model = CAMModel(body, nn.Linear(12, classes), pool=pool)
    with torch.no_grad():  # non-trivial BatchNorm statistics
        model.body[1].running_mean.uniform_(-0.5, 0.5)
        model.body[1].running_var.uniform_(0.5, 2.0)
    return model.eval()


# --------------------------------------------------------------------------- gradient saliency
def test_gradient_saliency_of_a_linear_model_is_max_abs_weight():
    w = torch.randn(4, 3, 5, 6, generator=_gen())
    net = Linear(w).eval()
    x = torch.randn(3, 3, 5, 6, generator=_gen(1))
    sal = gradient_saliency(net, x, [2, 0])
    expected = w[[2, 0]].abs().amax(dim=1)  # (2, 5, 6), the same for every image
    assert sal.shape == (3, 2, 5, 6)
    torch.testing.assert_close(sal, expected.expand(3, -1, -1, -1))


def test_gradient_saliency_hand_worked_square():
    class Square(nn.Module):  # S_0 = x[0, 1, 2]^2, S_1 = -3 x[2, 0, 0]
        def forward(self, x):
            return torch.stack([x[:, 0, 1, 2] ** 2, -3 * x[:, 2, 0, 0]], dim=1)

    x = torch.zeros(1, 3, 3, 4)
    x[0, 0, 1, 2] = -1.5
    sal = gradient_saliency(Square().eval(), x, [0, 1])
    expected = torch.zeros(1, 2, 3, 4)
    expected[0, 0, 1, 2] = 3.0  # |2 x|
    expected[0, 1, 0, 0] = 3.0
    torch.testing.assert_close(sal, expected)


def test_gradient_saliency_matches_per_image_loop_on_a_cam_model():
    model = _small_cam_model()
    x = torch.randn(4, 3, 10, 10, generator=_gen(2))
    classes = torch.tensor([[0, 5], [3, 3], [1, 2], [4, 0]])
    sal = gradient_saliency(model, x, classes)
    for b in range(4):
        for j in range(2):
            xb = x[b : b + 1].clone().requires_grad_(True)
            model(xb).logits[0, classes[b, j]].backward()
            torch.testing.assert_close(sal[b, j], xb.grad[0].abs().amax(dim=0))


def test_gradient_saliency_class_forms_and_side_effects():
    model = _small_cam_model()
    x = torch.randn(3, 3, 8, 8, generator=_gen(3))
    x_before = x.clone()
    full = gradient_saliency(model, x, torch.tensor([[1], [4], [2]]))
    per_image = gradient_saliency(model, x, torch.tensor([1, 4, 2]))  # (B,): one per image
    torch.testing.assert_close(full, per_image)
    shared = gradient_saliency(model, x, 4)
    assert shared.shape == (3, 1, 8, 8)
    torch.testing.assert_close(shared[1], full[1])
    with torch.no_grad():  # works inside no_grad: gradients are enabled locally
        torch.testing.assert_close(gradient_saliency(model, x, 4), shared)
    assert all(p.grad is None for p in model.parameters())
    assert not x.requires_grad and torch.equal(x, x_before)


def test_gradient_saliency_errors():
    model = _small_cam_model()
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match="eval"):
        gradient_saliency(model.train(), x, 0)
    model.eval()
    with pytest.raises(ValueError, match="B, 3, H, W"):
        gradient_saliency(model, x[0], 0)
    with pytest.raises(ValueError, match="class indices"):
        gradient_saliency(model, x, 6)
    with pytest.raises(ValueError, match="logits"):
        gradient_saliency(nn.Identity().eval(), x, 0)


# --------------------------------------------------------------------------- Grad-CAM
@pytest.mark.parametrize("pool", ["avg", "max"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grad_cam_without_relu_is_cam_over_hw_on_random_models(pool, seed):
    model = _small_cam_model(pool, seed=seed)
    x = torch.randn(3, 3, 12, 10, generator=_gen(seed))
    classes = torch.tensor([[0, 1, 5], [2, 2, 3], [4, 0, 1]])
    g = grad_cam(model, x, classes, relu=False)
    with torch.no_grad():
        feats = model(x).features
    h, w = feats.shape[-2:]
    assert g.shape == (3, 3, h, w)
    cams = model.cams(feats, classes)
    torch.testing.assert_close(g * (h * w), cams, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_cam(model, x, classes), (cams / (h * w)).clamp_min(0))


def test_grad_cam_equals_cam_on_the_offline_network():
    from camutils.models import load_model
    from camutils.samples import load_sample

    model = load_model(device="cpu")
    x = model.preprocess.batch([load_sample("china"), load_sample("chelsea")])
    top = model.top_cams(x, k=5)
    g = grad_cam(model, x, top.classes, relu=False)
    h, w = top.cams.shape[-2:]
    scale = top.cams.abs().amax()
    torch.testing.assert_close(g * (h * w), top.cams, rtol=1e-4, atol=1e-5 * float(scale))
    assert all(p.grad is None for p in model.parameters())


class FlattenFC(nn.Module):
    """A conv body and a flatten + FC head: Grad-CAM's alpha is the mean of the FC weights."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(5 * 6 * 6, 4)

    def forward(self, x):
        f = self.body(x)
        return CAMOutput(self.fc(f.flatten(1)), f)


def test_grad_cam_on_a_flatten_fc_head_matches_the_analytic_gradient():
    net = FlattenFC().eval()
    x = torch.randn(2, 3, 6, 6, generator=_gen(5))
    g = grad_cam(net, x, [3, 1], relu=False)
    f = net(x).features.detach()
    alpha = net.fc.weight.detach().view(4, 5, 6, 6).mean(dim=(-2, -1))  # dS_c/df_k averaged
    expected = torch.einsum("nk,bkhw->bnhw", alpha[[3, 1]], f)
    torch.testing.assert_close(g, expected)


def test_grad_cam_errors():
    net = Linear(torch.randn(2, 3, 4, 4)).eval()
    with pytest.raises(ValueError, match="features"):
        grad_cam(net, torch.randn(1, 3, 4, 4), 0)
    with pytest.raises(ValueError, match="eval"):
        grad_cam(_small_cam_model().train(), torch.randn(1, 3, 8, 8), 0)


# --------------------------------------------------------------------------- occlusion
class OnePatch(nn.Module):
    """Looks only at rows 8..15, columns 16..23: S_0 = sum of the patch, S_1 = minus it."""

    def forward(self, x):
        s = x[:, :, 8:16, 16:24].sum(dim=(1, 2, 3))
        return torch.stack([s, -s, torch.zeros_like(s)], dim=1)


def test_occlusion_of_a_one_patch_model_peaks_on_that_patch():
    x = torch.rand(2, 3, 32, 32, generator=_gen(6)) + 0.5  # positive everywhere
    occ = occlusion(OnePatch().eval(), x, [0, 1, 2], patch=8, stride=4)
    assert occ.shape == (2, 3, 7, 7)
    flat = occ[:, 0].flatten(1)
    assert flat.argmax(dim=1).tolist() == [2 * 7 + 4] * 2  # top-left (8, 16) = (2, 4) * 4
    torch.testing.assert_close(occ[:, 0, 2, 4], x[:, :, 8:16, 16:24].sum(dim=(1, 2, 3)))
    torch.testing.assert_close(occ[:, 1], -occ[:, 0])
    assert occ[:, 2].abs().max() == 0
    # patches that do not touch rows 8..15 x cols 16..23 change nothing
    assert occ[:, 0, 0, :].abs().max() == 0 and occ[:, 0, :, 0:2].abs().max() == 0
    assert (occ[:, 0, 1:4, 3:6] > 0).all()


def test_occlusion_of_a_linear_model_is_a_windowed_sum():
    w = torch.randn(3, 3, 20, 18, generator=_gen(7))
    net = Linear(w, torch.randn(3, generator=_gen(8))).eval()
    x = torch.randn(2, 3, 20, 18, generator=_gen(9))
    colour = torch.tensor([0.5, -1.0, 2.0])
    occ = occlusion(
        net, x, torch.tensor([[0, 2], [1, 1]]), patch=(6, 4), stride=(3, 5), baseline=colour
    )
    # drop = sum over the patch of W_c * (x - baseline)
    for b, cls in enumerate([[0, 2], [1, 1]]):
        for j, c in enumerate(cls):
            prod = (w[c] * (x[b] - colour.view(3, 1, 1))).sum(0, keepdim=True)[None]
            expected = F.avg_pool2d(prod, (6, 4), (3, 5))[0, 0] * 24
            torch.testing.assert_close(occ[b, j], expected, rtol=1e-4, atol=1e-4)
    assert occ.shape == (2, 2, 5, 3)  # (20 - 6) // 3 + 1, (18 - 4) // 5 + 1


def test_occlusion_probability_target_matches_a_slow_loop_and_chunking_is_invisible():
    model = _small_cam_model()
    x = torch.randn(2, 3, 12, 12, generator=_gen(10))
    img_baseline = torch.randn(2, 3, 12, 12, generator=_gen(11))
    fast = occlusion(model, x, [2, 4], patch=5, stride=3, baseline=img_baseline, target="prob")
    other = occlusion(model, x, [2, 4], 5, 3, img_baseline, "prob", chunk_size=1)
    torch.testing.assert_close(fast, other)
    with torch.no_grad():
        ref = model(x).logits.softmax(-1)[:, [2, 4]]
        for i in range(3):
            for j in range(3):
                xo = x.clone()
                sl = (slice(None), slice(None), slice(3 * i, 3 * i + 5), slice(3 * j, 3 * j + 5))
                xo[sl] = img_baseline[sl]
                p = model(xo).logits.softmax(-1)[:, [2, 4]]
                torch.testing.assert_close(fast[:, :, i, j], ref - p)


def test_occlusion_errors():
    net = OnePatch().eval()
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="larger"):
        occlusion(net, x, 0, patch=20)
    with pytest.raises(ValueError, match="baseline"):
        occlusion(net, x, 0, patch=4, baseline=torch.zeros(2))
    with pytest.raises(ValueError, match="target"):
        occlusion(net, x, 0, patch=4, target="softmax")


def test_occlusion_to_pixels_hand_worked():
    grid = torch.tensor([[[[1.0, 3.0]]]])  # two patches of width 4, stride 2, in a 1x6... row
    pix = occlusion_to_pixels(grid, (4, 7), patch=4, stride=2)
    # columns 0-1: patch 0 only; 2-3: both; 4-5: patch 1 only; 6: none
    torch.testing.assert_close(pix[0, 0, 0], torch.tensor([1.0, 1, 2, 2, 3, 3, 0]))
    assert pix.shape == (1, 1, 4, 7) and torch.equal(pix[0, 0, 0], pix[0, 0, 3])
    with pytest.raises(ValueError, match="does not fit"):
        occlusion_to_pixels(grid, (4, 5), patch=4, stride=2)


# --------------------------------------------------------------------------- LIME-style
def test_lime_recovers_the_superpixel_contributions_of_a_linear_model():
    w = torch.randn(2, 3, 8, 8, generator=_gen(12))
    net = Linear(w, torch.tensor([0.3, -0.2])).eval()
    x = torch.randn(2, 3, 8, 8, generator=_gen(13))
    seg = torch.stack([grid_segments(8, 8, 2), grid_segments(8, 8, (2, 4))])  # 4 and 8 segments
    maps = lime_superpixels(
        net, x, [1, 0], seg, num_samples=64, ridge=1e-9, generator=_gen(14), chunk_size=7
    )
    # a linear model is exactly linear in z: beta_s = sum over superpixel s of W_c * x
    contrib = torch.einsum("bchw,kchw->bkhw", x, w)  # (B, C, H, W) per-pixel W_c * x
    for b in range(2):
        for j, c in enumerate([1, 0]):
            for s in range(int(seg[b].max()) + 1):
                region = seg[b] == s
                assert torch.allclose(maps[b, j][region], contrib[b, c][region].sum(), atol=1e-4)


def test_lime_is_reproducible_with_a_generator_and_checks_segments():
    model = _small_cam_model()
    x = torch.randn(1, 3, 8, 8, generator=_gen(15))
    seg = grid_segments(8, 8, 4)
    a = lime_superpixels(model, x, [0, 3], seg, num_samples=40, generator=_gen(1))
    b = lime_superpixels(model, x, [0, 3], seg, num_samples=40, generator=_gen(1))
    assert a.shape == (1, 2, 8, 8) and torch.equal(a, b)
    with pytest.raises(ValueError, match="segments"):
        lime_superpixels(model, x, 0, seg[:4], num_samples=8)
    with pytest.raises(TypeError, match="integer"):
        lime_superpixels(model, x, 0, seg.float(), num_samples=8)


def test_grid_segments_labels_cover_the_image_evenly():
    seg = grid_segments(7, 10, (2, 5))
    assert seg.shape == (7, 10)
    assert torch.bincount(seg.flatten()).tolist() == [8] * 5 + [6] * 5


# --------------------------------------------------------------------------- on the GPU
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_all_maps_on_cuda_stay_there_and_equal_the_cpu():
    cuda = torch.device("cuda")
    model = _small_cam_model().double()  # float64: no TF32, so CPU and GPU agree closely
    x = torch.randn(3, 3, 12, 12, generator=_gen(20), dtype=torch.float64)
    classes = torch.tensor([[0, 5], [3, 1], [2, 2]])
    gpu_model = _small_cam_model().double().to(cuda)
    xg, cg = x.to(cuda), classes.to(cuda)
    pairs = [
        (gradient_saliency(gpu_model, xg, cg), gradient_saliency(model, x, classes)),
        (grad_cam(gpu_model, xg, cg, relu=False), grad_cam(model, x, classes, relu=False)),
        (occlusion(gpu_model, xg, cg, 4, 2, 0.5), occlusion(model, x, classes, 4, 2, 0.5)),
    ]
    for gpu, cpu in pairs:
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-7, atol=1e-9)
    w = torch.randn(2, 3, 8, 8, generator=_gen(21)).to(cuda)
    x8 = torch.randn(1, 3, 8, 8, generator=_gen(22)).to(cuda)
    seg = grid_segments(8, 8, 2, device=cuda)
    gen = torch.Generator(device=cuda).manual_seed(0)
    maps = lime_superpixels(Linear(w).eval().to(cuda), x8, 1, seg, 64, ridge=1e-9, generator=gen)
    contrib = (w[1] * x8[0]).sum(0)
    expected = torch.zeros_like(contrib)
    for s in range(4):
        expected[seg == s] = contrib[seg == s].sum()
    assert maps.device.type == "cuda"
    torch.testing.assert_close(maps[0, 0], expected, rtol=1e-3, atol=1e-3)


def test_lrp_relevance_on_a_small_cnn_and_refusals():
    from camutils.models import load_model
    from camutils.saliency import lrp
    from camutils.wsol import make_net

    net = make_net("gap", seed=0).eval()
    x = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    R = lrp(net, x, torch.tensor([[1, 2], [3, 4], [5, 6]]))
    assert R.shape == (3, 2, 32, 32) and torch.isfinite(R).all()
    assert not any(p.grad is not None for p in net.parameters())  # .grad left alone
    # the relevance of one class column equals the map computed for that class alone
    assert torch.allclose(R[:, 1], lrp(net, x, torch.tensor([[2], [4], [6]]))[:, 0], atol=1e-6)
    # BatchNorm is back in place after the canonizer merged it for the pass
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.body.modules())
    with pytest.raises(ValueError, match="LRP is not supported"):
        lrp(load_model(weights=False, device="cpu"), torch.rand(1, 3, 64, 64), 0)
    with pytest.raises(ValueError, match="rule"):
        lrp(net, x, 0, rule="alpha_beta")
