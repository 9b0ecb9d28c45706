"""The body/head split: logits equal the original forward, S_c = mean M_c + b_c, the offline model."""

import pytest
import timm
import torch
import torchvision.models as tvm
from PIL import Image
from torch import nn

from camutils.cam import class_scores_from_cams
from camutils.models import (
    TORCHVISION_MODELS,
    CAMModel,
    Preprocess,
    from_timm,
    from_torchvision,
    load_model,
    to_uint8_tensor,
)
from camutils.samples import list_samples, load_sample


@pytest.fixture(scope="module")
def offline():
    return load_model("efficientnet_lite0", device="cpu")


# Top-1 of the offline network on the bundled public photos (resize to 224 x 224).
EXPECTED_TOP1 = {
    "camera": "tripod",
    "chelsea": "Egyptian cat",
    "china": "bell cote",
    "coffee": "espresso",
    "flower": "daisy",
    "grace_hopper": "military uniform",
}


def test_offline_top1_on_public_photos(offline):
    names = list(EXPECTED_TOP1)
    x = offline.preprocess.batch([load_sample(n) for n in names])
    top = offline.top_cams(x, k=5)
    got = {n: offline.class_names[int(c)] for n, c in zip(names, top.classes[:, 0], strict=True)}
    assert got == EXPECTED_TOP1
    assert top.probs[names.index("coffee"), 0] > 0.8  # a confident, not a lucky, answer
    assert "palace" in [offline.class_names[int(c)] for c in top.classes[names.index("china")]]


def test_score_is_mean_of_cam_plus_bias_on_offline_network(offline):
    x = offline.preprocess.batch([load_sample("chelsea"), load_sample("china")])
    with torch.no_grad():
        logits, f = offline(x)
        top5 = logits.topk(5).indices
        cams = offline.cams(f, top5)
        s = class_scores_from_cams(cams, offline.bias[top5])
        s_sum = class_scores_from_cams(cams, reduction="sum") / (f.shape[-1] * f.shape[-2])
    assert f.shape == (2, 1280, 7, 7)
    assert torch.allclose(s, logits.gather(1, top5), atol=1e-4)
    assert torch.allclose(s_sum + offline.bias[top5], logits.gather(1, top5), atol=1e-4)


def test_offline_wrapper_equals_timm_forward(offline):
    """The wrapper's logits against timm's own forward pass of a fresh network holding the
    same weights (the body's, and the head as timm's classifier)."""
    import timm

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    head = {f"classifier.{k}": v for k, v in offline.head.state_dict().items()}
    net.load_state_dict({**offline.body.state_dict(), **head}, strict=True)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(offline(x).logits, net(x), atol=1e-5)


def test_offline_weights_are_loaded_not_random():
    trained = load_model("efficientnet_lite0", device="cpu")
    random = load_model("efficientnet_lite0", weights=False, device="cpu")
    assert not torch.allclose(trained.weight, random.weight)
    assert trained.class_names[0] == "tench" and trained.wnids[0] == "n01440764"


@pytest.mark.parametrize("name", TORCHVISION_MODELS)  # every torchvision model load_model offers
def test_torchvision_split_reproduces_forward(name):
    torch.manual_seed(0)
    kwargs = {"init_weights": True, "aux_logits": False} if name == "googlenet" else {}
    net = tvm.get_model(name, weights=None, num_classes=10, **kwargs).eval()
    model = from_torchvision(net, verify=False)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        out = model(x)
        assert torch.allclose(out.logits, net(x), atol=1e-5)
        cams = model.cams(out.features)
        assert torch.allclose(class_scores_from_cams(cams, model.bias), out.logits, atol=1e-4)


def test_googlenet_input_transform_is_kept():
    # Pretrained GoogLeNet re-normalises its input inside forward(); the body must too.
    net = tvm.googlenet(weights=None, aux_logits=False, transform_input=True, init_weights=True)
    model = from_torchvision(net.eval(), verify=False)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x).logits, net(x), atol=1e-5)


@pytest.mark.parametrize(
    "arch", ["resnet18", "efficientnet_b0", "tf_efficientnet_lite0", "densenet121"]
)
def test_timm_split_reproduces_forward(arch):
    torch.manual_seed(0)
    net = timm.create_model(arch, pretrained=False, num_classes=7).eval()
    model = from_timm(net, verify=False)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x).logits, net(x), atol=1e-5)


@pytest.mark.parametrize(
    "make, convert",
    [
        (lambda: timm.create_model("resnet18", pretrained=False, num_classes=7), from_timm),
        (lambda: timm.create_model("densenet121", pretrained=False, num_classes=7), from_timm),
        (lambda: tvm.googlenet(weights=None, aux_logits=False, init_weights=False),
         from_torchvision),
    ],
)  # fmt: skip
def test_body_holds_every_parameter_but_the_head(make, convert):
    torch.manual_seed(0)
    net = make().eval()
    model = convert(net)
    body = {id(p) for p in model.body.parameters()}
    head = {id(p) for p in model.head.parameters()}
    assert not body & head
    assert body | head == {id(p) for p in net.parameters()}


class _TimmLike(nn.Module):
    """forward_features with a parameter and a buffer of the network itself."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.scale = nn.Parameter(torch.tensor(2.0))
        self.register_buffer("shift", torch.tensor(0.5))
        self.fc = nn.Linear(4, 3)

    def forward_features(self, x):
        return self.conv(x) * self.scale + self.shift

    def get_classifier(self):
        return self.fc

    def forward(self, x):
        return self.fc(self.forward_features(x).mean(dim=(2, 3)))


def test_body_conversions_and_modes_reach_the_network():
    torch.manual_seed(0)
    net = _TimmLike()
    model = from_timm(net)
    assert dict(model.body.named_parameters()).keys() == {"scale", "conv.weight", "conv.bias"}
    assert dict(model.body.named_buffers()).keys() == {"shift"}
    model.double()  # replaces the buffer: the network itself must use the new one
    assert net.shift.dtype == net.scale.dtype == net.conv.weight.dtype == torch.float64
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(model(x).logits, net(x))
    model.train()
    assert net.training and net.conv.training
    model.eval()
    assert not net.training and not net.conv.training


def test_timm_gmp_head_is_detected():
    net = timm.create_model("resnet18", pretrained=False, num_classes=5, global_pool="max").eval()
    model = from_timm(net)
    assert model.pool == "max"


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: tvm.vgg16(weights=None), "3 Linear"),
        (lambda: tvm.mobilenet_v3_small(weights=None), "Hardswish"),
        (lambda: tvm.alexnet(weights=None), "3 Linear"),
    ],
)
def test_torchvision_heads_that_are_not_gap_linear_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        from_torchvision(make().eval())


@pytest.mark.parametrize("arch", ["mobilenetv3_small_050", "convnext_atto", "vit_tiny_patch16_224"])
def test_timm_heads_that_are_not_gap_linear_are_refused(arch):
    net = timm.create_model(arch, pretrained=False, num_classes=5)
    with pytest.raises(ValueError, match="not CAM-ready|does not reproduce|not a timm"):
        from_timm(net.eval())


def test_load_model_refuses_vgg_before_downloading():
    with pytest.raises(ValueError, match="not CAM-ready"):
        load_model("vgg16", weights=True, device="cpu")


def test_load_model_unknown_name():
    with pytest.raises(ValueError, match="unknown model"):
        load_model("not_a_model")


def test_load_model_torchvision_random_weights_has_imagenet_names():
    model = load_model("resnet18", weights=False, device="cpu")
    assert model.class_names[1] == "goldfish" and len(model.wnids) == 1000


def test_cam_model_rejects_non_linear_head():
    with pytest.raises(TypeError, match="nn.Linear"):
        CAMModel(torch.nn.Identity(), torch.nn.Sequential(torch.nn.Linear(3, 2)))


def test_gmp_model_pools_with_max():
    head = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        head.weight.fill_(1.0)
    model = CAMModel(torch.nn.Identity(), head, pool="max")
    f = torch.tensor([[[[1.0, 5.0]], [[2.0, -1.0]]]])
    assert model(f).logits.item() == pytest.approx(7.0)


def test_preprocess_converts_any_mode_to_rgb():
    for mode in ["L", "CMYK", "RGBA", "P"]:
        im = Image.new(mode, (40, 30))
        t = to_uint8_tensor(im)
        assert t.shape == (3, 30, 40) and t.dtype == torch.uint8
    gray = torch.full((1, 30, 40), 7, dtype=torch.uint8)
    assert to_uint8_tensor(gray).shape == (3, 30, 40)
    with pytest.raises(TypeError, match="uint8"):
        to_uint8_tensor(torch.zeros(3, 4, 4))


def test_preprocess_geometry_and_normalisation():
    im = torch.arange(256, dtype=torch.uint8).repeat(3, 300, 2)[..., :451]  # (3, 300, 451)
    squash = Preprocess(size=224, mode="squash", mean=(0.5,) * 3, std=(0.5,) * 3)
    crop = Preprocess(size=224, mode="crop", resize=256)
    assert squash(im).shape == crop(im).shape == (3, 224, 224)
    white = torch.full((3, 10, 10), 255, dtype=torch.uint8)
    assert torch.allclose(squash(white), torch.ones(3, 224, 224))
    assert torch.equal(squash.denormalize(squash(white)), squash.resize_only(white))
    with pytest.raises(ValueError, match="mode"):
        Preprocess(mode="stretch")


def test_every_sample_loads_as_rgb():
    for name in list_samples():
        assert load_sample(name).mode == "RGB"


class _Caught:
    """A forward hook that keeps the output of a layer, removed when the block ends."""

    def __init__(self, layer: nn.Module) -> None:
        self.layer = layer

    def __enter__(self):
        self.handle = self.layer.register_forward_hook(self.hook)
        return self

    def hook(self, module, inputs, out):
        self.stored = out.detach()

    def __exit__(self, *exc):
        self.handle.remove()


def test_hook_cam_equals_the_torchvision_split_on_resnet18():
    from camutils.models import from_hooks

    torch.manual_seed(0)
    net = tvm.resnet18(weights=None).eval()
    x = torch.randn(2, 3, 96, 96)
    with _Caught(net.layer4) as caught, torch.no_grad():
        logits = net(x)
    assert not net.layer4._forward_hooks  # the context manager removed its hook
    hook_cams = torch.einsum("ck,bkxy->bcxy", net.fc.weight, caught.stored)  # M_c by hand
    split = from_torchvision(net)
    hooked = from_hooks(net, net.layer4, net.fc)
    with torch.no_grad():
        out_split, out_hooks = split(x), hooked(x)
        assert torch.allclose(out_hooks.logits, logits, atol=1e-5)
        assert torch.allclose(out_hooks.features, out_split.features)
        assert torch.allclose(hook_cams, split.cams(out_split.features), atol=1e-5)
        assert torch.allclose(hooked.cams(out_hooks.features), hook_cams, atol=1e-5)
        # the identity: S_c = mean M_c + b_c
        assert torch.allclose(class_scores_from_cams(hook_cams) + net.fc.bias, logits, atol=1e-4)
    assert not net.layer4._forward_hooks  # from_hooks leaves no hook behind either


@pytest.mark.parametrize(
    ("make", "layer", "head", "match"),
    [
        (lambda: tvm.resnet18(weights=None), "layer3", "fc", "channels"),  # an inner layer
        (lambda: tvm.vgg11(weights=None), "features", "classifier.6", "channels"),  # FC layers
        (lambda: tvm.resnet18(weights=None), "layer4", "layer4.1.conv2", "nn.Linear"),
    ],
)
def test_from_hooks_refuses_splits_that_are_not_cam_ready(make, layer, head, match):
    from camutils.models import from_hooks

    net = make().eval()
    with pytest.raises(ValueError, match=match):
        from_hooks(net, net.get_submodule(layer), net.get_submodule(head))


def test_from_hooks_refuses_layers_outside_the_model_and_flat_outputs():
    from camutils.models import from_hooks

    net = tvm.resnet18(weights=None).eval()
    with pytest.raises(ValueError, match="not a submodule"):
        from_hooks(net, nn.Conv2d(3, 3, 1), net.fc)
    with pytest.raises(ValueError, match=r"\(B, K, h, w\)"):
        from_hooks(net, net.fc, net.fc)  # a (B, C) output, not a map


def test_torchvision_preprocessing_comes_from_the_weights():
    """ResNet-50's V2 weights resize to 232, EfficientNet-B0's are bicubic: read from
    weights.transforms(), not a default (no download: the transforms travel with the enum)."""
    from camutils.models import preprocess_from_weights

    r50 = preprocess_from_weights(tvm.ResNet50_Weights.DEFAULT, mode="crop")
    assert (r50.size, r50.resize, r50.interpolation, r50.mode) == (224, 232, "bilinear", "crop")
    b0 = preprocess_from_weights(tvm.EfficientNet_B0_Weights.DEFAULT)
    assert (b0.size, b0.resize, b0.interpolation) == (224, 256, "bicubic")
    assert load_model("resnet50", weights=False, device="cpu").preprocess.resize == 232
    tf = tvm.ResNet50_Weights.DEFAULT.transforms()
    img = torch.randint(0, 256, (3, 300, 451), dtype=torch.uint8)
    ref = tf(img)  # torchvision's own preprocessing: resize 232, centre crop 224, normalise
    step = 1 / 255 / min(tf.std)  # one uint8 level: the two uint8 resize kernels round apart
    diff = (r50(img) - ref).abs()
    assert ref.shape == (3, 224, 224) and diff.max() <= step * 1.001 and diff.mean() < step / 4


def test_one_logits_helper_and_the_installed_version():
    import importlib.metadata

    import camutils
    import camutils.wsol
    from camutils.models import CAMOutput, logits_of

    assert camutils.wsol.logits_of is logits_of
    s = torch.randn(2, 4)
    assert logits_of(s) is s and logits_of(CAMOutput(s, torch.zeros(2, 3, 1, 1))) is s
    with pytest.raises(ValueError, match=r"grad_cam: the model must return logits \(B, C\)"):
        logits_of(torch.zeros(2, 3, 4), "grad_cam")
    assert camutils.__version__ == importlib.metadata.version("camutils")
