"""CAM's descendants: the identities of a GAP + Linear head, slow references, and agreement with
pytorch-grad-cam and torchcam on the offline EfficientNet-Lite0.

Conventions and tolerances of the agreement tests:

- pytorch-grad-cam returns, per image, ``minmax(resize(minmax(ReLU(map))))`` at the input size
  (cv2 bilinear); the reference here applies its own ``scale_cam_image`` to our map twice, as
  its ``BaseCAM`` does, and compares the ``[0, 1]`` maps to ``2e-3`` (float32 sums in another
  order, over 1280 channels, then a min-max that divides by the map's range).
- torchcam is called with ``normalized=False``: its raw maps are compared to ours to a relative
  ``1e-4`` of the map's largest value.
- Score-CAM: pytorch-grad-cam upsamples with ``align_corners=True`` and normalises after,
  torchcam normalises at the features' resolution and upsamples with ``align_corners=False``
  (``score_cam(normalize=..., align_corners=...)`` reproduces each).
- Grad-CAM++: pytorch-grad-cam adds ``1e-6`` to its denominator (``gradcam_pp(eps=1e-6)``).
- Eigen-CAM: the sign of a singular vector is arbitrary; pytorch-grad-cam's map is compared
  with ours up to that sign.
- torchcam's Grad-CAM++ is not compared: its division by the denominator acts on a copy
  (boolean indexing), so its weights are ``sum g^2 ReLU(g)``; pytorch-grad-cam's is compared.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from camutils import explain as top_level_explain
from camutils.explain import (
    METHODS,
    ablation_cam,
    activations_and_logits,
    cam,
    eigen_cam,
    explain,
    gradcam,
    gradcam_pp,
    layer_cam,
    score_cam,
    xgrad_cam,
)
from camutils.models import CAMModel, LogitsNetwork, load_model
from camutils.saliency import grad_cam


def small_model(seed: int = 0, classes: int = 5) -> CAMModel:
    torch.manual_seed(seed)
    body = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 7, 3, stride=2, padding=1),
        nn.ReLU(),
    )
    return CAMModel(body, nn.Linear(7, classes)).eval()


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet_lite0", device="cpu")


@pytest.fixture(scope="module")
def photos(lite0):
    from camutils.samples import load_sample

    x = lite0.preprocess.batch([load_sample("chelsea"), load_sample("coffee")])
    with torch.no_grad():
        top = lite0(x).logits.argmax(dim=1)
    return x, top


@pytest.fixture(scope="module")
def small_photos(lite0):
    from camutils.models import Preprocess
    from camutils.samples import load_sample

    p = lite0.preprocess
    pre = Preprocess(64, mean=p.mean, std=p.std, interpolation=p.interpolation)
    x = pre.batch([load_sample("chelsea")])
    with torch.no_grad():
        top = lite0(x).logits.argmax(dim=1)
    return x, top


# --------------------------------------------------------------------------- identities
def test_explain_is_exported_and_dispatches_every_method():
    assert top_level_explain is explain
    m = small_model()
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    for name, fn in METHODS.items():
        assert torch.equal(explain(m, x, [1, 4], method=name), fn(m, x, [1, 4])), name
    assert set(METHODS) == {
        "cam", "gradcam", "gradcam++", "xgradcam", "layercam", "scorecam", "ablationcam",
        "eigencam",
    }  # fmt: skip


def test_gap_head_identities_on_the_offline_network(lite0, photos):
    x, top = photos
    with torch.no_grad():
        f = lite0.body(x)
    hw = f.shape[-2] * f.shape[-1]
    m = cam(lite0, x, top)
    assert torch.allclose(m, lite0.cams(f, top.view(-1, 1)))
    scale = float(m.abs().amax())
    tol = 1e-5 * scale
    g = gradcam(lite0, x, top, relu=False)
    assert torch.allclose(g * hw, m, atol=tol), "Grad-CAM without ReLU is CAM / hw"
    xg = xgrad_cam(lite0, x, top, relu=False)
    assert torch.allclose(xg * hw, m, atol=tol), "XGrad-CAM without ReLU is CAM / hw"
    # Layer-CAM at the last features: CAM with the negative weights removed, and >= Grad-CAM.
    w = lite0.head.weight[top].clamp_min(0)  # (B, K)
    expected = torch.einsum("bk,bkhw->bhw", w, f).unsqueeze(1) / hw
    lc = layer_cam(lite0, x, top)
    assert torch.allclose(lc, expected, atol=tol)
    assert bool((lc >= gradcam(lite0, x, top) - tol).all())
    assert not torch.allclose(lc, gradcam(lite0, x, top), atol=tol)  # the ReLU of w matters


def test_gradcam_agrees_with_saliency_grad_cam_on_both_paths(lite0, photos):
    x, top = photos
    ref = grad_cam(lite0, x, top)
    assert torch.allclose(gradcam(lite0, x, top), ref, atol=1e-6)
    via_hook = gradcam(lite0, x, top, layer=lite0.body)  # the whole network, hooked
    assert torch.allclose(via_hook, ref, atol=1e-6)


def test_gradcam_pp_closed_form_on_a_gap_head(lite0, photos):
    x, top = photos
    with torch.no_grad():
        f = lite0.body(x)
    hw = f.shape[-2] * f.shape[-1]
    g = lite0.head.weight.detach()[top] / hw  # (B, K): the constant gradient
    a = g**2 / (2 * g**2 + f.sum(dim=(-2, -1)) * g**3)
    alpha = torch.where(g != 0, a, 0.0) * hw * g.clamp_min(0)
    expected = torch.einsum("bk,bkhw->bhw", alpha, f).clamp_min(0).unsqueeze(1)
    got = gradcam_pp(lite0, x, top)
    assert torch.allclose(got, expected, atol=1e-5 * float(expected.abs().amax()))


def test_ablation_cam_is_the_share_of_the_score_on_a_gap_head(lite0, photos):
    x, top = photos
    with torch.no_grad():
        out = lite0(x)
    f, s = out.features, out.logits.gather(1, top.view(-1, 1))  # (B, 1)
    share = lite0.head.weight[top].detach() * lite0.pooled(f) / s  # w_k^c F_k / S_c
    expected = torch.einsum("bk,bkhw->bhw", share, f).clamp_min(0).unsqueeze(1)
    got = ablation_cam(lite0, x, top, batch_size=500)
    assert torch.allclose(got, expected, atol=1e-5 * float(expected.abs().amax()))


def test_ablation_cam_hook_path_equals_the_head_path_and_a_slow_loop():
    m = small_model()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    fast = ablation_cam(m, x, [0, 3], batch_size=3)
    hooked = ablation_cam(m, x, [0, 3], layer=m.body[3], batch_size=5)
    assert torch.allclose(fast, hooked, atol=1e-6)
    with torch.no_grad():
        out = m(x)
        f = out.features
        ref = torch.zeros_like(fast)
        for b in range(2):
            for j, c in enumerate((0, 3)):
                s = out.logits[b, c]
                for k in range(f.shape[1]):
                    ablated = f[b : b + 1].clone()
                    ablated[:, k] = 0
                    sk = m.head(m.pooled(ablated))[0, c]
                    ref[b, j] += (s - sk) / s * f[b, k]
    assert torch.allclose(fast, ref.clamp_min(0), atol=1e-5)


def test_score_cam_against_a_slow_loop():
    m = small_model(seed=3)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    got = score_cam(m, x, [2, 1], batch_size=4)
    with torch.no_grad():
        f = m(x).features
        ref = torch.zeros_like(got)
        for b in range(2):
            scores = torch.zeros(2, f.shape[1])
            for k in range(f.shape[1]):
                up = nn.functional.interpolate(
                    f[b : b + 1, k : k + 1], size=(8, 8), mode="bilinear"
                )
                h = (up - up.min()) / (up.max() - up.min() + 1e-8)
                scores[:, k] = m(x[b : b + 1] * h).logits[0, [2, 1]]
            weights = scores.softmax(dim=1)
            ref[b] = torch.einsum("nk,khw->nhw", weights, f[b]).clamp_min(0)
    assert torch.allclose(got, ref, atol=1e-5)
    assert torch.allclose(score_cam(m, x, [2, 1], batch_size=1), got, atol=1e-6)


def test_eigen_cam_against_numpy_svd_with_the_sign_rule():
    m = small_model(seed=5)
    x = torch.randn(3, 3, 10, 10, generator=torch.Generator().manual_seed(6))
    got = eigen_cam(m, x, [0], relu=False)
    with torch.no_grad():
        f = m(x).features.double().numpy()
    for b in range(3):
        a = f[b].reshape(f.shape[1], -1).T
        a = a - a.mean(axis=0)
        _, _, vt = np.linalg.svd(a)
        proj = a @ vt[0]
        if proj @ f[b].mean(axis=0).ravel() < 0:
            proj = -proj
        np.testing.assert_allclose(got[b, 0].flatten().numpy(), proj, atol=1e-4)
    assert torch.equal(eigen_cam(m, x, [0, 1])[:, 1], eigen_cam(m, x, [3])[:, 0])


def test_layer_cam_at_an_inner_layer_differs_from_grad_cam_and_is_finer(lite0, photos):
    x, top = photos
    inner = lite0.body.blocks[4]
    lc = layer_cam(lite0, x, top, layer=inner)
    gc = gradcam(lite0, x, top, layer=inner)
    assert lc.shape[-1] == 14 and gc.shape == lc.shape  # 224 / 16
    assert bool((lc >= 0).all()) and lc.amax() > 0
    assert not torch.allclose(lc / lc.amax(), gc / gc.amax().clamp_min(1e-12), atol=1e-2)


def test_errors_say_what_was_expected():
    m = small_model()
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="method must be one of"):
        explain(m, x, [0], method="gradcam+++")
    with pytest.raises(ValueError, match="training mode"):
        gradcam(small_model().train(), x, [0])
    with pytest.raises(ValueError, match=r"float \(B, 3, H, W\)"):
        cam(m, torch.zeros(3, 8, 8), [0])
    with pytest.raises(TypeError, match="CAMModel"):
        gradcam(nn.Sequential(nn.Conv2d(3, 2, 1), nn.Flatten()).eval(), x, [0])
    with pytest.raises(ValueError, match="not a submodule"):
        gradcam(m, x, [0], layer=nn.ReLU())
    with pytest.raises(ValueError, match="batch_size"):
        score_cam(m, x, [0], batch_size=0)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        layer_cam(m, x, [7])


def test_any_network_with_a_layer():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)
    ).eval()
    x = torch.randn(2, 3, 7, 7)
    acts, logits = activations_and_logits(net, x, layer=net[1])
    assert acts.requires_grad and torch.allclose(logits, net(x))
    wrapped = CAMModel(net[:2], net[4]).eval()
    for name in ("gradcam", "gradcam++", "xgradcam", "layercam", "scorecam", "ablationcam"):
        got = explain(net, x, [2], method=name, layer=net[1])
        assert torch.allclose(got, explain(wrapped, x, [2], method=name), atol=1e-5), name


# --------------------------------------------------------------------------- pytorch-grad-cam
def pgc_reference(maps: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """pytorch-grad-cam's post-processing of one layer's map (BaseCAM)."""
    from pytorch_grad_cam.utils.image import scale_cam_image

    cam_np = np.maximum(maps[:, 0].detach().numpy(), 0)
    return scale_cam_image(np.maximum(scale_cam_image(cam_np, size[::-1]), 0))


def pgc_maps(cls, model: CAMModel, x: torch.Tensor, top: torch.Tensor, **kw) -> np.ndarray:
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    net = LogitsNetwork(model).eval()
    with cls(model=net, target_layers=[model.body], **kw) as extractor:
        return extractor(x, targets=[ClassifierOutputTarget(int(c)) for c in top])


@pytest.mark.parametrize(
    "name, cls_name",
    [("gradcam", "GradCAM"), ("gradcam++", "GradCAMPlusPlus"), ("xgradcam", "XGradCAM"),
     ("layercam", "LayerCAM")],
)  # fmt: skip
def test_gradient_methods_agree_with_pytorch_grad_cam(lite0, photos, name, cls_name):
    pgc = pytest.importorskip("pytorch_grad_cam")
    x, top = photos
    theirs = pgc_maps(getattr(pgc, cls_name), lite0, x, top)
    options = {"eps": 1e-6} if name == "gradcam++" else {}  # pytorch-grad-cam's stabiliser
    ours = pgc_reference(explain(lite0, x, top, method=name, **options), x.shape[-2:])
    np.testing.assert_allclose(ours, theirs, atol=2e-3)


def test_score_ablation_eigen_agree_with_pytorch_grad_cam(lite0, small_photos):
    pgc = pytest.importorskip("pytorch_grad_cam")
    x, top = small_photos
    size = x.shape[-2:]
    theirs = pgc_maps(pgc.ScoreCAM, lite0, x, top)
    ours = score_cam(lite0, x, top, batch_size=128, align_corners=True)
    np.testing.assert_allclose(pgc_reference(ours, size), theirs, atol=2e-3)
    theirs = pgc_maps(pgc.AblationCAM, lite0, x, top, batch_size=640)
    np.testing.assert_allclose(pgc_reference(ablation_cam(lite0, x, top), size), theirs, atol=2e-3)
    theirs = pgc_maps(pgc.EigenCAM, lite0, x, top)
    signed = eigen_cam(lite0, x, top, relu=False)
    errors = [np.abs(pgc_reference(s * signed, size) - theirs).max() for s in (1, -1)]
    assert min(errors) < 2e-3


# --------------------------------------------------------------------------- torchcam
@pytest.mark.parametrize(
    "name, cls_name", [("gradcam", "GradCAM"), ("xgradcam", "XGradCAM"), ("layercam", "LayerCAM")]
)
def test_gradient_methods_agree_with_torchcam(lite0, photos, name, cls_name):
    methods = pytest.importorskip("torchcam.methods")
    x, top = photos
    net = LogitsNetwork(lite0).eval()
    with getattr(methods, cls_name)(net, target_layer=lite0.body, input_shape=x.shape[1:]) as ext:
        scores = net(x)
        (theirs,) = ext(top.tolist(), scores, normalized=False)
    ours = explain(lite0, x, top, method=name)[:, 0]
    assert torch.allclose(ours, theirs.detach(), atol=1e-4 * float(ours.abs().amax()))


def test_cam_and_score_cam_agree_with_torchcam(lite0, small_photos):
    methods = pytest.importorskip("torchcam.methods")
    x, top = small_photos
    net = LogitsNetwork(lite0).eval()
    with methods.CAM(
        net, target_layer=lite0.body, fc_layer=lite0.head, input_shape=x.shape[1:]
    ) as e:
        with torch.no_grad():
            scores = net(x)
        (theirs,) = e(top.tolist(), scores, normalized=False)
    ours = cam(lite0, x, top)[:, 0]
    assert torch.allclose(ours.clamp_min(0), theirs, atol=1e-4 * float(ours.abs().amax()))
    with methods.ScoreCAM(
        net, target_layer=lite0.body, batch_size=128, input_shape=x.shape[1:]
    ) as e:
        with torch.no_grad():
            scores = net(x)
        (theirs,) = e(top.tolist(), scores, normalized=False)
    ours = score_cam(lite0, x, top, batch_size=128, normalize="before")[:, 0]
    assert torch.allclose(ours, theirs, atol=1e-4 * float(ours.abs().amax()))
