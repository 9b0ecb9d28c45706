"""The mathematics of Class Activation Mapping, batched and on the input's device.

With ``f_k(x, y)`` the last conv layer's channel ``k`` and ``w_k^c`` the weight of the Linear head
from channel ``k`` to class ``c``::

    M_c(x, y) = sum_k w_k^c f_k(x, y)                       (class activation map)
    S_c       = sum_k w_k^c F_k + b_c,  F_k = mean_{x,y} f_k(x, y)
              = mean_{x,y} M_c(x, y) + b_c                   (the score is the CAM's mean)

The paper writes ``F_k`` as a plain sum (it drops GAP's ``1 / Z``, ``Z = h * w``); the two
conventions differ only by that constant factor on ``S_c - b_c``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "class_activation_maps",
    "class_index",
    "class_scores_from_cams",
    "normalize_cams",
    "upsample_cams",
]

ClassSpec = Tensor | Sequence[int] | int | None


def class_index(classes: ClassSpec, batch: int, num_classes: int, device: torch.device) -> Tensor:
    """Turn a class specification into a ``(B, n)`` long tensor on ``device``.

    One meaning per form, the same in :mod:`camutils.cam`, :mod:`camutils.saliency` and
    :mod:`camutils.wsol`: an ``int`` or a list of ``n`` ints gives the same classes to every
    image; a ``(B,)`` tensor one class per image; a ``(B, n)`` tensor ``n`` classes per image.
    Indices are checked against ``[0, num_classes)``.

    Example:
        >>> cpu = torch.device("cpu")
        >>> class_index([3, 1], batch=2, num_classes=5, device=cpu)
        tensor([[3, 1],
                [3, 1]])
        >>> class_index(torch.tensor([3, 1]), batch=2, num_classes=5, device=cpu)
        tensor([[3],
                [1]])
    """
    per_image = isinstance(classes, Tensor)
    idx = torch.as_tensor(classes, device=device)
    if idx.dtype.is_floating_point or idx.dtype == torch.bool:
        raise TypeError(f"classes must be integer class indices, found dtype {idx.dtype}")
    idx = idx.long()
    if idx.ndim == 0:
        idx = idx.view(1, 1).expand(batch, 1)
    elif idx.ndim == 1 and per_image:
        if idx.shape[0] != batch:
            raise ValueError(
                f"a 1-D classes tensor gives one class per image: {batch} expected, found "
                f"{idx.shape[0]}; pass a list for the same classes for every image, or a (B, n) "
                "tensor"
            )
        idx = idx.view(batch, 1)
    elif idx.ndim == 1:
        idx = idx.view(1, -1).expand(batch, -1)
    elif idx.ndim != 2 or idx.shape[0] != batch:
        raise ValueError(
            "classes must be an int, a list of n classes for every image, a (B,) tensor (one "
            f"class per image) or a (B, n) tensor with B = {batch}; found shape {tuple(idx.shape)}"
        )
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= num_classes):
        raise ValueError(
            f"class indices must lie in [0, {num_classes}); found {int(idx.min())}..{int(idx.max())}"
        )
    return idx


def class_activation_maps(features: Tensor, weight: Tensor, classes: ClassSpec = None) -> Tensor:
    """Class activation maps ``M_c(x, y) = sum_k w_k^c f_k(x, y)`` for chosen classes.

    Args:
        features: last conv features ``f``, shape ``(B, K, h, w)``.
        weight: the Linear head's weight ``w``, shape ``(C, K)`` (``weight[c, k] = w_k^c``).
        classes: which maps to compute. ``None``: all ``C`` classes; an ``int`` or a list of
            ``n`` ints: the same classes for every image; a ``(B,)`` tensor: one class per image
            (``n = 1``); a ``(B, n)`` tensor: ``n`` classes per image (for example the top-5 of
            each image). See :func:`class_index`.

    Returns:
        ``(B, n, h, w)`` maps (``n = C`` when ``classes`` is ``None``), on the features' device,
        in the promoted dtype of ``features`` and ``weight``. No ReLU, no normalisation.

    Example:
        >>> f = torch.ones(1, 3, 4, 4)
        >>> w = torch.tensor([[0.3, 0.5, 0.1], [0.4, 0.6, 0.8]])
        >>> class_activation_maps(f, w)[0, :, 0, 0]
        tensor([0.9000, 1.8000])
    """
    if features.ndim != 4:
        raise ValueError(f"features must be (B, K, h, w); found shape {tuple(features.shape)}")
    if weight.ndim != 2 or weight.shape[1] != features.shape[1]:
        raise ValueError(
            f"weight must be (C, K) with K = {features.shape[1]} channels of the features; "
            f"found shape {tuple(weight.shape)}"
        )
    dtype = torch.promote_types(features.dtype, weight.dtype)
    f = features.to(dtype)
    w = weight.to(device=features.device, dtype=dtype)
    if classes is None:
        return torch.einsum("ck,bkhw->bchw", w, f)
    idx = class_index(classes, features.shape[0], weight.shape[0], features.device)
    return torch.einsum("bnk,bkhw->bnhw", w[idx], f)


def class_scores_from_cams(
    cams: Tensor, bias: Tensor | None = None, reduction: Literal["mean", "sum"] = "mean"
) -> Tensor:
    """The class scores recovered from their maps: ``S_c = mean_{x,y} M_c(x, y) + b_c``.

    ``reduction="sum"`` gives the paper's convention ``S_c = sum_{x,y} M_c(x, y)`` (no ``1/Z``).
    ``bias`` broadcasts against the ``(B, n)`` result (for example ``head.bias[classes]``).

    Example:
        >>> m = torch.arange(16.0).view(1, 1, 4, 4)
        >>> class_scores_from_cams(m), class_scores_from_cams(m, reduction="sum")
        (tensor([[7.5000]]), tensor([[120.]]))
    """
    if cams.ndim < 2:
        raise ValueError(f"cams must be (..., h, w); found shape {tuple(cams.shape)}")
    if reduction == "mean":
        scores = cams.mean(dim=(-2, -1))
    elif reduction == "sum":
        scores = cams.sum(dim=(-2, -1))
    else:
        raise ValueError(f"reduction must be 'mean' or 'sum'; found {reduction!r}")
    return scores if bias is None else scores + bias


def normalize_cams(
    cams: Tensor, method: Literal["minmax", "max"] = "minmax", eps: float = 0.0
) -> Tensor:
    """Scale each map to ``[0, 1]`` over its last two (spatial) dimensions.

    - ``"minmax"`` (default): ``(M - min M) / (max M - min M)``. Negative values are kept and
      shifted: the least class-like location becomes 0, the most class-like 1. This is the
      convention of Choe et al.'s WSOL evaluation, so a threshold of 0.2 keeps locations above
      20% of the map's range.
    - ``"max"``: ``max(M, 0) / max M``: negative evidence is clipped to 0 first (ReLU, as in
      Grad-CAM), then divided by the maximum, so a threshold of 0.2 reads "20% of the max" as in
      the paper's text.

    Under ``"minmax"`` a constant map (``max == min``) becomes all zeros, and under ``"max"`` so
    does a map with no positive value: there is nothing to localise, and nothing is divided by
    zero. (Under ``"max"`` a constant positive map becomes all ones: every location is at the
    maximum.) ``eps`` is added to the denominator for callers who want the usual ``+ 1e-8``.

    Example:
        >>> normalize_cams(torch.tensor([[[[-1.0, 0.0], [1.0, 3.0]]]]))
        tensor([[[[0.0000, 0.2500],
                  [0.5000, 1.0000]]]])
        >>> normalize_cams(torch.full((1, 1, 2, 2), 5.0)).sum().item()
        0.0
    """
    if cams.ndim < 2:
        raise ValueError(f"cams must be (..., h, w); found shape {tuple(cams.shape)}")
    x = cams if cams.dtype.is_floating_point else cams.float()
    hi = x.amax(dim=(-2, -1), keepdim=True)
    if method == "minmax":
        lo = x.amin(dim=(-2, -1), keepdim=True)
        num, den = x - lo, hi - lo
    elif method == "max":
        num, den = x.clamp_min(0), hi.clamp_min(0)
    else:
        raise ValueError(f"method must be 'minmax' or 'max'; found {method!r}")
    den = den + eps
    safe = torch.where(den > 0, den, torch.ones_like(den))
    return torch.where(den > 0, num / safe, torch.zeros_like(num))


def upsample_cams(
    cams: Tensor,
    size: tuple[int, int] | int,
    mode: Literal["bilinear", "bicubic", "nearest"] = "bilinear",
    align_corners: bool = False,
) -> Tensor:
    """Resize ``(B, n, h, w)`` maps to ``size = (H, W)`` (height first, as in torch; not cv2's
    ``(W, H)``).

    Bilinear with ``align_corners=False`` treats each feature cell as covering a square of the
    image, which is how the network's receptive-field grid lines up with the pixels. Upsample
    the raw maps and normalise afterwards: then the normalised map reaches exactly 0 and 1 at
    image pixels (a 7 x 7 map's extremes fall between output pixels, so normalising first
    leaves the maximum slightly below 1), bicubic overshoot is normalised away too, and no
    precision is lost to an early 8-bit quantisation.

    Example:
        >>> upsample_cams(torch.zeros(2, 5, 7, 7), (224, 300)).shape
        torch.Size([2, 5, 224, 300])
    """
    if cams.ndim != 4:
        raise ValueError(f"cams must be (B, n, h, w); found shape {tuple(cams.shape)}")
    size = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
    x = cams if cams.dtype.is_floating_point else cams.float()
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return F.interpolate(x, size=size, mode=mode, align_corners=align_corners)
