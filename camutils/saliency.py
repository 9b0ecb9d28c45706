"""The baselines CAM is compared with: gradient saliency, Grad-CAM, occlusion, LIME-style fits.

The three families of explanations in the course's notes, each as a batched function that
returns ``(B, n, ., .)`` maps for ``n`` chosen classes per image, on the input's device:

- backpropagation-based: :func:`gradient_saliency` (Simonyan et al. 2014, the paper's
  "Backprop" baseline), ``|dS_c / dx|`` at every pixel, and :func:`lrp` (Bach et al. 2015,
  the notes' example of this family) through the library zennit, for plain conv bodies;
- activation-based: CAM itself (:mod:`camutils.cam`) and :func:`grad_cam` (Selvaraju et al.
  2017), which weights the last conv features ``f_k`` by the mean gradient of ``S_c``;
- perturbation-based: :func:`occlusion` (Zeiler & Fergus 2014), the drop of ``S_c`` when a
  patch is hidden, and :func:`lime_superpixels` (Ribeiro et al. 2016), a weighted linear fit of
  ``S_c`` on which superpixels are kept.

All of them take the class score ``S_c`` (the logit, the softmax input) as the target, not the
probability ``P_c``: ``P_c`` also depends on every other class's score, and the logit is what
makes Grad-CAM equal CAM on GAP heads (:func:`grad_cam`). Occlusion and the LIME fit can use
``P_c`` on request.

``model`` is a :class:`~camutils.models.CAMModel` (whose forward returns ``CAMOutput(logits,
features)``) or, except for :func:`grad_cam`, any ``nn.Module`` whose forward returns the logits
``(B, C)``. Models must be in eval mode: in training mode BatchNorm mixes the images of a batch
and dropout makes every map random. Gradients are taken with :func:`torch.autograd.grad`, so
the model's ``.grad`` fields are left untouched.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from camutils.cam import ClassSpec, class_index
from camutils.models import logits_of

__all__ = [
    "check_inputs",
    "grad_cam",
    "grid_segments",
    "lime_superpixels",
    "lrp",
    "occlusion",
    "occlusion_to_pixels",
    "gradient_saliency",
]

Target = Literal["logit", "prob"]


# --------------------------------------------------------------------------- helpers
def check_inputs(model: nn.Module, images: Tensor, what: str) -> None:
    """One clear error for a model in training mode or images that are not a float batch.

    Example:
        >>> check_inputs(nn.Linear(2, 2).eval(), torch.zeros(1, 3, 4, 4), "demo")
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"{what}: model must be an nn.Module; found {type(model).__name__}")
    if model.training:
        raise ValueError(
            f"{what}: the model is in training mode; call model.eval() first (BatchNorm would mix "
            "the images of a batch and dropout would make the map random)"
        )
    if not isinstance(images, Tensor):
        raise TypeError(f"{what}: images must be a tensor; found {type(images).__name__}")
    if images.ndim != 4 or not images.dtype.is_floating_point:
        raise ValueError(
            f"{what}: images must be a float (B, 3, H, W) batch (the network's input, already "
            f"preprocessed); found shape {tuple(images.shape)} and dtype {images.dtype}"
        )


def _score(logits: Tensor, target: Target) -> Tensor:
    if target == "logit":
        return logits
    if target == "prob":
        return logits.float().softmax(dim=-1)
    raise ValueError(f"target must be 'logit' (S_c) or 'prob' (P_c); found {target!r}")


# --------------------------------------------------------------------------- backprop-based
def gradient_saliency(model: nn.Module, images: Tensor, classes: ClassSpec) -> Tensor:
    """Gradient saliency (Simonyan et al. 2014), the paper's "Backprop" baseline.

    For image ``x`` and class ``c``::

        G_c(i, j) = max_{colour ch} | dS_c / dx_ch(i, j) |

    the magnitude of the class score's gradient at every input pixel, the largest over the three
    colour channels. ``S_c`` is the logit, not the softmax output.

    Cost: one forward pass of the batch and one backward pass per class column (``n`` of them,
    each for the whole batch; the graph is kept between them). Images do not interact in eval
    mode, so the gradient of ``sum_b S_{c_b}(x_b)`` with respect to the batch gives every
    image's own gradient at once.

    Args:
        model: a :class:`~camutils.models.CAMModel` or any module returning logits ``(B, C)``,
            in eval mode.
        images: the network's input, ``(B, 3, H, W)`` float (already preprocessed).
        classes: an ``int``, a list of ``n`` ints (the same for every image), a ``(B,)`` tensor
            (one class per image) or a ``(B, n)`` tensor.

    Returns:
        ``(B, n, H, W)`` non-negative maps on the images' device (not normalised).

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).eval()
        >>> gradient_saliency(net, torch.rand(5, 3, 4, 4), [0, 1]).shape
        torch.Size([5, 2, 4, 4])
    """
    what = "gradient_saliency"
    check_inputs(model, images, what)
    x = images.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = logits_of(model(x), what)
        idx = class_index(classes, *logits.shape, logits.device)
        picked = logits.gather(1, idx)  # (B, n): S_{c_bj}(x_b)
        maps = []
        for j in range(idx.shape[1]):
            (grad,) = torch.autograd.grad(picked[:, j].sum(), x, retain_graph=j < idx.shape[1] - 1)
            maps.append(grad.abs().amax(dim=1))
    return torch.stack(maps, dim=1)


# --------------------------------------------------------------------------- activation-based
def grad_cam(model: nn.Module, images: Tensor, classes: ClassSpec, relu: bool = True) -> Tensor:
    """Grad-CAM (Selvaraju et al. 2017) on the last conv features ``f_k``.

    With ``S_c`` the logit of class ``c``::

        alpha_k^c = mean_{x,y} dS_c / df_k(x, y)
        L_c(x, y) = ReLU( sum_k alpha_k^c f_k(x, y) )        (no ReLU with relu=False)

    On a GAP + Linear head ``S_c = sum_k w_k^c mean_{x,y} f_k(x, y) + b_c``, so
    ``dS_c / df_k(x, y) = w_k^c / (h w)`` everywhere, ``alpha_k^c = w_k^c / (h w)`` and
    ``L_c = M_c / (h w)``: without the ReLU, Grad-CAM IS the class activation map, scaled by the
    positive constant ``1 / (h w)``. (The same holds for a GMP head: the gradient ``w_k^c`` sits
    at each channel's maximum, and its mean is again ``w_k^c / (h w)``.) This needs the logit as
    target; with ``P_c`` the other classes' scores enter and the identity breaks.

    Args:
        model: a :class:`~camutils.models.CAMModel` (the features are its body's output; the
            backward pass runs through the head only), or any module whose forward returns an
            object with ``.logits`` ``(B, C)`` and ``.features`` ``(B, K, h, w)`` taken from the
            same graph (for example a flatten + FC network returning ``CAMOutput``). Eval mode.
        images: the network's input, ``(B, 3, H, W)``.
        classes: as in :func:`gradient_saliency`.
        relu: apply the ReLU of Grad-CAM (default) or return the signed map.

    Returns:
        ``(B, n, h, w)`` maps at the features' resolution, on the images' device.

    Cost: one forward pass (for a CAMModel, the body without a graph), ``n`` backward passes
    from the logits to the features only.

    Example:
        >>> from camutils.models import CAMModel
        >>> m = CAMModel(nn.Conv2d(3, 8, 3, padding=1), nn.Linear(8, 4)).eval()
        >>> x = torch.randn(2, 3, 6, 6)
        >>> g = grad_cam(m, x, [1, 3], relu=False)
        >>> torch.allclose(g * 36, m.cams(m(x).features, [1, 3]), atol=1e-5)
        True
    """
    from camutils.models import CAMModel

    what = "grad_cam"
    check_inputs(model, images, what)
    with torch.enable_grad():
        if isinstance(model, CAMModel):
            with torch.no_grad():
                body_out = model.body(images)
            features = body_out.detach().requires_grad_(True)
            logits = model.head(model.pooled(features))
        else:
            out = model(images)
            features = getattr(out, "features", None)
            if not isinstance(features, Tensor) or not features.requires_grad:
                raise ValueError(
                    f"{what}: the model must be a CAMModel or return an object with .logits and "
                    ".features (B, K, h, w) that are part of the autograd graph; found "
                    f"{type(out).__name__}"
                )
            logits = logits_of(out, what)
        if features.ndim != 4:
            raise ValueError(
                f"{what}: features must be (B, K, h, w); found {tuple(features.shape)}"
            )
        idx = class_index(classes, *logits.shape, logits.device)
        picked = logits.gather(1, idx)
        alphas = []
        for j in range(idx.shape[1]):
            (grad,) = torch.autograd.grad(
                picked[:, j].sum(), features, retain_graph=j < idx.shape[1] - 1
            )
            alphas.append(grad.mean(dim=(-2, -1)))  # (B, K)
    alpha = torch.stack(alphas, dim=1)  # (B, n, K)
    maps = torch.einsum("bnk,bkhw->bnhw", alpha, features.detach())
    return maps.clamp_min(0) if relu else maps


# --------------------------------------------------------------------------- perturbation-based
def _baseline_tensor(baseline: float | Tensor, images: Tensor) -> Tensor:
    """A baseline broadcastable to ``(B, 1, 3, H, W)``."""
    b, c, h, w = images.shape
    base = torch.as_tensor(baseline, dtype=images.dtype, device=images.device)
    if base.ndim == 0:
        return base.view(1, 1, 1, 1, 1)
    if base.ndim == 1 and base.shape[0] == c:
        return base.view(1, 1, c, 1, 1)
    if base.shape == (c, h, w):
        return base.view(1, 1, c, h, w)
    if base.shape == (b, c, h, w):
        return base.view(b, 1, c, h, w)
    raise ValueError(
        f"baseline must be a number, a ({c},) colour, a ({c}, {h}, {w}) image or a "
        f"({b}, {c}, {h}, {w}) batch; found shape {tuple(base.shape)}"
    )


def _pair(v: int | tuple[int, int], name: str) -> tuple[int, int]:
    p = (v, v) if isinstance(v, int) else tuple(int(a) for a in v)
    if len(p) != 2 or min(p) < 1:
        raise ValueError(f"{name} must be a positive int or a pair of them; found {v!r}")
    return p  # type: ignore[return-value]


@torch.no_grad()
def occlusion(
    model: nn.Module,
    images: Tensor,
    classes: ClassSpec,
    patch: int | tuple[int, int] = 32,
    stride: int | tuple[int, int] = 16,
    baseline: float | Tensor = 0.0,
    target: Target = "logit",
    chunk_size: int = 32,
) -> Tensor:
    """Occlusion sensitivity (Zeiler & Fergus 2014): how much the score drops when a patch is
    hidden.

    For every patch position ``(i, j)`` (top-left corner ``(i * stride, j * stride)``, patches
    lying fully inside the image)::

        O_c(i, j) = S_c(x) - S_c(x with the patch at (i, j) replaced by the baseline)

    with ``S_c`` the logit (``target="logit"``, default) or ``P_c`` the softmax probability
    (``target="prob"``). Positive: hiding the patch lowers the class's score (evidence for
    ``c``); negative: hiding it raises the score (evidence against).

    Cost: ``1 + h' w'`` forward passes per image, no backward pass; the occluded copies are
    sent through the network ``chunk_size`` at a time (all images of the batch together), so
    memory stays at ``chunk_size`` images whatever the number of positions.

    Args:
        model: a :class:`~camutils.models.CAMModel` or any module returning logits, eval mode.
        images: the network's input, ``(B, 3, H, W)``.
        classes: as in :func:`gradient_saliency`.
        patch: patch height and width (int or pair).
        stride: step between patch positions (int or pair).
        baseline: what replaces the patch, in the network's input space: a number (``0.0`` is
            the dataset's mean colour after the usual normalisation), a ``(3,)`` colour, a
            ``(3, H, W)`` image or a ``(B, 3, H, W)`` batch (for example blurred images).
        target: ``"logit"`` (``S_c``) or ``"prob"`` (``P_c``).
        chunk_size: occluded images per forward pass.

    Returns:
        ``(B, n, h', w')`` score drops, ``h' = (H - patch_h) // stride_h + 1`` (same for
        ``w'``), one value per patch position. :func:`occlusion_to_pixels` spreads them back
        over the pixels.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2)).eval()
        >>> occlusion(net, torch.rand(2, 3, 8, 8), [0, 1], patch=4, stride=2).shape
        torch.Size([2, 2, 3, 3])
    """
    what = "occlusion"
    check_inputs(model, images, what)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; found {chunk_size}")
    (ph, pw), (sh, sw) = _pair(patch, "patch"), _pair(stride, "stride")
    b, c, h, w = images.shape
    if ph > h or pw > w:
        raise ValueError(f"patch {(ph, pw)} is larger than the images {(h, w)}")
    gh, gw = (h - ph) // sh + 1, (w - pw) // sw + 1
    base = _baseline_tensor(baseline, images)

    ref = _score(logits_of(model(images), what), target)  # (B, C)
    idx = class_index(classes, *ref.shape, ref.device)  # (B, n)
    ref = ref.gather(1, idx)

    # One mask per position: (P, 1, H, W), True inside the patch.
    rows = torch.arange(h, device=images.device)
    cols = torch.arange(w, device=images.device)
    top = torch.arange(gh, device=images.device) * sh
    left = torch.arange(gw, device=images.device) * sw
    in_rows = (rows[None] >= top[:, None]) & (rows[None] < top[:, None] + ph)  # (gh, H)
    in_cols = (cols[None] >= left[:, None]) & (cols[None] < left[:, None] + pw)  # (gw, W)
    masks = (in_rows[:, None, :, None] & in_cols[None, :, None, :]).reshape(gh * gw, 1, h, w)

    n_pos = gh * gw
    drops = torch.empty(b, n_pos, idx.shape[1], dtype=ref.dtype, device=images.device)
    # Chunk over positions so that each forward sees about chunk_size images.
    per_chunk = max(1, chunk_size // b)
    for start in range(0, n_pos, per_chunk):
        m = masks[start : start + per_chunk]  # (p, 1, H, W)
        occluded = torch.where(m[None], base, images[:, None])  # (B, p, 3, H, W)
        scores = _score(logits_of(model(occluded.flatten(0, 1)), what), target)
        scores = scores.view(b, m.shape[0], -1)
        picked = scores.gather(2, idx[:, None, :].expand(-1, m.shape[0], -1))  # (B, p, n)
        drops[:, start : start + m.shape[0]] = ref[:, None, :] - picked
    return drops.permute(0, 2, 1).reshape(b, idx.shape[1], gh, gw)


def occlusion_to_pixels(
    grid: Tensor,
    size: tuple[int, int],
    patch: int | tuple[int, int] = 32,
    stride: int | tuple[int, int] = 16,
) -> Tensor:
    """Spread an occlusion grid over the pixels: each pixel gets the mean drop of the patches
    that covered it.

    ``P(u, v) = mean_{(i, j): patch (i, j) covers (u, v)} O(i, j)``, computed with a transposed
    convolution (sum of covering drops) divided by the number of covering patches. Pixels that
    no patch covered (when ``(H - patch) % stride != 0``, a strip at the bottom/right) are 0.

    Example:
        >>> occlusion_to_pixels(torch.ones(1, 1, 3, 3), (8, 8), patch=4, stride=2).unique()
        tensor([1.])
    """
    if grid.ndim != 4:
        raise ValueError(f"grid must be (B, n, h', w'); found shape {tuple(grid.shape)}")
    (ph, pw), (sh, sw) = _pair(patch, "patch"), _pair(stride, "stride")
    h, w = size
    gh, gw = grid.shape[-2:]
    if (gh - 1) * sh + ph > h or (gw - 1) * sw + pw > w:
        raise ValueError(
            f"a {gh}x{gw} grid with patch {(ph, pw)} and stride {(sh, sw)} does not fit in {size}"
        )
    bsz, n = grid.shape[:2]
    g = grid.reshape(bsz * n, 1, gh, gw).float()
    kernel = torch.ones(1, 1, ph, pw, device=grid.device)
    total = F.conv_transpose2d(g, kernel, stride=(sh, sw))
    count = F.conv_transpose2d(torch.ones_like(g[:1]), kernel, stride=(sh, sw))
    mean = total / count
    mean = F.pad(mean, (0, w - mean.shape[-1], 0, h - mean.shape[-2]))
    return mean.view(bsz, n, h, w)


def grid_segments(height: int, width: int, cells: int | tuple[int, int] = 8, device=None) -> Tensor:
    """Square "superpixels": a ``(height, width)`` long tensor labelling a ``cells x cells`` grid
    row by row (``0 .. cells**2 - 1``), for :func:`lime_superpixels` when no image segmentation
    (such as scikit-image's SLIC) is at hand.

    Example:
        >>> grid_segments(4, 4, 2)
        tensor([[0, 0, 1, 1],
                [0, 0, 1, 1],
                [2, 2, 3, 3],
                [2, 2, 3, 3]])
    """
    ch, cw = _pair(cells, "cells")
    r = torch.arange(height, device=device) * ch // height
    c = torch.arange(width, device=device) * cw // width
    return r[:, None] * cw + c[None, :]


@torch.no_grad()
def lime_superpixels(
    model: nn.Module,
    images: Tensor,
    classes: ClassSpec,
    segments: Tensor,
    num_samples: int = 256,
    keep_prob: float = 0.5,
    baseline: float | Tensor = 0.0,
    target: Target = "logit",
    kernel_width: float = 0.25,
    ridge: float = 1.0,
    chunk_size: int = 32,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A LIME-style explanation (Ribeiro et al. 2016): a weighted linear fit of the score on
    which superpixels are kept.

    Each image is cut into superpixels ``s = 1..S`` (``segments``). For ``N`` random keep-vectors
    ``z in {0, 1}^S`` (the first one keeps everything), the superpixels with ``z_s = 0`` are
    replaced by the baseline and the network scores the result, ``y = S_c(x_z)`` (or ``P_c``).
    The explanation is the ridge regression

        min_{beta, beta_0}  sum_i pi_i (y_i - beta_0 - z_i . beta)^2 + ridge |beta|^2,
        pi_i = exp(-d_i^2 / kernel_width^2),  d_i = 1 - cos(z_i, 1) = 1 - sqrt(|z_i| / S)

    (LIME's image defaults: cosine distance to the full image, kernel width 0.25, ridge 1).
    ``beta_s`` is the score the superpixel ``s`` adds when present; the map paints it on the
    superpixel's pixels. Solved in closed form for all images and classes at once.

    Cost: ``N`` forward passes per image (chunked, all images together), no backward pass.

    Args:
        model: a :class:`~camutils.models.CAMModel` or any module returning logits, eval mode.
        images: the network's input, ``(B, 3, H, W)``.
        classes: as in :func:`gradient_saliency`.
        segments: ``(B, H, W)`` or ``(H, W)`` (shared) integer labels ``0 .. S_b - 1`` (for
            example ``skimage.segmentation.slic(...) - 1`` or :func:`grid_segments`).
        num_samples: ``N``, perturbed images per input image.
        keep_prob: probability of keeping each superpixel in a sample.
        baseline: what hidden superpixels become (see :func:`occlusion`).
        target: ``"logit"`` (``S_c``) or ``"prob"`` (``P_c``).
        kernel_width, ridge: the locality kernel's width and the L2 penalty.
        chunk_size: perturbed images per forward pass.
        generator: a seeded ``torch.Generator`` on the images' device for reproducible samples
            (default: the global generator).

    Returns:
        ``(B, n, H, W)`` maps: ``beta_s`` painted on each superpixel.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2)).eval()
        >>> seg = grid_segments(8, 8, 2)
        >>> lime_superpixels(net, torch.rand(1, 3, 8, 8), 1, seg, num_samples=32).shape
        torch.Size([1, 1, 8, 8])
    """
    what = "lime_superpixels"
    check_inputs(model, images, what)
    b, c, h, w = images.shape
    dev = images.device
    seg = torch.as_tensor(segments, device=dev)
    if seg.dtype.is_floating_point or seg.dtype == torch.bool:
        raise TypeError(f"{what}: segments must be integer labels; found dtype {seg.dtype}")
    if seg.ndim == 2 and seg.shape == (h, w):
        seg = seg.expand(b, h, w)
    if seg.shape != (b, h, w):
        raise ValueError(
            f"{what}: segments must be ({h}, {w}) or ({b}, {h}, {w}); found {tuple(seg.shape)}"
        )
    seg = seg.long()
    if int(seg.min()) < 0:
        raise ValueError(f"{what}: segment labels must be >= 0; found {int(seg.min())}")
    if num_samples < 2 or not 0.0 < keep_prob < 1.0 or chunk_size < 1:
        raise ValueError(
            f"{what}: need num_samples >= 2, 0 < keep_prob < 1, chunk_size >= 1; found "
            f"{num_samples}, {keep_prob}, {chunk_size}"
        )
    n_seg = seg.flatten(1).amax(dim=1) + 1  # (B,) superpixels per image
    s_max = int(n_seg.max())
    used = torch.arange(s_max, device=dev)[None] < n_seg[:, None]  # (B, S)
    base = _baseline_tensor(baseline, images)

    z = torch.rand(b, num_samples, s_max, device=dev, generator=generator) < keep_prob
    z[:, 0] = True  # the unperturbed image
    z &= used[:, None]
    ys = []
    per_chunk = max(1, chunk_size // b)
    idx = None
    for start in range(0, num_samples, per_chunk):
        zc = z[:, start : start + per_chunk]  # (B, p, S)
        keep = zc.gather(2, seg.flatten(1)[:, None].expand(-1, zc.shape[1], -1))
        keep = keep.view(b, zc.shape[1], 1, h, w)
        x = torch.where(keep, images[:, None], base).flatten(0, 1)
        scores = _score(logits_of(model(x), what), target).view(b, zc.shape[1], -1)
        if idx is None:
            idx = class_index(classes, *scores[:, 0].shape, scores.device)
        ys.append(scores.gather(2, idx[:, None, :].expand(-1, zc.shape[1], -1)))
    y = torch.cat(ys, dim=1).double()  # (B, N, n)

    zf = z.double()
    frac = zf.sum(-1) / n_seg[:, None].double()  # |z| / S
    dist = 1 - frac.sqrt()
    pi = torch.exp(-(dist**2) / kernel_width**2)  # (B, N)
    wsum = pi.sum(1, keepdim=True)
    z_mean = (pi[..., None] * zf).sum(1, keepdim=True) / wsum[..., None]  # (B, 1, S)
    y_mean = (pi[..., None] * y).sum(1, keepdim=True) / wsum[..., None]  # (B, 1, n)
    zc, yc = zf - z_mean, y - y_mean
    gram = torch.einsum("bi,bis,bit->bst", pi, zc, zc)
    gram = gram + ridge * torch.eye(s_max, dtype=gram.dtype, device=dev)
    rhs = torch.einsum("bi,bis,bin->bsn", pi, zc, yc)
    beta = torch.linalg.solve(gram, rhs)  # (B, S, n); unused superpixels get 0
    beta = beta.to(images.dtype).transpose(1, 2)  # (B, n, S)
    return beta.gather(2, seg.flatten(1)[:, None].expand(-1, beta.shape[1], -1)).view(b, -1, h, w)


# --------------------------------------------------------------------------- LRP
_LRP_LAYERS = (
    nn.Sequential, nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d,
    nn.AdaptiveAvgPool2d, nn.Identity, nn.Dropout, nn.Flatten, nn.Linear,
)  # fmt: skip


def lrp(
    model: nn.Module,
    images: Tensor,
    classes: ClassSpec,
    rule: Literal["epsilon_plus_flat", "epsilon_gamma_box"] = "epsilon_plus_flat",
    low: float = 0.0,
    high: float = 1.0,
) -> Tensor:
    """Layer-wise relevance propagation (Bach et al. 2015) of ``S_c``, with zennit's rules.

    The relevance starts as the logit, ``R = S_c`` at the output, and is handed down layer by
    layer in proportion to each input's contribution ``z_ij = a_i w_ij``; the epsilon rule

        R_i = sum_j a_i w_ij / (eps + sum_i' a_i' w_i'j) R_j

    at the Linear head, z+ (positive contributions only) at the conv layers, and, at the first
    layer, the flat rule (``rule="epsilon_plus_flat"``) or the z-box rule for inputs in
    ``[low, high]`` (``rule="epsilon_gamma_box"``). BatchNorm is merged into the conv before it
    (zennit's canonizer). Returns ``(B, n, H, W)``: the relevance of each pixel, summed over the
    colour channels. Biases and the rules' stabilisers absorb part of ``S_c``, so the map's sum
    is close to, not equal to, the logit.

    Only a :class:`~camutils.models.CAMModel` whose body is an ``nn.Sequential`` of conv,
    BatchNorm, ReLU and pooling layers is accepted (the course's small CNNs, VGG-like
    bodies): LRP needs a rule for every layer and a forward made of those layers alone, and
    networks with residual additions, depthwise blocks with fused BatchNorm + ReLU6 (such as
    EfficientNet-Lite0) are refused with the reason.

    Example:
        >>> from camutils.wsol import make_net
        >>> net = make_net("gap").eval()
        >>> lrp(net, torch.rand(2, 1, 32, 32), [3]).shape
        torch.Size([2, 1, 32, 32])
    """
    from camutils.models import CAMModel

    if not isinstance(model, CAMModel):
        raise TypeError(f"lrp needs a CAMModel (body + Linear head); found {type(model).__name__}")
    check_inputs(model, images, "lrp")
    body = model.body
    odd = sorted({type(m).__name__ for m in body.modules() if not isinstance(m, _LRP_LAYERS)})
    if not isinstance(body, nn.Sequential) or odd:
        found = ", ".join(odd) if odd else f"a {type(body).__name__} with its own forward"
        raise ValueError(
            f"LRP is not supported for {model.name}: its body has {found}. LRP needs a rule for "
            "every layer and a forward made of those layers alone (an nn.Sequential of conv, "
            "BatchNorm, ReLU and pooling layers); residual additions, ReLU6 and BatchNorm fused "
            "with an activation have no canonizer in zennit (it ships them for torchvision's "
            "VGG and ResNet), and the relevance would not mean what the rules promise."
        )
    from zennit.attribution import Gradient
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat

    canon = [SequentialMergeBatchNorm()]
    if rule == "epsilon_plus_flat":
        composite = EpsilonPlusFlat(canonizers=canon)
    elif rule == "epsilon_gamma_box":
        composite = EpsilonGammaBox(low=low, high=high, canonizers=canon)
    else:
        raise ValueError(f"rule must be 'epsilon_plus_flat' or 'epsilon_gamma_box'; found {rule!r}")
    pool = nn.AdaptiveAvgPool2d(1) if model.pool == "avg" else nn.AdaptiveMaxPool2d(1)
    net = nn.Sequential(body, pool, nn.Flatten(), model.head).eval()  # the same modules
    with torch.no_grad():
        num_classes = net(images[:1]).shape[1]
    idx = class_index(classes, images.shape[0], num_classes, images.device)
    maps = []
    with Gradient(model=net, composite=composite) as attributor:
        for j in range(idx.shape[1]):
            onehot = F.one_hot(idx[:, j], num_classes).to(images.dtype)
            _, rel = attributor(images, lambda out, onehot=onehot: onehot * out)  # R = S_c
            maps.append(rel.sum(dim=1).detach())
    return torch.stack(maps, dim=1)
