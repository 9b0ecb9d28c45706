"""Preprocessing geometry: an image resized to the network's input, and the exact inverse for
boxes, in one place.

:class:`Preprocess` resizes (``"squash"`` the whole image to ``S x S``, or ``"crop"``: the
shorter side to ``resize`` and the centre ``S x S`` square, as torchvision does) and
normalises; :func:`resize_geometry` says, per image, where its pixels went (the resized size
``(Hr, Wr)`` and the crop's corner), and :func:`boxes_to_original` / :func:`boxes_to_input` carry
inclusive boxes between the two grids with that same geometry.

Example:
    >>> pre = Preprocess(224, "crop", resize=256)
    >>> [v.tolist() for v in resize_geometry(torch.tensor([[375, 500]]), pre)]
    [[375], [500], [256], [341], [16], [58]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Preprocess",
    "boxes_to_input",
    "boxes_to_original",
    "resize_geometry",
    "to_uint8_tensor",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------- preprocessing
@dataclass(frozen=True)
class Preprocess:
    """Image -> network input: resize, then normalise ``(x / 255 - mean) / std``.

    ``mode="squash"`` resizes the whole image to ``size x size`` (aspect ratio not kept, nothing
    cut off: the choice for localisation, as in Choe et al.'s evaluation); ``mode="crop"``
    resizes the shorter side to ``resize`` and keeps the centre ``size x size`` square (the usual
    classification protocol, which can cut the object). :func:`boxes_to_original` and
    :func:`boxes_to_input` map boxes between the two coordinate systems.

    Accepts a PIL image, or a ``uint8`` tensor ``(3, H, W)`` / ``(B, 3, H, W)`` on any device.

    Example:
        >>> pre = Preprocess(size=224)
        >>> pre(torch.zeros(3, 300, 451, dtype=torch.uint8)).shape
        torch.Size([3, 224, 224])
    """

    size: int = 224
    mode: Literal["squash", "crop"] = "squash"
    resize: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: Literal["bilinear", "bicubic"] = "bilinear"

    def __post_init__(self) -> None:
        if self.mode not in ("squash", "crop"):
            raise ValueError(f"mode must be 'squash' or 'crop'; found {self.mode!r}")
        if self.mode == "crop" and self.resize < self.size:
            raise ValueError(f"resize ({self.resize}) must be >= size ({self.size}) for 'crop'")

    def resize_only(self, image: Image.Image | Tensor) -> Tensor:
        """The geometric part alone: a ``uint8`` tensor of shape ``(..., 3, size, size)``."""
        x = to_uint8_tensor(image)
        interp = (
            TF.InterpolationMode.BICUBIC
            if self.interpolation == "bicubic"
            else TF.InterpolationMode.BILINEAR
        )
        if self.mode == "squash":
            return TF.resize(x, [self.size, self.size], interpolation=interp, antialias=True)
        x = TF.resize(x, [self.resize], interpolation=interp, antialias=True)
        return TF.center_crop(x, [self.size, self.size])

    def normalize(self, x: Tensor) -> Tensor:
        """``uint8`` (or 0..255 float) images -> ``(x / 255 - mean) / std`` as float32."""
        x = x.float() / 255.0
        mean = torch.tensor(self.mean, device=x.device).view(3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(3, 1, 1)
        return (x - mean) / std

    def __call__(self, image: Image.Image | Tensor) -> Tensor:
        return self.normalize(self.resize_only(image))

    def batch(self, images: Sequence[Image.Image | Tensor], device=None) -> Tensor:
        """Preprocess images of any sizes into one ``(B, 3, size, size)`` batch on ``device``."""
        out = [self(im if device is None else to_uint8_tensor(im).to(device)) for im in images]
        return torch.stack(out)

    def denormalize(self, x: Tensor) -> Tensor:
        """Network input back to ``uint8`` pixels (for plotting what the network saw)."""
        mean = torch.tensor(self.mean, device=x.device).view(3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(3, 1, 1)
        return ((x * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)


def to_uint8_tensor(image: Image.Image | Tensor) -> Tensor:
    """A PIL image (any mode: grayscale, CMYK, RGBA...) or uint8 tensor -> ``(3, H, W)`` uint8 RGB."""
    if isinstance(image, Image.Image):
        if image.mode != "RGB":
            image = image.convert("RGB")
        return TF.pil_to_tensor(image)
    if not isinstance(image, Tensor):
        raise TypeError(f"expected a PIL image or a uint8 tensor; found {type(image).__name__}")
    if image.dtype != torch.uint8:
        raise TypeError(f"image tensors must be uint8 (0..255); found {image.dtype}")
    if image.ndim < 3 or image.shape[-3] not in (1, 3):
        raise ValueError(f"image tensors must be (..., 1 or 3, H, W); found {tuple(image.shape)}")
    if image.shape[-3] == 1:
        image = image.expand(*image.shape[:-3], 3, *image.shape[-2:])
    return image


def _ceil_div(a: Tensor, b: Tensor) -> Tensor:
    return -torch.div(-a, b, rounding_mode="floor")


def resize_geometry(original_sizes: Tensor, preprocess: Preprocess) -> tuple[Tensor, ...]:
    """Per image ``(H, W)``: ``(H, W, Hr, Wr, top, left)``, the size of the resized image and
    the corner of the ``S x S`` crop in it (zero for ``"squash"``), each ``(B,)`` int64.

    Example:
        >>> [v.tolist() for v in resize_geometry(torch.tensor([[300, 451]]), Preprocess(224))]
        [[300], [451], [224], [224], [0], [0]]
    """
    sizes = torch.as_tensor(original_sizes)
    if sizes.ndim != 2 or sizes.shape[1] != 2:
        raise ValueError(f"original_sizes must be (B, 2) as (H, W); found {tuple(sizes.shape)}")
    if sizes.dtype.is_floating_point:
        raise TypeError("original_sizes must be integers (pixels)")
    sizes = sizes.long()
    if sizes.numel() and int(sizes.min()) < 1:
        raise ValueError("original sizes must be >= 1 pixel")
    height, width = sizes[:, 0], sizes[:, 1]
    size = int(preprocess.size)
    mode = getattr(preprocess, "mode", None)
    if mode == "squash":
        hr = torch.full_like(height, size)
        wr = torch.full_like(width, size)
        return height, width, hr, wr, torch.zeros_like(hr), torch.zeros_like(wr)
    if mode != "crop":
        raise ValueError(f"preprocess.mode must be 'squash' or 'crop'; found {mode!r}")
    # torchvision: the shorter side becomes `resize`, the longer int(resize * long / short);
    # then a centre crop whose corner is round((resized - size) / 2), round half to even.
    r = int(preprocess.resize)
    short = torch.minimum(height, width)
    long = torch.maximum(height, width)
    new_long = torch.div(r * long, short, rounding_mode="floor")
    portrait = width <= height
    hr = torch.where(portrait, new_long, r)
    wr = torch.where(portrait, r, new_long)
    top = torch.round((hr - size).double() / 2).long()
    left = torch.round((wr - size).double() / 2).long()
    return height, width, hr, wr, top, left


def _broadcast(v: Tensor, like: Tensor) -> Tensor:
    """``(B,)`` per-image values shaped to broadcast against ``like`` ``(B, ...)``."""
    return v.to(like.device).view(-1, *([1] * (like.ndim - 1)))


def boxes_to_original(boxes: Tensor, original_sizes: Tensor, preprocess: Preprocess) -> Tensor:
    """Map inclusive boxes from network-input coordinates to original-image coordinates.

    The network input is ``preprocess(image)``: ``mode="squash"`` resizes the whole ``H x W``
    image to ``S x S``; ``mode="crop"`` resizes the shorter side to ``resize`` (``Hr x Wr``)
    and cuts the centre ``S x S`` square at ``(top, left)``, exactly as torchvision does.
    An original pixel ``j`` belongs to the box when its centre falls inside the box's area,
    which is what resizing the box's mask with ``nearest-exact`` sampling gives::

        j is in [x0, x1]  <=>  x0 <= (j + 1/2) * Wr / W - left < x1 + 1

    A box thinner than one original pixel keeps at least one pixel.

    Args:
        boxes: ``(B, 4)`` or ``(B, ..., 4)`` int boxes on the ``S x S`` input.
        original_sizes: ``(B, 2)`` integers ``(H, W)`` per image.
        preprocess: a :class:`Preprocess` (its ``size``, ``mode``,
            ``resize``).

    Returns:
        int64 boxes of the same shape, on ``boxes.device``, inside ``[0, W - 1] x [0, H - 1]``.

    Example:
        >>> b = torch.tensor([[0, 0, 111, 223]])     # the left half of the input
        >>> boxes_to_original(b, torch.tensor([[300, 451]]), Preprocess(224, "squash"))
        tensor([[  0,   0, 224, 299]])
    """
    return _map_boxes(boxes, original_sizes, preprocess, to_original=True)


def boxes_to_input(boxes: Tensor, original_sizes: Tensor, preprocess: Preprocess) -> Tensor:
    """Map inclusive boxes from original-image coordinates to network-input coordinates.

    The inverse of :func:`boxes_to_original`: an input pixel belongs to the box when its centre,
    carried back to the original image, falls inside the box's area (``nearest-exact``
    resizing of the box's mask)::

        i is in the box  <=>  X0 <= (i + left + 1/2) * W / Wr < X1 + 1

    With ``mode="crop"`` parts of the box outside the centre crop are cut off; a box wholly
    outside the crop becomes a one-pixel-wide box on the crop's edge.

    Example:
        >>> b = torch.tensor([[0, 0, 224, 299]])
        >>> boxes_to_input(b, torch.tensor([[300, 451]]), Preprocess(224, "squash"))
        tensor([[  0,   0, 111, 223]])
    """
    return _map_boxes(boxes, original_sizes, preprocess, to_original=False)


def _map_boxes(
    boxes: Tensor, original_sizes: Tensor, preprocess: Preprocess, to_original: bool
) -> Tensor:
    if not isinstance(boxes, Tensor) or boxes.ndim < 2 or boxes.shape[-1] != 4:
        shape = tuple(boxes.shape) if isinstance(boxes, Tensor) else type(boxes).__name__
        raise ValueError(f"boxes must be a (B, ..., 4) tensor; found {shape}")
    if boxes.dtype.is_floating_point:
        raise TypeError("boxes must hold integer pixel coordinates (inclusive)")
    height, width, hr, wr, top, left = resize_geometry(original_sizes, preprocess)
    if height.shape[0] != boxes.shape[0]:
        raise ValueError(f"{boxes.shape[0]} images of boxes but {height.shape[0]} original sizes")
    b = boxes.long()
    height, width, hr, wr, top, left = (
        _broadcast(v, b[..., 0]) for v in (height, width, hr, wr, top, left)
    )
    size = int(preprocess.size)
    out = []
    for lo, hi, n_orig, n_res, off in (
        (b[..., 0], b[..., 2], width, wr, left),
        (b[..., 1], b[..., 3], height, hr, top),
    ):
        if to_original:
            # (2 j + 1) * n_res >= 2 (lo + off) n_orig  and  (2 j + 1) n_res < 2 (hi + 1 + off) n_orig
            new_lo = _ceil_div(2 * (lo + off) * n_orig - n_res, 2 * n_res)
            new_hi = _ceil_div(2 * (hi + 1 + off) * n_orig - n_res, 2 * n_res) - 1
            limit = n_orig - 1
        else:
            # (2 r + 1) n_orig >= 2 lo n_res  and  (2 r + 1) n_orig < 2 (hi + 1) n_res, i = r - off
            new_lo = _ceil_div(2 * lo * n_res - n_orig, 2 * n_orig) - off
            new_hi = _ceil_div(2 * (hi + 1) * n_res - n_orig, 2 * n_orig) - 1 - off
            limit = torch.full_like(n_orig, size - 1)
        new_lo = torch.minimum(new_lo.clamp_min(0), limit)
        new_hi = torch.minimum(new_hi.clamp_min(0), limit)
        new_hi = torch.maximum(new_hi, new_lo)
        out.append((new_lo, new_hi))
    (x0, x1), (y0, y1) = out
    return torch.stack([x0, y0, x1, y1], dim=-1)
