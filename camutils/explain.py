"""After CAM: its descendants, batched, on the body/head split, in the course's notation.

Every method is a function ``(model, images, classes) -> (B, n, h, w)`` like
:func:`camutils.saliency.grad_cam`, and :func:`explain` is one entry point for all of them.
They differ only in the weight each channel's map ``A_k(x, y)`` gets (``A = f``, the last
conv features, unless ``layer`` names an inner layer):

- ``cam``: ``M_c = sum_k w_k^c f_k`` (1 forward);
- ``gradcam``: ``ReLU(sum_k alpha_k A_k)`` with ``alpha_k = mean_xy g_k`` (1 forward, n backward);
- ``gradcam++``: ``alpha_k = sum_xy a_k(x, y) ReLU(g_k(x, y))``, the closed-form pixel weights
  ``a_k`` (1 forward, n backward);
- ``xgradcam``: ``alpha_k = sum_xy A_k(x, y) g_k(x, y) / sum_xy A_k`` (1 forward, n backward);
- ``layercam``: ``ReLU(sum_k ReLU(g_k(x, y)) A_k(x, y))``, a weight per position (1 forward,
  n backward);
- ``scorecam``: ``alpha_k = softmax_k S_c(X o H_k)``, ``H_k`` the upsampled, normalised ``A_k``
  (1 + B K forwards);
- ``ablationcam``: ``alpha_k = (S_c - S_c^{-k}) / S_c``, channel ``k`` zeroed (1 forward + B K
  heads);
- ``eigencam``: the first principal component of ``A``, class-agnostic (1 forward, one SVD);

with ``g_k(x, y) = dS_c / dA_k(x, y)`` the gradient of the logit ``S_c`` (the softmax input).
On the course's GAP + Linear head ``S_c = sum_k w_k^c mean_{x,y} f_k + b_c`` the gradient is the
constant ``g_k = w_k^c / (h w)``, so Grad-CAM and XGrad-CAM without their ReLU are CAM divided by
``h w``, and Layer-CAM is CAM with the negative weights set to zero (for ``f_k >= 0``): these
three only part from CAM at inner layers or on heads that are not GAP + Linear. Grad-CAM++,
Score-CAM, Ablation-CAM and Eigen-CAM weight the channels differently even there.

Gradients are taken with :func:`torch.autograd.grad` (the model's ``.grad`` fields are left
alone). For a :class:`~camutils.models.CAMModel` at its last features, the body runs without a
graph and the backward passes run through the head only; at an inner ``layer`` the network
runs once with a graph from that layer up. Score-CAM and Ablation-CAM run their ``B K``
perturbed passes in chunks of ``batch_size`` (the memory bound).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from camutils.cam import ClassSpec, class_activation_maps, class_index
from camutils.models import logits_of
from camutils.saliency import check_inputs

__all__ = [
    "METHODS",
    "ablation_cam",
    "activations_and_logits",
    "cam",
    "eigen_cam",
    "explain",
    "gradcam",
    "gradcam_pp",
    "layer_cam",
    "layer_gradients",
    "score_cam",
    "weighted_sum",
    "xgrad_cam",
]


# --------------------------------------------------------------------------- one forward
def activations_and_logits(
    model: nn.Module, images: Tensor, layer: nn.Module | None = None
) -> tuple[Tensor, Tensor]:
    """One forward pass: the activations ``A`` ``(B, K, h, w)`` and the logits ``S`` ``(B, C)``.

    ``A`` is a leaf of the autograd graph (it requires grad) and ``S`` is computed from it, so
    ``torch.autograd.grad(S[:, c].sum(), A)`` gives every image's ``dS_c / dA_k(x, y)``. With
    ``layer=None`` the model must be a :class:`~camutils.models.CAMModel`: ``A = f`` is its
    body's output (computed without a graph) and ``S = head(pool(f))``. With a ``layer`` (a
    submodule called once by the forward), the network runs without a graph up to that layer
    and with one from it up.

    Example:
        >>> from camutils.models import CAMModel
        >>> m = CAMModel(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), nn.Linear(4, 2)).eval()
        >>> a, s = activations_and_logits(m, torch.randn(2, 3, 6, 6), layer=m.body[0])
        >>> a.shape, s.shape, a.requires_grad
        (torch.Size([2, 4, 4, 4]), torch.Size([2, 2]), True)
    """
    from camutils.models import CAMModel

    what = "activations_and_logits"
    check_inputs(model, images, what)
    if layer is None:
        if not isinstance(model, CAMModel):
            raise TypeError(
                f"{what}: without a layer the model must be a CAMModel (body + head); found "
                f"{type(model).__name__}. Pass layer=<a submodule> for any other network."
            )
        with torch.no_grad():
            acts = model.body(images).detach()
        acts.requires_grad_(True)
        with torch.enable_grad():
            logits = model.head(model.pooled(acts))
    else:
        if not any(layer is m for m in model.modules()):
            raise ValueError(f"{what}: the layer is not a submodule of the model")
        caught: list[Tensor] = []

        def hook(_module: nn.Module, _inputs: object, out: Tensor) -> Tensor:
            if caught:
                raise RuntimeError(f"{what}: the layer is called more than once by the forward")
            if not isinstance(out, Tensor):
                raise ValueError(
                    f"{what}: the layer must output a tensor; found {type(out).__name__}"
                )
            leaf = out.detach().requires_grad_(True)
            caught.append(leaf)
            torch.set_grad_enabled(True)  # the graph starts here; restored by no_grad's exit
            return leaf

        handle = layer.register_forward_hook(hook)
        try:
            with torch.no_grad():
                logits = logits_of(model(images), what)
        finally:
            handle.remove()
        if not caught:
            raise RuntimeError(f"{what}: the layer was not called by the model's forward")
        acts = caught[0]
    if acts.ndim != 4:
        raise ValueError(f"{what}: activations must be (B, K, h, w); found {tuple(acts.shape)}")
    return acts, logits


def layer_gradients(
    model: nn.Module, images: Tensor, classes: ClassSpec, layer: nn.Module | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """``A`` ``(B, K, h, w)``, ``g = dS_c / dA`` ``(B, n, K, h, w)`` and the classes ``(B, n)``.

    One forward pass (:func:`activations_and_logits`) and one backward pass per class column;
    images do not interact in eval mode, so the gradient of ``sum_b S_{c_b}(x_b)`` is every
    image's own gradient.

    Example:
        >>> from camutils.models import CAMModel
        >>> m = CAMModel(nn.Conv2d(3, 4, 1), nn.Linear(4, 2)).eval()
        >>> a, g, idx = layer_gradients(m, torch.randn(1, 3, 2, 2), [1])
        >>> torch.allclose(g[0, 0, :, 0, 0], m.head.weight[1] / 4)
        True
    """
    acts, logits = activations_and_logits(model, images, layer)
    idx = class_index(classes, logits.shape[0], logits.shape[1], logits.device)
    picked = logits.gather(1, idx)
    grads = []
    with torch.enable_grad():
        for j in range(idx.shape[1]):
            last = j == idx.shape[1] - 1
            (g,) = torch.autograd.grad(picked[:, j].sum(), acts, retain_graph=not last)
            grads.append(g)
    return acts.detach(), torch.stack(grads, dim=1), idx


def weighted_sum(alpha: Tensor, acts: Tensor, relu: bool) -> Tensor:
    """``sum_k alpha_k A_k`` for ``alpha`` ``(B, n, K)`` (or ``(B, n, K, h, w)``), then ReLU.

    Example:
        >>> weighted_sum(torch.ones(1, 1, 2), torch.ones(1, 2, 1, 1), relu=True)
        tensor([[[[2.]]]])
    """
    if alpha.ndim == 3:
        maps = torch.einsum("bnk,bkhw->bnhw", alpha, acts)
    else:
        maps = (alpha * acts.unsqueeze(1)).sum(dim=2)
    return maps.clamp_min(0) if relu else maps


# --------------------------------------------------------------------------- the methods
def cam(model: nn.Module, images: Tensor, classes: ClassSpec) -> Tensor:
    """CAM (Zhou et al. 2016): ``M_c(x, y) = sum_k w_k^c f_k(x, y)``, raw (no ReLU).

    Cost: one forward pass without a graph.

    Example:
        >>> from camutils.models import CAMModel
        >>> m = CAMModel(nn.Conv2d(3, 4, 1), nn.Linear(4, 3)).eval()
        >>> cam(m, torch.randn(2, 3, 5, 5), [0, 2]).shape
        torch.Size([2, 2, 5, 5])
    """
    from camutils.models import CAMModel

    check_inputs(model, images, "cam")
    if not isinstance(model, CAMModel):
        raise TypeError(f"cam needs a CAMModel (body + Linear head); found {type(model).__name__}")
    idx = class_index(classes, images.shape[0], model.head.out_features, images.device)
    with torch.no_grad():
        return class_activation_maps(model.body(images), model.head.weight, idx)


def gradcam(
    model: nn.Module,
    images: Tensor,
    classes: ClassSpec,
    layer: nn.Module | None = None,
    relu: bool = True,
) -> Tensor:
    """Grad-CAM (Selvaraju et al., ICCV 2017) at the last features or at an inner ``layer``::

        alpha_k^c = mean_{x,y} dS_c / dA_k(x, y),   L_c = ReLU(sum_k alpha_k^c A_k)

    At the last features of a CAMModel this is :func:`camutils.saliency.grad_cam`; on a GAP +
    Linear head ``L_c = M_c / (h w)`` without the ReLU.

    Example:
        >>> from camutils.models import CAMModel
        >>> m = CAMModel(nn.Conv2d(3, 4, 1), nn.Linear(4, 3)).eval()
        >>> x = torch.randn(2, 3, 5, 5)
        >>> torch.allclose(gradcam(m, x, [1], relu=False) * 25, cam(m, x, [1]), atol=1e-5)
        True
    """
    acts, grads, _ = layer_gradients(model, images, classes, layer)
    return weighted_sum(grads.mean(dim=(-2, -1)), acts, relu)


def gradcam_pp(
    model: nn.Module,
    images: Tensor,
    classes: ClassSpec,
    layer: nn.Module | None = None,
    relu: bool = True,
    eps: float = 0.0,
) -> Tensor:
    """Grad-CAM++ (Chattopadhay et al., WACV 2018), the closed form for ``Y^c = exp(S_c)``.

    With ``g = dS_c / dA_k(x, y)`` and a network piecewise linear in ``A`` (ReLU networks: the
    second and third derivatives of ``S_c`` vanish), the derivatives of ``Y^c = exp(S_c)`` are
    ``exp(S_c) g``, ``exp(S_c) g^2`` and ``exp(S_c) g^3``; the paper's pixel weights become::

        a_k(x, y) = g^2 / (2 g^2 + sum_{a,b} A_k(a, b) g^3 + eps)      (0 where g = 0)
        alpha_k^c = sum_{x,y} a_k(x, y) ReLU(g(x, y)),    L_c = ReLU(sum_k alpha_k^c A_k)

    The common factor ``exp(S_c)`` of the paper's weights is left out (it would overflow and
    only scales each map by a positive constant). This is pytorch-grad-cam's formula; torchcam
    sums ``A_k(a, b) g(a, b)^3`` in the denominator, the same when ``g`` is constant over
    positions (the last features of a GAP head). pytorch-grad-cam adds ``eps = 1e-6`` to the
    denominator; that is not negligible (``g ~ w_k^c / (h w) ~ 1e-3``, so ``g^2 ~ 1e-6``), and
    the default here is ``eps = 0`` (the paper's formula, a zero denominator giving 0).

    Example:
        >>> from camutils.models import CAMModel
        >>> m = CAMModel(nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU()), nn.Linear(4, 3)).eval()
        >>> gradcam_pp(m, torch.randn(2, 3, 5, 5), [1]).min() >= 0
        tensor(True)
    """
    acts, g, _ = layer_gradients(model, images, classes, layer)
    g2 = g * g
    denom = 2 * g2 + acts.sum(dim=(-2, -1))[:, None, :, None, None] * g2 * g + eps
    a = torch.where(g != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)), 0.0)
    alpha = (a * g.clamp_min(0)).sum(dim=(-2, -1))
    return weighted_sum(alpha, acts, relu)


def xgrad_cam(
    model: nn.Module,
    images: Tensor,
    classes: ClassSpec,
    layer: nn.Module | None = None,
    relu: bool = True,
    eps: float = 1e-7,
) -> Tensor:
    """XGrad-CAM (Fu et al., BMVC 2020): the gradient weighted by the normalised activation::

        alpha_k^c = sum_{x,y} A_k(x, y) / (sum_{a,b} A_k(a, b) + eps) dS_c / dA_k(x, y)
        L_c = ReLU(sum_k alpha_k^c A_k)

    On a GAP + Linear head ``alpha_k^c = w_k^c / (h w)`` (up to ``eps``): XGrad-CAM without the
    ReLU is CAM divided by ``h w``, like Grad-CAM. ``eps = 1e-7`` as pytorch-grad-cam.

    Example:
        >>> from camutils.models import CAMModel
        >>> m = CAMModel(nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU()), nn.Linear(4, 3)).eval()
        >>> x = torch.rand(2, 3, 5, 5)
        >>> torch.allclose(xgrad_cam(m, x, [1], relu=False), gradcam(m, x, [1], relu=False))
        True
    """
    acts, g, _ = layer_gradients(model, images, classes, layer)
    share = acts / (acts.sum(dim=(-2, -1), keepdim=True) + eps)
    alpha = (g * share.unsqueeze(1)).sum(dim=(-2, -1))
    return weighted_sum(alpha, acts, relu)


def layer_cam(
    model: nn.Module,
    images: Tensor,
    classes: ClassSpec,
    layer: nn.Module | None = None,
    relu: bool = True,
) -> Tensor:
    """Layer-CAM (Jiang et al., IEEE TIP 2021): a weight per channel AND position::

        L_c(x, y) = ReLU( sum_k ReLU(dS_c / dA_k(x, y)) A_k(x, y) )

    Meant for inner layers (finer maps), where the gradient varies with the position. At the
    last features of a GAP + Linear head the gradient is ``w_k^c / (h w)`` everywhere, so
    Layer-CAM is ``sum_k ReLU(w_k^c) f_k / (h w)``: CAM with its negative weights removed, and
    ``>=`` Grad-CAM at every position when ``f_k >= 0``.

    Example:
        >>> from camutils.models import CAMModel
        >>> m = CAMModel(nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU()), nn.Linear(4, 3)).eval()
        >>> x = torch.rand(2, 3, 5, 5)
        >>> bool((layer_cam(m, x, [1]) >= gradcam(m, x, [1]) - 1e-6).all())
        True
    """
    acts, g, _ = layer_gradients(model, images, classes, layer)
    return weighted_sum(g.clamp_min(0), acts, relu)


def _check_batch_size(batch_size: int, what: str) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"{what}: batch_size must be a positive int; found {batch_size!r}")


@torch.no_grad()
def score_cam(
    model: nn.Module,
    images: Tensor,
    classes: ClassSpec,
    layer: nn.Module | None = None,
    batch_size: int = 64,
    normalize: Literal["after", "before"] = "after",
    align_corners: bool = False,
) -> Tensor:
    """Score-CAM (Wang et al., CVPR-W 2020): each channel weighted by the score of the image it
    masks::

        H_k = minmax(Up(A_k))                 (each channel upsampled to the input, in [0, 1])
        alpha_k^c = softmax_k( S_c(X o H_k) - S_c(X_b) ),   L_c = ReLU(sum_k alpha_k^c A_k)

    ``X o H_k`` multiplies every colour channel of the network's input by ``H_k`` (the baseline
    ``X_b`` is the zero input; ``S_c(X_b)`` is the same for every ``k`` and drops out of the
    softmax). ``S_c`` is the logit, as pytorch-grad-cam and torchcam. ``normalize="after"``
    upsamples then normalises (the paper, pytorch-grad-cam), ``"before"`` normalises at the
    features' resolution then upsamples (torchcam); pytorch-grad-cam upsamples with
    ``align_corners=True``, torchcam with ``False``.

    Cost: one forward for ``A`` and ``B K`` forward passes of masked images (all ``n`` classes
    from the same passes), ``batch_size`` images at a time.

    Example:
        >>> from camutils.models import CAMModel
        >>> m = CAMModel(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), nn.Linear(4, 3)).eval()
        >>> score_cam(m, torch.randn(2, 3, 8, 8), [0, 2], batch_size=3).shape
        torch.Size([2, 2, 6, 6])
    """
    what = "score_cam"
    _check_batch_size(batch_size, what)
    if normalize not in ("after", "before"):
        raise ValueError(f"{what}: normalize must be 'after' or 'before'; found {normalize!r}")
    acts, logits = activations_and_logits(model, images, layer)
    acts = acts.detach()
    bsz, k_ch = acts.shape[:2]
    idx = class_index(classes, bsz, logits.shape[1], logits.device)

    def minmax(x: Tensor) -> Tensor:
        lo = x.amin(dim=(-2, -1), keepdim=True)
        hi = x.amax(dim=(-2, -1), keepdim=True)
        return (x - lo) / (hi - lo + 1e-8)

    size = images.shape[-2:]
    src = minmax(acts) if normalize == "before" else acts

    rows = torch.cartesian_prod(torch.arange(bsz), torch.arange(k_ch)).to(images.device)
    scores = []
    for start in range(0, rows.shape[0], batch_size):
        chunk = rows[start : start + batch_size]
        b, k = chunk[:, 0], chunk[:, 1]
        up = F.interpolate(
            src[b, k].unsqueeze(1), size=size, mode="bilinear", align_corners=align_corners
        )
        if normalize == "after":
            up = minmax(up)
        out = logits_of(model(images[b] * up), what)
        scores.append(out.gather(1, idx[b]))
    alpha = torch.cat(scores).view(bsz, k_ch, -1).transpose(1, 2).float().softmax(dim=-1)
    return weighted_sum(alpha.to(acts.dtype), acts, relu=True)


@torch.no_grad()
def ablation_cam(
    model: nn.Module,
    images: Tensor,
    classes: ClassSpec,
    layer: nn.Module | None = None,
    batch_size: int = 256,
) -> Tensor:
    """Ablation-CAM (Desai & Ramaswamy, WACV 2020): each channel weighted by the score it
    carries::

        alpha_k^c = (S_c - S_c^{-k}) / S_c,    L_c = ReLU(sum_k alpha_k^c A_k)

    where ``S_c^{-k}`` is the logit with channel ``k`` of ``A`` set to zero (pytorch-grad-cam
    also zeroes it when the activations' minimum is 0, as after a ReLU). At the last features
    of a CAMModel only the head is re-run: zeroing ``f_k`` zeroes ``F_k``, so
    ``S_c - S_c^{-k} = w_k^c F_k`` and on a GAP head Ablation-CAM weights channel ``k`` by its
    share of the score, ``w_k^c F_k / S_c``. At an inner ``layer`` the network is re-run from
    the input with a hook that zeroes the channel. ``S_c = 0`` gives weights 0.

    Cost: one forward, then ``B K`` ablated passes (heads only at the last features),
    ``batch_size`` at a time.

    Example:
        >>> from camutils.models import CAMModel
        >>> m = CAMModel(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), nn.Linear(4, 3)).eval()
        >>> x = torch.randn(2, 3, 8, 8)
        >>> torch.allclose(ablation_cam(m, x, [1]), ablation_cam(m, x, [1], layer=m.body))
        True
    """
    what = "ablation_cam"
    _check_batch_size(batch_size, what)
    acts, logits = activations_and_logits(model, images, layer)
    acts, logits = acts.detach(), logits.detach()
    bsz, k_ch = acts.shape[:2]
    idx = class_index(classes, bsz, logits.shape[1], logits.device)
    base = logits.gather(1, idx)  # (B, n)
    if layer is None:  # a CAMModel: the head's rows of the n classes, F_k zeroed
        pooled = model.pooled(acts)  # (B, K)
        w = model.head.weight[idx].to(acts.dtype)  # (B, n, K)
        b = (
            torch.zeros_like(base)
            if model.head.bias is None
            else model.head.bias[idx].to(acts.dtype)
        )
        step = max(1, batch_size // bsz)
        drops = []
        for start in range(0, k_ch, step):
            ks = torch.arange(start, min(k_ch, start + step), device=acts.device)
            keep = 1 - F.one_hot(ks, k_ch).to(acts.dtype)  # (k, K)
            ablated = torch.einsum("bjK,bnK->bnj", pooled.unsqueeze(1) * keep, w)
            drops.append(base.unsqueeze(-1) - (ablated + b.unsqueeze(-1)))
        drop = torch.cat(drops, dim=-1)  # (B, n, K)
    else:
        rows = torch.cartesian_prod(torch.arange(bsz), torch.arange(k_ch)).to(images.device)
        scores = []
        for start in range(0, rows.shape[0], batch_size):
            chunk = rows[start : start + batch_size]
            b, k = chunk[:, 0], chunk[:, 1]

            def zero_channel(_m: nn.Module, _i: object, out: Tensor, k: Tensor = k) -> Tensor:
                keep = 1 - F.one_hot(k, out.shape[1]).to(out.dtype)
                return out * keep[:, :, None, None]

            handle = layer.register_forward_hook(zero_channel)
            try:
                out = logits_of(model(images[b]), what)
            finally:
                handle.remove()
            scores.append(out.gather(1, idx[b]))
        ablated = torch.cat(scores).view(bsz, k_ch, -1).transpose(1, 2)  # (B, n, K)
        drop = base.unsqueeze(-1) - ablated
    den = base.unsqueeze(-1)
    alpha = torch.where(den != 0, drop / torch.where(den != 0, den, torch.ones_like(den)), 0.0)
    return weighted_sum(alpha.to(acts.dtype), acts, relu=True)


@torch.no_grad()
def eigen_cam(
    model: nn.Module,
    images: Tensor,
    classes: ClassSpec,
    layer: nn.Module | None = None,
    relu: bool = True,
) -> Tensor:
    """Eigen-CAM (Muhammad & Yeasin, IJCNN 2020): the first principal component of ``A``.

    With ``X`` the ``(h w, K)`` matrix of activations (one row per position) centred over the
    positions (as pytorch-grad-cam), ``X = U S V^T`` and::

        L(x, y) = ReLU( s * (X v_1)(x, y) )

    the projection of each position on the first right singular vector ``v_1``. The sign of a
    singular vector is arbitrary; the rule here: ``s = +-1`` makes the map correlate positively
    with the mean activation ``mean_k A_k(x, y)`` (a map that points where the features are
    active). Class-agnostic: the same map for every class asked for; ``classes`` only sets
    ``n`` (and is checked).

    Cost: one forward, one batched SVD.

    Example:
        >>> from camutils.models import CAMModel
        >>> m = CAMModel(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), nn.Linear(4, 3)).eval()
        >>> e = eigen_cam(m, torch.randn(2, 3, 8, 8), [0, 2])
        >>> e.shape, torch.equal(e[:, 0], e[:, 1])
        (torch.Size([2, 2, 6, 6]), True)
    """
    acts, logits = activations_and_logits(model, images, layer)
    acts = acts.detach()
    bsz, k_ch, h, w = acts.shape
    idx = class_index(classes, bsz, logits.shape[1], logits.device)
    x = acts.flatten(2).transpose(1, 2).float()  # (B, hw, K)
    x = x - x.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    proj = x @ vh[:, 0, :].unsqueeze(-1)  # (B, hw, 1)
    mean_act = acts.float().mean(dim=1).flatten(1)  # (B, hw)
    sign = torch.where((proj.squeeze(-1) * mean_act).sum(dim=1) < 0, -1.0, 1.0)
    maps = (proj.squeeze(-1) * sign[:, None]).view(bsz, 1, h, w).to(acts.dtype)
    maps = maps.clamp_min(0) if relu else maps
    return maps.expand(bsz, idx.shape[1], h, w).contiguous()


METHODS: dict[str, Callable[..., Tensor]] = {
    "cam": cam,
    "gradcam": gradcam,
    "gradcam++": gradcam_pp,
    "xgradcam": xgrad_cam,
    "layercam": layer_cam,
    "scorecam": score_cam,
    "ablationcam": ablation_cam,
    "eigencam": eigen_cam,
}


def explain(
    model: nn.Module,
    images: Tensor,
    classes: ClassSpec,
    method: str = "cam",
    **options: object,
) -> Tensor:
    """One entry point for CAM and its descendants: ``(B, n, h, w)`` maps on the images' device.

    ``method`` is one of ``cam``, ``gradcam``, ``gradcam++``, ``xgradcam``, ``layercam``,
    ``scorecam``, ``ablationcam``, ``eigencam`` (see the module's table of formulas);
    ``options`` go to that method (``layer=``, ``relu=``, ``batch_size=``...). ``classes`` as in
    :func:`camutils.cam.class_activation_maps`, or a ``(B,)`` tensor (one class per image).

    Example:
        >>> from camutils.models import CAMModel
        >>> m = CAMModel(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), nn.Linear(4, 3)).eval()
        >>> x = torch.randn(2, 3, 8, 8)
        >>> [tuple(explain(m, x, [1], method=n).shape) for n in ("cam", "layercam")]
        [(2, 1, 6, 6), (2, 1, 6, 6)]
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; found {method!r}")
    return METHODS[method](model, images, classes, **options)
