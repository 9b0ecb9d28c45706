"""The batch step: a batch of resized images -> the network -> top-k guesses, CAMs, boxes.

::

    uint8 (B, 3, S, S) --normalise, channels-last, autocast--> S_c, f_k
        --softmax, top-k--> guesses c, P_c
        M_c* (h, w) of the true class --bilinear--> (S, S) --[M >= 0.2 max M]--> largest
        component box (input grid) --boxes_to_original--> box in the (H, W) image

- Network: channels-last memory layout and, on the GPU, fp16 autocast; fp32 on the CPU by
  default (``precision="bf16"`` is faster on CPUs with bf16 units but moves a few boxes), so
  the CPU numbers are reproducible. On CUDA (:class:`ForwardStreams`) the forward pass of the
  next batch runs on a side stream while the boxes of the current one are searched.
- Boxes: a guess ``(c, box)`` counts only when ``c`` is the true class ``c*``, and its box is
  then the box of ``M_c*``; so that single map decides top-1, top-5 and GT-known localization,
  and it is the only one searched by default (``guess_boxes="all"`` searches the top-5 maps too,
  with exactly the same errors). The paper's rule (:func:`camutils.boxes.largest_component_boxes`,
  threshold 0.2 of the map's max) runs on the CAM upsampled bilinearly to the ``S x S`` network
  input, then :func:`camutils.preprocess.boxes_to_original` maps the box to the original image
  (:func:`cam_boxes`). Upsampling the CAM to the original ``H x W`` directly
  (``boxes_at="original"``) gives boxes within about ``max(W, H) / S`` pixels of these, at
  several times the cost.

Example:
    >>> from camutils.models import CAMModel, Preprocess
    >>> torch.manual_seed(0) is not None
    True
    >>> body = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 32, stride=32), torch.nn.ReLU())
    >>> model = CAMModel(body, torch.nn.Linear(4, 10), "avg", preprocess=Preprocess(64)).eval()
    >>> st = StepSettings(torch.device("cpu"), None, False, 0.2, 3, None)
    >>> x = torch.zeros(2, 3, 64, 64, dtype=torch.uint8)
    >>> with torch.no_grad():
    ...     logits, feats = forward_batch(model, x, st)
    ...     classes, probs, boxes, gk = topk_boxes(model, logits, feats,
    ...                                            torch.tensor([[48, 64], [64, 48]]),
    ...                                            torch.tensor([1, 2]), st)
    >>> classes.shape, boxes.shape, gk.shape
    (torch.Size([2, 3]), torch.Size([2, 3, 4]), torch.Size([2, 4]))
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from camutils.boxes import largest_component_boxes
from camutils.cam import class_activation_maps, upsample_cams
from camutils.models import CAMModel, Preprocess
from camutils.preprocess import boxes_to_original

__all__ = [
    "CUDA_CHUNK_PIXELS",
    "ForwardStreams",
    "Precision",
    "StepSettings",
    "amp_dtype",
    "cam_boxes",
    "forward_batch",
    "precision_name",
    "single_thread_on_cpu",
    "topk_boxes",
]

Precision = Literal["auto", "fp32", "fp16", "bf16"]


# Maps x pixels per batched component search on CUDA: a whole batch of 256 images x 6 maps of
# 224 x 224 in two launches of the search (a few GB of work tensors). Elsewhere the default of
# camutils.boxes (small chunks that stay in the CPU's caches).
CUDA_CHUNK_PIXELS = 2**26


@dataclass
class StepSettings:
    """What the batch step needs to know besides the model: the device, the autocast dtype
    (``None``: fp32), channels-last, the box threshold ``t``, the number of guesses ``k``, the
    component search's chunk size, where boxes are searched and for which maps."""

    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    threshold: float
    topk: int
    chunk_pixels: int | None
    boxes_at: Literal["input", "original"] = "input"
    guess_boxes: Literal["true-class", "all"] = "true-class"


def amp_dtype(precision: Precision, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a precision name (``None`` for fp32): ``"auto"`` is fp16 on CUDA,
    fp32 elsewhere.

    Example:
        >>> amp_dtype("auto", torch.device("cpu")), amp_dtype("bf16", torch.device("cpu"))
        (None, torch.bfloat16)
    """
    if precision == "auto":
        precision = "fp16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    raise ValueError(f"precision must be 'auto', 'fp32', 'fp16' or 'bf16'; found {precision!r}")


def precision_name(dtype: torch.dtype | None) -> str:
    """The name of an autocast dtype, as :func:`amp_dtype` reads it.

    Example:
        >>> precision_name(None), precision_name(torch.float16)
        ('fp32', 'fp16')
    """
    return {None: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]


def forward_batch(model: CAMModel, images: Tensor, st: StepSettings) -> tuple[Tensor, Tensor]:
    """uint8 ``(B, 3, S, S)`` -> logits ``S_c`` (float32) and features ``f_k`` (float32)."""
    x = model.preprocess.normalize(images)
    if st.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(
        st.device.type, dtype=st.amp_dtype or torch.float32, enabled=st.amp_dtype is not None
    ):
        logits, features = model(x)
    return logits.float(), features.float()


def topk_boxes(
    model: CAMModel,
    logits: Tensor,
    features: Tensor,
    sizes: Tensor,
    labels: Tensor,
    st: StepSettings,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One batch after the network: top-k classes and probabilities, their boxes and the true
    class's box, in original-image coordinates: ``(classes (B, k), probs (B, k), boxes (B, k, 4),
    gt_known_boxes (B, 4))``."""
    with single_thread_on_cpu(logits.device):
        return _post_boxes(model, logits, features, sizes, labels, st)


@contextmanager
def single_thread_on_cpu(device: torch.device) -> Iterator[None]:
    """One intra-op thread while the block runs on a CPU device (unchanged elsewhere).

    The component search is a long series of small tensor operations; on a CPU whose cores
    are shared with other work, each parallel region waits for its slowest thread and the
    search can run 10-100x slower with 2+ threads than with one (measured on a 2-core machine).
    One thread is steady, and at most about 25% slower on an idle machine."""
    if device.type != "cpu":
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _post_boxes(
    model: CAMModel,
    logits: Tensor,
    features: Tensor,
    sizes: Tensor,
    labels: Tensor,
    st: StepSettings,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    probs, classes = logits.softmax(dim=-1).topk(st.topk, dim=-1)
    weight = model.weight.float()
    args = (model.preprocess, st.threshold, st.boxes_at, st.chunk_pixels)
    if st.guess_boxes == "true-class":
        # A guess (c, box) can only be correct when c is the true class c*, and then its box is
        # the box of M_c*: that one map decides top-1, top-5 and GT-known localization alike.
        cams = class_activation_maps(features, weight, labels.clamp_min(0)[:, None])
        gt_known = cam_boxes(cams, sizes, *args)[:, 0]
        return classes, probs, gt_known[:, None].expand(-1, st.topk, -1), gt_known
    boxes = cam_boxes(class_activation_maps(features, weight, classes), sizes, *args)  # (B, k, 4)
    # GT-known: the true class's box; searched again only where that class is not in the top k
    hit = classes == labels[:, None]
    gt_known = boxes[torch.arange(len(classes), device=boxes.device), hit.int().argmax(dim=1)]
    miss = (~hit.any(dim=1)).nonzero()[:, 0]
    if len(miss):
        cams = class_activation_maps(features[miss], weight, labels[miss].clamp_min(0)[:, None])
        gt_known[miss] = cam_boxes(cams, sizes[miss.cpu()], *args)[:, 0]
    return classes, probs, boxes, gt_known


class ForwardStreams:
    """The forward pass, overlapped with the box search where the device allows.

    On CUDA, runs the forward pass of batch ``i`` on a side stream while the boxes of batch
    ``i - 1`` are computed on the main stream (the box search waits on the host at each round of
    its component search, and the GPU would idle meanwhile). Elsewhere: plain calls."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        if self.cuda:
            self.main = torch.cuda.current_stream(device)
            self.side = torch.cuda.Stream(device)

    def forward(self, model: CAMModel, images: Tensor, st: StepSettings) -> tuple[Any, Any]:
        if not self.cuda:
            return forward_batch(model, images, st), None
        # batches from the data thread are finished on its own stream; without that thread
        # (decoding by the workers) the images were copied over on the main stream
        self.side.wait_stream(self.main)
        with torch.cuda.stream(self.side):
            images.record_stream(self.side)
            out = forward_batch(model, images, st)
            event = torch.cuda.Event()
            event.record(self.side)
        return out, event

    def join(self, out: Any, event: Any) -> tuple[Tensor, Tensor]:
        if self.cuda:
            self.main.wait_event(event)
            for t in out:
                t.record_stream(self.main)
        return out


def cam_boxes(
    cams: Tensor,
    original_sizes: Tensor,
    preprocess: Preprocess,
    threshold: float = 0.2,
    boxes_at: Literal["input", "original"] = "input",
    chunk_pixels: int | None = None,
) -> Tensor:
    """The paper's box of each raw map ``M_c`` ``(B, n, h, w)``, in original-image pixels.

    ``boxes_at="input"`` (the pipeline's default): upsample the maps bilinearly to the ``S x S``
    network input, take the largest component of ``[M >= t max M]`` there, and map the box with
    :func:`~camutils.preprocess.boxes_to_original`: one batched call for the whole batch.

    ``boxes_at="original"``: upsample each map to its image's own ``H x W`` (bilinear) and take
    the box there, as the paper's release did: exact, batched per distinct image size, several
    times more pixels (``"squash"`` preprocessing only: a centre crop's map does not cover the
    whole image).

    The two agree to within about ``max(H, W) / S`` pixels per side for almost every map (the
    bilinear surface is the same, sampled on two grids); rarely, when two blobs of the mask
    touch on one grid and not on the other, the largest component itself differs.

    Example:
        >>> cams = torch.zeros(1, 1, 7, 7); cams[0, 0, 2:4, 3:6] = 1.0
        >>> sizes = torch.tensor([[375, 500]])
        >>> cam_boxes(cams, sizes, Preprocess(224)), cam_boxes(cams, sizes, Preprocess(224), boxes_at="original")
        (tensor([[[192,  90, 450, 230]]]), tensor([[[193,  91, 449, 229]]]))
    """
    chunk = chunk_pixels or (CUDA_CHUNK_PIXELS if cams.is_cuda else None)
    sizes = torch.as_tensor(original_sizes).long()
    if boxes_at == "input":
        s = preprocess.size
        up = upsample_cams(cams, (s, s))  # bilinear, align_corners=False
        boxes = largest_component_boxes(up, threshold, chunk_pixels=chunk)
        return boxes_to_original(boxes, sizes, preprocess)
    if boxes_at != "original":
        raise ValueError(f"boxes_at must be 'input' or 'original'; found {boxes_at!r}")
    if preprocess.mode != "squash":
        raise ValueError(
            "boxes_at='original' needs the 'squash' preprocessing (the map covers the whole image)"
        )
    boxes = torch.empty((*cams.shape[:2], 4), dtype=torch.long, device=cams.device)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (h, w) in enumerate(sizes.tolist()):
        groups.setdefault((h, w), []).append(i)
    for (h, w), rows in groups.items():
        up = upsample_cams(cams[rows], (h, w))
        boxes[rows] = largest_component_boxes(up, threshold, chunk_pixels=chunk)
    return boxes
