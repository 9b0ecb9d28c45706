"""The original release's heat maps: ten crops of the 256 x 256 image, merged back.

Zhou et al.'s ILSVRC evaluation (``ILSVRC_generate_heatmap.m``, ``prepare_image.m`` and
``mergeTenCrop.m`` in the CAM release) did not look at one view of each image:

1. the image is squashed to ``S x S = 256 x 256``;
2. ten ``224 x 224`` crops ``v`` are cut from it: the four corners and the centre, and the
   horizontal mirror of each;
3. every crop goes through the network; classes are ranked by the mean of the ten softmax
   outputs, ``P̄_c = (1/10) sum_v P_c^(v)``;
4. for each class kept, each crop's map ``M_c^(v)`` (``h x w``) is upsampled to ``224 x 224``,
   mirrored back if its crop was mirrored, and pasted where its crop came from; the merged map
   sums their absolute values over the crops covering each pixel::

       M̃_c(x, y) = sum_v |M_c^(v)(x - x_v, y - y_v)|

5. the ``256 x 256`` merged map is resized to the original image, divided by its maximum and
   stored as an 8-bit image, from which the release's ``dt_box`` draws the boxes
   (:func:`camutils.boxes.heuristic_boxes` reproduces that step).

Differences, by choice: upsampling is PyTorch's bicubic (MATLAB's ``imresize`` uses the cubic
kernel with ``a = -0.5``, PyTorch ``a = -0.75``); the merged map is not written as a JPEG, so
it carries no compression noise. Every map is pasted back where its crop was cut, as the
release does: ``prepare_image.m`` cuts the crops from the image permuted to Caffe's W x H
layout, with ``x`` in the outer loop (top-left, bottom-left, top-right, bottom-right), and
``mergeTenCrop.m`` permutes each map back to H x W and pastes it with the same loops, at
``(y, x)`` = ``(j, i)``, so no crop changes place.

Example:
    >>> from camutils.models import CAMModel, Preprocess
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = CAMModel(torch.nn.Conv2d(3, 8, 32, stride=32), torch.nn.Linear(8, 4))
    >>> x = Preprocess(size=256)(torch.zeros(3, 300, 400, dtype=torch.uint8))[None]
    >>> out = ten_crop_cams(model, x, k=2)
    >>> out.probs.shape, out.classes.shape, out.cams.shape
    (torch.Size([1, 4]), torch.Size([1, 2]), torch.Size([1, 2, 256, 256]))
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import Tensor

from camutils.cam import class_activation_maps, upsample_cams
from camutils.models import CAMModel

__all__ = ["TenCropCAMs", "crop_offsets", "merge_ten_crops", "ten_crop_cams", "ten_crops"]


def crop_offsets(size: int = 256, crop: int = 224) -> list[tuple[int, int]]:
    """The ``(y, x)`` corners of the five crops of a ``size x size`` image, in the release's
    order: top-left, bottom-left, top-right, bottom-right, centre (``prepare_image.m`` loops over
    ``x`` outside and ``y`` inside on its W x H image; the centre is
    ``floor((size - crop + 1) / 2)`` from the top and the left, its 1-based
    ``floor(indices(2) / 2) + 1``).

    Example:
        >>> crop_offsets(256, 224)
        [(0, 0), (32, 0), (0, 32), (32, 32), (16, 16)]
    """
    if not 0 < crop <= size:
        raise ValueError(f"crop must lie in [1, size = {size}]; found {crop}")
    far, centre = size - crop, (size - crop + 1) // 2
    return [(0, 0), (far, 0), (0, far), (far, far), (centre, centre)]


def _check_square(images: Tensor, crop: int) -> int:
    if images.ndim != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must be (B, C, S, S) squares; found {tuple(images.shape)}")
    size = int(images.shape[-1])
    if crop > size:
        raise ValueError(f"crop ({crop}) is larger than the images ({size} x {size})")
    return size


def ten_crops(images: Tensor, crop: int = 224) -> Tensor:
    """The release's ten views of each square image: ``(B, C, S, S) -> (B, 10, C, crop, crop)``.

    Views 0-4 are the crops at :func:`crop_offsets` (corners, then centre); view ``5 + i`` is
    view ``i`` mirrored left to right.

    Example:
        >>> x = torch.arange(16.0).view(1, 1, 4, 4)
        >>> v = ten_crops(x, crop=3)
        >>> v.shape, v[0, 1, 0, 0].tolist(), v[0, 6, 0, 0].tolist()   # bottom-left, mirrored
        (torch.Size([1, 10, 1, 3, 3]), [4.0, 5.0, 6.0], [6.0, 5.0, 4.0])
    """
    size = _check_square(images, crop)
    views = [images[..., y : y + crop, x : x + crop] for y, x in crop_offsets(size, crop)]
    five = torch.stack(views, dim=1)
    return torch.cat([five, five.flip(-1)], dim=1)


def merge_ten_crops(maps: Tensor, size: int = 256) -> Tensor:
    """Paste per-view maps back onto the ``size x size`` image and sum their absolute values.

    ``maps`` ``(B, 10, n, crop, crop)`` holds, for each of the :func:`ten_crops` views, ``n``
    maps already on the crop's pixel grid. Mirrored views are mirrored back first. Returns
    ``(B, n, size, size)``: ``M̃(x, y) = sum_v |M^(v)(x - x_v, y - y_v)|`` over the views
    covering ``(x, y)`` (the release's ``sum(abs(...))``: negative evidence counts as evidence).

    Example:
        >>> maps = torch.ones(1, 10, 1, 3, 3)      # 2 per crop position: a view and its mirror
        >>> merge_ten_crops(maps, size=5)[0, 0]     # the middle pixel lies in all ten views
        tensor([[ 2.,  2.,  4.,  2.,  2.],
                [ 2.,  4.,  6.,  4.,  2.],
                [ 4.,  6., 10.,  6.,  4.],
                [ 2.,  4.,  6.,  4.,  2.],
                [ 2.,  2.,  4.,  2.,  2.]])
    """
    if maps.ndim != 5 or maps.shape[1] != 10 or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(
            f"maps must be (B, 10, n, crop, crop), one set per view; found {tuple(maps.shape)}"
        )
    crop = int(maps.shape[-1])
    b, _, n = maps.shape[:3]
    out = maps.new_zeros((b, n, size, size))
    for i, (y, x) in enumerate(crop_offsets(size, crop)):
        region = out[..., y : y + crop, x : x + crop]
        region += maps[:, i].abs() + maps[:, 5 + i].flip(-1).abs()
    return out


class TenCropCAMs(NamedTuple):
    """What :func:`ten_crop_cams` returns."""

    probs: Tensor  # (B, C) mean softmax over the ten views
    classes: Tensor  # (B, k) long, best first by mean probability (or the classes asked for)
    cams: Tensor  # (B, k, S, S) merged maps on the S x S image


@torch.no_grad()
def ten_crop_cams(
    model: CAMModel,
    images: Tensor,
    k: int = 5,
    classes: Tensor | None = None,
    crop: int = 224,
    mode: Literal["bicubic", "bilinear"] = "bicubic",
) -> TenCropCAMs:
    """The release's merged CAMs of the top-``k`` classes (or of ``classes``) for each image.

    Args:
        model: a :class:`~camutils.models.CAMModel`.
        images: ``(B, 3, S, S)`` network-ready (normalised) images, ``S = 256`` in the release
            (``Preprocess(size=256)`` squashes a photo to it).
        k: how many classes, best first by the mean of the ten views' softmax outputs.
        classes: ``(B, n)`` class indices to map instead of the top ``k``.
        crop: the crop size, 224 in the release.
        mode: how each ``h x w`` crop map is upsampled to ``crop x crop``.

    Returns:
        :class:`TenCropCAMs`: ``probs`` ``P̄`` ``(B, C)``, ``classes`` and the merged maps
        ``M̃_c`` ``(B, n, S, S)`` (see the module's formula); resize them to the original
        image before :func:`camutils.boxes.heuristic_boxes`, as the release did.
    """
    size = _check_square(images, crop)
    b = images.shape[0]
    views = ten_crops(images, crop).flatten(0, 1)  # (10B, 3, crop, crop), image-major
    logits, features = model(views)
    probs = logits.float().softmax(dim=-1).view(b, 10, -1).mean(dim=1)
    if classes is None:
        if not 1 <= k <= probs.shape[1]:
            raise ValueError(f"k must lie in [1, {probs.shape[1]}]; found {k}")
        classes = probs.topk(k, dim=-1).indices
    else:
        classes = torch.as_tensor(classes, device=probs.device).long()
        if classes.ndim != 2 or classes.shape[0] != b:
            raise ValueError(f"classes must be ({b}, n); found shape {tuple(classes.shape)}")
    per_view = classes.repeat_interleave(10, dim=0)  # each image's classes for its ten views
    maps = class_activation_maps(features.float(), model.weight.float(), per_view)
    maps = upsample_cams(maps, (crop, crop), mode=mode)
    merged = merge_ten_crops(maps.view(b, 10, *maps.shape[1:]), size)
    return TenCropCAMs(probs, classes, merged)
