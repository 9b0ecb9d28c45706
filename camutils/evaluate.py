"""The batched ILSVRC localization pipeline: images -> CAMs -> boxes -> IoU -> Table 2.

For each batch of validation images, everything after reading the files is batched and stays on
the device (the GPU when there is one)::

    JPEG bytes --decode--> RGB (H, W) --resize--> (S, S) --model--> S_c, f_k --top-5--> guesses
        M_c* (h, w) of the true class --bilinear--> (S, S) --[M >= 0.2 max M]--> largest
        component box (input grid) --boxes_to_original--> box in the (H, W) image
        --IoU vs every GT box--> top-1 / top-5 loc, GT-known, classification

- Decoding: on CUDA, ``torchvision.io.decode_jpeg`` decodes a whole list of JPEGs with nvJPEG
  (the hardware decoder on A100/H100) in a background thread, on a CUDA stream of its own;
  grayscale and CMYK JPEGs and other files are decoded by libjpeg/PIL in the DataLoader's
  worker processes, which otherwise only read the files (one shared-memory block per batch).
  On the CPU the workers decode and resize.
- Network: channels-last memory layout and, on the GPU, fp16 autocast; fp32 on the CPU by
  default (``precision="bf16"`` is faster on CPUs with bf16 units but moves a few boxes), so
  the CPU numbers are reproducible. On CUDA the forward pass of the next batch runs on a side
  stream while the boxes of the current one are searched.
- Boxes: a guess ``(c, box)`` counts only when ``c`` is the true class ``c*``, and its box is
  then the box of ``M_c*``; so that single map decides top-1, top-5 and GT-known localization,
  and it is the only one searched by default (``guess_boxes="all"`` searches the top-5 maps too,
  with exactly the same errors). The paper's rule (:func:`camutils.boxes.largest_component_boxes`,
  threshold 0.2 of the map's max) runs on the CAM upsampled bilinearly to the ``S x S`` network
  input, then :func:`camutils.boxes.boxes_to_original` maps the box to the original image. For
  the ``"squash"`` preprocessing the input is the original image scaled by ``(S/W, S/H)``, so
  this is the box of the same (scaled) mask; upsampling the CAM to the original ``H x W``
  directly (``boxes_at="original"``) gives boxes within about ``max(W, H) / S`` pixels of these
  (``tests/test_evaluate.py`` checks it), at several times the cost.
- Metrics: :class:`camutils.metrics.LocalizationMeter`, once over all images and once leaving
  the blacklist out (when there is one).

Every image gets one JSON line in ``OUT/results.jsonl`` (written and flushed after each batch),
including those that cannot be evaluated (missing annotation, unreadable file, an image over
``max_pixels``, boxes outside the image), with the reason.
An interrupted run started again with the same ``out_dir`` reads that file, replays it into the
meters and goes on with the images not yet done: nothing is lost or counted twice. A line that
is not a result (a crash or an edit in the middle of the file) is moved to
``OUT/results.broken.jsonl``, noted, and its image done again. ``OUT/run.json`` records the
resolved data root and every setting that changes a result: results of another run are not
resumed (:class:`ResumeRefused`), and ``OUT/run.lock`` keeps a second process out while a run
goes on (:class:`OutDirLocked`).

Example:
    >>> from camutils.ilsvrc import open_ilsvrc                            # doctest: +SKIP
    >>> result = evaluate("efficientnet_lite0", open_ilsvrc("/data/ILSVRC"), out_dir="runs/x")  # doctest: +SKIP
    >>> print(format_table(result))                                        # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

from camutils.boxes import boxes_to_original, largest_component_boxes
from camutils.cam import class_activation_maps, upsample_cams
from camutils.ilsvrc import (
    MAX_PIXELS,
    ILSVRCVal,
    Record,
    UnreadableImage,
    box_problem,
    boxes_tensor,
    check_pixels,
    decode_image,
    jpeg_info,
    open_ilsvrc,
    read_image_bytes,
)
from camutils.metrics import LocalizationMeter
from camutils.models import CAMModel, Preprocess, load_model

__all__ = [
    "PAPER_TABLE2",
    "EvalResult",
    "EvaluationInterrupted",
    "OutDirLocked",
    "ResultsFile",
    "ResumeRefused",
    "cam_boxes",
    "evaluate",
    "format_table",
    "lock_out_dir",
    "per_class",
    "per_size",
    "read_results",
    "scan_results",
    "worst_misses",
]

Precision = Literal["auto", "fp32", "fp16", "bf16"]
RESULTS_FILE = "results.jsonl"
RUN_FILE = "run.json"
LOCK_FILE = "run.lock"
BROKEN_FILE = "results.broken.jsonl"  # lines of results.jsonl that were not results

# (method, top-1 loc err, top-5 loc err, top-1 cls err, top-5 cls err): Zhou et al. 2016,
# Table 2 (localization, ILSVRC val) with the same networks' classification errors of Table 1
# (None where Table 1 has no row for the method).
PAPER_TABLE2: tuple[tuple[str, float, float, float | None, float | None], ...] = (
    ("GoogLeNet-GAP", 56.40, 43.00, 35.0, 13.2),
    ("VGGnet-GAP", 57.20, 45.14, 33.4, 12.2),
    ("GoogLeNet", 60.09, 49.34, 31.9, 11.3),
    ("AlexNet*-GAP", 63.75, 49.53, 44.9, 20.9),
    ("AlexNet-GAP", 67.19, 52.16, 51.1, 26.3),
    ("NIN", 65.47, 54.19, 41.9, 19.6),
    ("Backprop on GoogLeNet", 61.31, 50.55, None, None),
    ("Backprop on VGGnet", 61.12, 51.46, None, None),
    ("Backprop on AlexNet", 65.17, 52.64, None, None),
    ("GoogLeNet-GMP", 57.78, 45.26, 35.6, 13.9),
)

# Maps x pixels per batched component search on CUDA: a whole batch of 256 images x 6 maps of
# 224 x 224 in two launches of the search (a few GB of work tensors). Elsewhere the default of
# camutils.boxes (small chunks that stay in the CPU's caches).
CUDA_CHUNK_PIXELS = 2**26


# --------------------------------------------------------------------------- loading
class _Item(NamedTuple):
    index: int  # position in the run's record list
    kind: str  # "encoded" (JPEG bytes for the GPU), "decoded" (full size), "resized", "failed"
    data: Tensor | None
    size: tuple[int, int] | None  # original (H, W)
    problem: str | None


def _has_eoi(data: bytes) -> bool:
    """A complete JPEG ends with the EOI marker (possibly followed by a little padding)."""
    return b"\xff\xd9" in data[-64:]


class _Images(torch.utils.data.Dataset):
    """Reads one image per item in a worker process: bytes for the GPU decoder when it can take
    them, else decoded (and, for the CPU pipeline, resized) pixels; a reason when it fails.

    An image over ``max_pixels`` (read from its header) is refused before any decoding, on
    both paths, and so is one whose ground-truth boxes do not lie inside it."""

    def __init__(
        self,
        records: Sequence[Record],
        preprocess: Preprocess,
        gpu: bool,
        max_pixels: int | None = MAX_PIXELS,
    ) -> None:
        self.records = records
        self.preprocess = preprocess
        self.gpu = gpu
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> _Item:
        r = self.records[i]
        if r.problem is not None:
            return _Item(i, "failed", None, None, r.problem)
        try:
            data = read_image_bytes(r.image)
            info = jpeg_info(data)
            if info is not None:
                check_pixels(info.height, info.width, self.max_pixels, r.image.name)
                if problem := _outside(r, (info.height, info.width)):
                    return _Item(i, "failed", None, None, problem)
            if self.gpu and info is not None and info.components == 3 and _has_eoi(data):
                encoded = torch.frombuffer(bytearray(data), dtype=torch.uint8)
                return _Item(i, "encoded", encoded, (info.height, info.width), None)
            img = decode_image(data, r.image.name, self.max_pixels)
        except UnreadableImage as e:
            return _Item(i, "failed", None, None, f"unreadable image: {e}")
        size = (int(img.shape[1]), int(img.shape[2]))
        if problem := _outside(r, size):
            return _Item(i, "failed", None, None, problem)
        if self.gpu:
            return _Item(i, "decoded", img, size, None)
        return _Item(i, "resized", self.preprocess.resize_only(img), size, None)


def _outside(r: Record, size: tuple[int, int]) -> str | None:
    """A problem when the record's boxes do not lie inside its ``(H, W)`` image."""
    problem = box_problem(r.boxes, *size)
    return None if problem is None else f"bad annotation: {problem}"


class _Loaded(NamedTuple):
    """A batch as it leaves a worker: the JPEG bytes packed into one tensor and the resized
    images stacked into another, so that one shared-memory block per batch crosses the process
    boundary instead of one per image."""

    items: list[_Item]  # data=None where packed or stacked
    packed: Tensor | None  # concatenated encoded bytes
    spans: dict[int, tuple[int, int]]  # item position -> (start, end) in packed
    stacked: Tensor | None  # (n, 3, S, S) resized images
    rows: dict[int, int]  # item position -> row of stacked


def _collate(items: list[_Item]) -> _Loaded:
    enc = [i for i, it in enumerate(items) if it.kind == "encoded"]
    res = [i for i, it in enumerate(items) if it.kind == "resized"]
    packed, spans, stacked, rows = None, {}, None, {}
    if enc:
        packed = torch.cat([items[i].data for i in enc])  # type: ignore[misc]
        start = 0
        for i in enc:
            n = items[i].data.numel()  # type: ignore[union-attr]
            spans[i] = (start, start + n)
            start += n
    if res:
        stacked = torch.stack([items[i].data for i in res])  # type: ignore[misc]
        rows = {i: r for r, i in enumerate(res)}
    light = [
        it._replace(data=None) if (k in spans or k in rows) else it for k, it in enumerate(items)
    ]
    return _Loaded(light, packed, spans, stacked, rows)


def _unpack(loaded: _Loaded) -> list[_Item]:
    out = []
    for k, it in enumerate(loaded.items):
        if k in loaded.spans:
            a, b = loaded.spans[k]
            it = it._replace(data=loaded.packed[a:b])  # type: ignore[index]
        elif k in loaded.rows:
            it = it._replace(data=loaded.stacked[loaded.rows[k]])  # type: ignore[index]
        out.append(it)
    return out


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


class _Prepared(NamedTuple):
    indices: list[int]  # records of the rows of `images`
    images: Tensor | None  # (B, 3, S, S) uint8 on the device
    sizes: list[tuple[int, int]]
    failed: list[tuple[int, str]]  # (record index, reason)


def device_decoder_works(device: torch.device) -> bool:
    """Whether ``decode_jpeg(..., device=device)`` runs here (torchvision built with nvJPEG)."""
    from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = encode_jpeg(torch.zeros(3, 16, 16, dtype=torch.uint8))
            out = decode_jpeg([data], mode=ImageReadMode.RGB, device=device)
        return tuple(out[0].shape) == (3, 16, 16)
    except (RuntimeError, ValueError):
        return False


def _decode_on_device(
    items: list[_Item], device: torch.device, max_pixels: int | None = MAX_PIXELS
) -> list[Tensor | str]:
    """nvJPEG decode of a list of JPEGs; one bad file makes the batched call fail, so then each
    is tried alone, and libjpeg/PIL on the CPU get the last word."""
    from torchvision.io import ImageReadMode, decode_jpeg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return list(
                decode_jpeg([it.data for it in items], mode=ImageReadMode.RGB, device=device)
            )
        except RuntimeError:
            pass
        out: list[Tensor | str] = []
        for it in items:
            try:
                out.append(decode_jpeg(it.data, mode=ImageReadMode.RGB, device=device))
            except RuntimeError:
                try:
                    out.append(decode_image(it.data, max_pixels=max_pixels).to(device))
                except UnreadableImage as e:
                    out.append(f"unreadable image: {e}")
        return out


def _prepare(
    loaded: _Loaded | list[_Item],
    device: torch.device,
    preprocess: Preprocess,
    max_pixels: int | None = MAX_PIXELS,
) -> _Prepared:
    items = _unpack(loaded) if isinstance(loaded, _Loaded) else loaded
    failed = [(it.index, it.problem or "failed") for it in items if it.kind == "failed"]
    good = [it for it in items if it.kind != "failed"]
    if not good:
        return _Prepared([], None, [], failed)
    if all(it.kind == "resized" for it in good):
        if isinstance(loaded, _Loaded) and len(good) == len(loaded.rows):
            images = loaded.stacked.to(device)  # type: ignore[union-attr]  # already in order
        else:
            images = torch.stack([it.data for it in good]).to(device)  # type: ignore[misc]
        return _Prepared([it.index for it in good], images, [it.size for it in good], failed)  # type: ignore[misc]
    # full-size images on the device (GPU decode, or CPU-decoded ones copied over)
    pixels: dict[int, Tensor] = {}
    encoded = [it for it in good if it.kind == "encoded"]
    if encoded:
        decoded = _decode_on_device(encoded, device, max_pixels)
        for it, img in zip(encoded, decoded, strict=True):
            if isinstance(img, str):
                failed.append((it.index, img))
            else:
                pixels[it.index] = img
    for it in good:
        if it.kind == "decoded":
            pixels[it.index] = it.data.to(device, non_blocking=True)  # type: ignore[union-attr]
    kept = [it for it in good if it.index in pixels]
    s = preprocess.size
    images = torch.empty((len(kept), 3, s, s), dtype=torch.uint8, device=device)
    groups: dict[tuple[int, int], list[int]] = {}
    for row, it in enumerate(kept):
        groups.setdefault(tuple(pixels[it.index].shape[-2:]), []).append(row)
    for rows in groups.values():  # one resize call per distinct image size
        batch = torch.stack([pixels[kept[r].index] for r in rows])
        images[rows] = preprocess.resize_only(batch)
    sizes = [tuple(int(v) for v in pixels[it.index].shape[-2:]) for it in kept]
    return _Prepared([it.index for it in kept], images, sizes, failed)  # type: ignore[arg-type]


def _prepared_batches(
    batches: Iterable[_Loaded | list[_Item]],
    device: torch.device,
    preprocess: Preprocess,
    max_pixels: int | None = MAX_PIXELS,
) -> Iterator[_Prepared]:
    """:func:`_prepare` of each batch. On CUDA the decoding and resizing run on a stream of
    their own, finished before the batch is handed on: run in the background thread, they would
    otherwise queue on the default stream, where nvJPEG's "wait for the decoder" lands too, and
    every host synchronisation of the box search (main thread, default stream) would then wait
    for the decoding of the batches after it."""
    if device.type != "cuda":
        for items in batches:
            yield _prepare(items, device, preprocess, max_pixels)
        return
    stream = torch.cuda.Stream(device)
    for items in batches:
        with torch.cuda.stream(stream):
            prepared = _prepare(items, device, preprocess, max_pixels)
        stream.synchronize()  # blocks this (data) thread only
        yield prepared


def _background(iterable: Iterable[Any], depth: int = 2) -> Iterator[Any]:
    """Run an iterator in a thread, ``depth`` items ahead (exceptions are re-raised here)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def run() -> None:
        try:
            for x in iterable:
                if stop.is_set():
                    return
                q.put(x)
            q.put(done)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            q.put(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        while True:
            x = q.get()
            if x is done:
                return
            if isinstance(x, BaseException):
                raise x
            yield x
    finally:
        stop.set()
        while t.is_alive():  # unblock the producer if it waits on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(timeout=0.05)


# --------------------------------------------------------------------------- the network part
@dataclass
class _Settings:
    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    threshold: float
    topk: int
    chunk_pixels: int | None
    boxes_at: Literal["input", "original"] = "input"
    guess_boxes: Literal["true-class", "all"] = "true-class"


def _amp_dtype(precision: Precision, device: torch.device) -> torch.dtype | None:
    if precision == "auto":
        precision = "fp16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    raise ValueError(f"precision must be 'auto', 'fp32', 'fp16' or 'bf16'; found {precision!r}")


def _forward(model: CAMModel, images: Tensor, st: _Settings) -> tuple[Tensor, Tensor]:
    """uint8 ``(B, 3, S, S)`` -> logits ``S_c`` (float32) and features ``f_k`` (float32)."""
    x = model.preprocess.normalize(images)
    if st.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(
        st.device.type, dtype=st.amp_dtype or torch.float32, enabled=st.amp_dtype is not None
    ):
        logits, features = model(x)
    return logits.float(), features.float()


def _post(
    model: CAMModel, logits: Tensor, features: Tensor, sizes: Tensor, labels: Tensor, st: _Settings
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One batch after the network: top-k classes and probabilities, their boxes and the true
    class's box, in original-image coordinates: ``(classes (B, k), probs (B, k), boxes (B, k, 4),
    gt_known_boxes (B, 4))``."""
    with _single_thread_on_cpu(logits.device):
        return _post_boxes(model, logits, features, sizes, labels, st)


@contextmanager
def _single_thread_on_cpu(device: torch.device) -> Iterator[None]:
    """The component search is a long series of small tensor operations; on a CPU whose cores
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
    model: CAMModel, logits: Tensor, features: Tensor, sizes: Tensor, labels: Tensor, st: _Settings
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


class _Streams:
    """On CUDA, runs the forward pass of batch ``i`` on a side stream while the boxes of batch
    ``i - 1`` are computed on the main stream (the box search waits on the host at each round of
    its component search, and the GPU would idle meanwhile). Elsewhere: plain calls."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        if self.cuda:
            self.main = torch.cuda.current_stream(device)
            self.side = torch.cuda.Stream(device)

    def forward(self, model: CAMModel, images: Tensor, st: _Settings) -> tuple[Any, Any]:
        if not self.cuda:
            return _forward(model, images, st), None
        # batches from the data thread are finished on its own stream; without that thread
        # (decoding by the workers) the images were copied over on the main stream
        self.side.wait_stream(self.main)
        with torch.cuda.stream(self.side):
            images.record_stream(self.side)
            out = _forward(model, images, st)
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
    :func:`~camutils.boxes.boxes_to_original`: one batched call for the whole batch.

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


# --------------------------------------------------------------------------- results file
class ResultsFile(NamedTuple):
    """A results file as read by :func:`scan_results`."""

    lines: list[dict[str, Any]]  # the result lines, in file order
    broken: list[tuple[int, str]]  # (line number, why it is not a result line)
    line_numbers: list[int]  # the line number of each of ``lines``


def _results_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path / RESULTS_FILE if path.is_dir() else path


def scan_results(path: str | os.PathLike) -> ResultsFile:
    """The result lines of a results file (or of ``OUT/results.jsonl`` given the folder), and
    the lines that are not results (not JSON, not UTF-8, no ``stem``/``status``: a crash or an
    edit in the middle of the file), by line number. A last line cut short by an interruption
    (no newline) is neither: it is left out."""
    path = _results_path(path)
    lines: list[dict[str, Any]] = []
    broken: list[tuple[int, str]] = []
    numbers: list[int] = []
    if not path.is_file():
        return ResultsFile(lines, broken, numbers)
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                break  # interrupted while writing this line
            try:
                line = json.loads(raw.decode("utf-8"))  # the file is UTF-8 (ASCII, in fact)
            except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
                broken.append((line_no, f"not JSON ({type(e).__name__}: {str(e)[:80]})"))
                continue
            if not (
                isinstance(line, dict)
                and isinstance(line.get("stem"), str)
                and isinstance(line.get("status"), str)
            ):
                broken.append((line_no, "not a result (no 'stem' and 'status')"))
                continue
            lines.append(line)
            numbers.append(line_no)
    return ResultsFile(lines, broken, numbers)


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The JSON lines of a results file (or of ``OUT/results.jsonl`` given the folder); a last
    line cut short by an interruption is ignored, and so is any other line that is not a result,
    with a warning naming the file and line (:func:`scan_results` returns them)."""
    scan = scan_results(path)
    for line_no, why in scan.broken:
        warnings.warn(f"{_results_path(path)}:{line_no}: {why}; ignored", stacklevel=2)
    return scan.lines


def _trim_partial_line(path: Path) -> None:
    """Cut a last line that an interruption left without its newline."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            f.truncate(end)


def _move_lines(path: Path, line_numbers: set[int], to: Path) -> None:
    """Move these lines of ``path`` to the end of ``to``; the others stay, in order (the file
    is replaced at once, so an interruption leaves either the old file or the new one)."""
    with open(path, "rb") as f:
        raw = f.readlines()
    keep = [t for n, t in enumerate(raw, start=1) if n not in line_numbers]
    moved = [t for n, t in enumerate(raw, start=1) if n in line_numbers]
    with open(to, "ab") as f:
        f.writelines(moved)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.writelines(keep)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _count_lines(path: Path) -> int:
    """Complete lines in a file (0 when there is none)."""
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return 0


def _box_list(t: Tensor) -> list[list[int]]:
    return t.tolist()


@dataclass
class EvalResult:
    """What :func:`evaluate` measured.

    Attributes:
        metrics: :meth:`LocalizationMeter.compute` over every evaluated image.
        metrics_clean: the same without the blacklisted images (``None`` without a blacklist);
            classification errors there still count every image, the devkit's rule.
        counts: ``found`` (images in the run), ``evaluated``, ``skipped`` and one entry per
            reason an image was skipped (``"unreadable image"``, ``"missing annotation"``, ...).
        problems: ``(stem, reason)`` of every skipped image.
        seconds / images_per_s: time and rate of the images processed by this call (not those
            read back from an earlier, interrupted run).
    """

    model: str
    data: str
    layout: str
    out_dir: Path
    metrics: dict[str, float | int]
    metrics_clean: dict[str, float | int] | None
    counts: dict[str, int]
    problems: list[tuple[str, str]]
    n_blacklisted: int
    resumed: int
    processed: int
    seconds: float
    device: str
    precision: str
    notes: list[str] = field(default_factory=list)

    @property
    def images_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else float("nan")

    @property
    def results_file(self) -> Path:
        return self.out_dir / RESULTS_FILE

    def lines(self) -> list[dict[str, Any]]:
        """The per-image results (one dict per image, in the order they were written)."""
        return read_results(self.results_file)


class ResumeRefused(ValueError):
    """``out_dir`` holds results that this run must not be mixed with: another data root or
    other settings (``reason`` says which), or results whose run cannot be told."""

    def __init__(self, out_dir: Path, reason: str) -> None:
        self.out_dir = out_dir
        self.reason = reason
        super().__init__(self.advice("restart=True", "another out_dir"))

    def advice(self, restart: str, other: str) -> str:
        """The message, naming the ways out as the caller spells them (the command line says
        ``--restart`` and ``--out``)."""
        return (
            f"{self.out_dir} holds {self.reason}. Use {other}, or {restart} to discard "
            "the results there."
        )


class OutDirLocked(RuntimeError):
    """Another process is running an evaluation into the same ``out_dir``."""

    def __init__(self, out_dir: Path, pid: int | None) -> None:
        self.out_dir = out_dir
        self.pid = pid
        who = f"process pid {pid}" if pid is not None else "another process"
        super().__init__(
            f"{out_dir} is in use by {who} (it holds {out_dir / LOCK_FILE}); wait for that "
            "run to end, or use another output folder"
        )


class EvaluationInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C: the results written so far are complete and flushed, and the
    same call (or command) again resumes from them."""

    def __init__(self, kept: int, results_file: Path) -> None:
        self.kept = kept
        self.results_file = results_file
        super().__init__(f"interrupted: {kept} images kept in {results_file}")


_HELD_LOCKS: dict[str, list[int]] = {}  # resolved out dir -> [file descriptor, depth]


def _lock_holder(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@contextmanager
def lock_out_dir(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Create ``out_dir`` and hold ``out_dir/run.lock`` (``fcntl.flock``, with this process's
    id in it) for the duration: two runs into one folder at once would interleave their
    results. A second process gets :class:`OutDirLocked` at once, naming the holder's pid; the
    same process may enter again (the command line holds the lock while it scans the data,
    then :func:`evaluate` takes it too). Where ``fcntl`` does not exist (Windows), no lock."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key = str(out.resolve())
    if key in _HELD_LOCKS:
        _HELD_LOCKS[key][1] += 1
        try:
            yield out
        finally:
            _HELD_LOCKS[key][1] -= 1
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield out
        return
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _lock_holder(fd)
        os.close(fd)
        raise OutDirLocked(out, pid) from None
    except OSError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD_LOCKS[key] = [fd, 1]
    try:
        yield out
    finally:
        del _HELD_LOCKS[key]
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _run_key(
    model: CAMModel, val: ILSVRCVal, st: _Settings, precision: str, max_pixels: int | None
) -> dict[str, Any]:
    p = model.preprocess
    return {
        "data": str(Path(val.root).expanduser().resolve()),
        "model": model.name,
        "classes": int(model.weight.shape[0]),
        "preprocess": [p.size, p.mode, p.resize, list(p.mean), list(p.std), p.interpolation],
        "threshold": st.threshold,
        "topk": st.topk,
        "boxes_at": st.boxes_at,
        "guess_boxes": st.guess_boxes,
        "precision": precision,
        "device": st.device.type,
        "layout": val.layout,
        "max_pixels": max_pixels,
    }


def _check_resume(out_dir: Path, key: dict[str, Any], data: str) -> None:
    """Refuse to add to results of another run; record this run's key."""
    run_file = out_dir / RUN_FILE
    if run_file.is_file():
        try:
            old = json.loads(run_file.read_bytes())
            old_key = old["key"]
            if not isinstance(old_key, dict):
                raise TypeError("'key' is not an object")
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
            raise ResumeRefused(out_dir, f"a {RUN_FILE} that cannot be read ({e})") from e
        diff = {k: (old_key.get(k), v) for k, v in key.items() if old_key.get(k) != v}
        if diff:
            raise ResumeRefused(
                out_dir,
                "results of a different run ("
                + "; ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in diff.items())
                + ")",
            )
    elif _count_lines(out_dir / RESULTS_FILE):
        raise ResumeRefused(
            out_dir, f"a {RESULTS_FILE} without its {RUN_FILE} (which run wrote it is unknown)"
        )
    run_file.write_text(json.dumps({"key": key, "data": data}, indent=1) + "\n")


def _status(problem: str) -> str:
    return problem.split(":", 1)[0].strip()


def _replay_problem(line: dict[str, Any], topk: int, all_boxes: bool) -> str | None:
    """Why a line read back cannot be replayed into the meters (``None`` when it can)."""

    def ints(v: Any, n: int) -> bool:
        return (
            isinstance(v, list)
            and len(v) == n
            and all(type(x) is int and abs(x) < 2**62 for x in v)
        )

    if line["status"] != "ok":
        detail = line.get("detail")
        return None if detail is None or isinstance(detail, str) else "'detail' is not text"
    if not ints(line.get("classes"), topk):
        return f"'classes' is not a list of {topk} integers"
    if not ints(line.get("gt_box"), 4):
        return "'gt_box' is not 4 integers"
    boxes = line.get("boxes")
    if all_boxes and not (isinstance(boxes, list) and len(boxes) == topk):
        return f"'boxes' is not {topk} boxes"
    if all_boxes and not all(ints(b, 4) for b in boxes):  # type: ignore[union-attr]
        return f"'boxes' is not {topk} boxes"
    if not all_boxes and boxes is not None:
        return "'boxes' given for a run that searches the true class's box only"
    return None


# --------------------------------------------------------------------------- the pipeline
def evaluate(
    model: CAMModel | str,
    data: ILSVRCVal | str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    batch_size: int | None = None,
    num_workers: int | None = None,
    device: str | torch.device | None = None,
    precision: Precision = "auto",
    threshold: float = 0.2,
    topk: int = 5,
    limit: int | None = None,
    boxes_at: Literal["input", "original"] = "input",
    guess_boxes: Literal["true-class", "all"] = "true-class",
    restart: bool = False,
    progress: bool = True,
    max_batches: int | None = None,
    decode_on_device: bool | None = None,
    max_pixels: int | None = MAX_PIXELS,
) -> EvalResult:
    """Run CAM localization over a validation set and measure Table 2's errors.

    Args:
        model: a :class:`~camutils.models.CAMModel`, or a name for
            :func:`~camutils.models.load_model` (ImageNet classes in sorted-wnid order).
        data: an :class:`~camutils.ilsvrc.ILSVRCVal`, or a root folder for
            :func:`~camutils.ilsvrc.open_ilsvrc`.
        out_dir: where ``results.jsonl`` and ``run.json`` go (default: a temporary folder). Run
            again with the same folder to resume an interrupted run. The folder is locked for
            the run (:func:`lock_out_dir`); results of another data root or other settings
            there are not resumed: :class:`ResumeRefused`.
        batch_size: images per batch (default 256 on CUDA, 32 on the CPU).
        num_workers: DataLoader worker processes (default: CPU cores - 1, at most 8; 0 reads
            in the main process).
        device: default: CUDA, then MPS, then the CPU.
        precision: ``"auto"`` (fp16 autocast on CUDA, fp32 elsewhere), ``"fp32"``, ``"fp16"``,
            ``"bf16"``.
        threshold: the paper's box threshold, a fraction of each map's maximum.
        topk: guesses per image (5 for Table 2).
        limit: evaluate only the first ``limit`` images (stem order).
        boxes_at: where the boxes are found: on the ``S x S`` input grid, then mapped to the
            original image (``"input"``, fast), or on each map upsampled to the original size
            (``"original"``, exact, slower): see :func:`cam_boxes`.
        guess_boxes: ``"true-class"`` (default): search the box of the true class's map only.
            A guess ``(c, box)`` counts only when ``c`` is the true class, and its box is then
            that map's box, so top-1, top-5 and GT-known figures are exactly those of searching
            all five maps, for a fifth of the work; the results file then holds that box
            (``gt_box``) and no boxes for the other guesses. ``"all"``: a box for each of the
            top-k classes as well (``boxes`` and ``iou`` per guess in the results file).
        restart: discard the results already in ``out_dir`` instead of resuming.
        progress: show a tqdm progress bar (images/s, running top-1 localization error).
        max_batches: stop after this many new batches, as an interruption would (for tests).
        decode_on_device: decode the JPEGs in the main process on ``device`` (nvJPEG) while the
            workers only read files; default: on CUDA. ``True`` on the CPU runs the same code path
            with libjpeg (for tests).
        max_pixels: images whose header declares more pixels are not decoded (reported as
            unreadable); default :data:`~camutils.ilsvrc.MAX_PIXELS`, ``None`` for no limit.

    Returns:
        An :class:`EvalResult`; :func:`format_table` prints it next to the paper's rows.

    Raises:
        EvaluationInterrupted: on Ctrl-C (a ``KeyboardInterrupt``), after the results written
            so far are flushed; it says how many lines the results file keeps.
    """
    from camutils.env import default_device

    _check_arguments(batch_size, num_workers, threshold, max_pixels)
    dev = torch.device(device) if device is not None else default_device()
    if isinstance(model, str):
        model = load_model(model, device=dev)
    model = model.eval().to(dev)
    val = data if isinstance(data, ILSVRCVal) else open_ilsvrc(data)
    val = val.subset(limit)
    if model.wnids is not None and len(model.wnids) != model.weight.shape[0]:
        raise ValueError(f"model has {len(model.wnids)} wnids for {model.weight.shape[0]} classes")
    if not 1 <= topk <= model.weight.shape[0]:
        raise ValueError(f"topk must lie in [1, {model.weight.shape[0]}]; found {topk}")
    val = _relabel(val, model)
    gpu = dev.type == "cuda"
    st = _Settings(
        device=dev,
        amp_dtype=_amp_dtype(precision, dev),
        channels_last=dev.type in ("cuda", "cpu"),
        threshold=float(threshold),
        topk=int(topk),
        chunk_pixels=CUDA_CHUNK_PIXELS if gpu else None,
        boxes_at=boxes_at,
        guess_boxes=guess_boxes,
    )
    prec_name = {None: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[st.amp_dtype]
    if st.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if gpu:
        torch.backends.cudnn.benchmark = True
    batch_size = batch_size or (256 if gpu else 32)
    if num_workers is None:
        num_workers = max(0, min(8, (os.cpu_count() or 1) - 1))
    if out_dir is None:
        import tempfile

        out_dir = tempfile.mkdtemp(prefix="camutils-eval-")
    with lock_out_dir(out_dir) as out:
        results_path = out / RESULTS_FILE
        try:
            if restart:
                results_path.unlink(missing_ok=True)
                (out / RUN_FILE).unlink(missing_ok=True)
            key = _run_key(model, val, st, prec_name, max_pixels)
            _check_resume(out, key, str(val.root))
            _trim_partial_line(results_path)
            tally = _Tally.start(val, st.topk)
            done = _read_back(results_path, val.records, st, tally)
            on_device = gpu if decode_on_device is None else bool(decode_on_device)
            if on_device and gpu and not device_decoder_works(dev):
                on_device = False
                tally.notes.append(
                    "torchvision cannot decode JPEGs on this GPU (no nvJPEG): decoded by workers"
                )
            todo = [r for r in val.records if r.stem not in done]
            dataset = _Images(todo, model.preprocess, on_device, max_pixels)
            seconds = _run_batches(
                model, dataset, results_path, st, tally, batch_size, num_workers,
                on_device, progress, f"{model.name} on {val.layout}", max_batches,
            )  # fmt: skip
        except EvaluationInterrupted:
            raise
        except KeyboardInterrupt as e:
            raise EvaluationInterrupted(_count_lines(results_path), results_path) from e
    return tally.result(model.name, val, out, len(done), seconds, str(dev), prec_name)


def _check_arguments(
    batch_size: int | None, num_workers: int | None, threshold: float, max_pixels: int | None
) -> None:
    """``ValueError`` for settings that would fail later or be silently replaced."""
    if batch_size is not None and not batch_size >= 1:
        raise ValueError(f"batch_size must be a positive integer; found {batch_size!r}")
    if num_workers is not None and not num_workers >= 0:
        raise ValueError(f"num_workers must be an integer >= 0; found {num_workers!r}")
    if not 0.0 <= threshold <= 1.0:  # also NaN
        raise ValueError(f"threshold must lie between 0 and 1; found {threshold!r}")
    if max_pixels is not None and not max_pixels >= 1:
        raise ValueError(f"max_pixels must be a positive integer or None; found {max_pixels!r}")


@dataclass
class _Tally:
    """What a run has counted so far: the meters, the problems, the lines written."""

    meter_all: LocalizationMeter
    meter_clean: LocalizationMeter | None
    counts: dict[str, int]
    n_blacklisted: int
    problems: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    processed: int = 0
    size_mismatch: int = 0

    @classmethod
    def start(cls, val: ILSVRCVal, topk: int) -> _Tally:
        meter_all = LocalizationMeter(topk=(1, topk) if topk > 1 else (1,))
        meter_clean = LocalizationMeter(topk=meter_all.topk) if val.blacklist else None
        counts = {"found": len(val.records), "evaluated": 0, "skipped": 0}
        n_blacklisted = sum(r.blacklisted for r in val.records)
        return cls(meter_all, meter_clean, counts, n_blacklisted)

    def skip(self, stem: str, reason: str) -> None:
        self.problems.append((stem, reason))
        self.counts["skipped"] += 1
        self.counts[_status(reason)] = self.counts.get(_status(reason), 0) + 1

    def result(
        self,
        model_name: str,
        val: ILSVRCVal,
        out: Path,
        resumed: int,
        seconds: float,
        device: str,
        precision: str,
    ) -> EvalResult:
        if self.size_mismatch:
            self.notes.append(
                f"{self.size_mismatch} images differ in size from their annotation's <size> "
                "(boxes used as given)"
            )
        evaluated = self.counts["evaluated"]
        metrics = self.meter_all.compute() if evaluated else {}
        clean = self.meter_clean.compute() if self.meter_clean is not None and evaluated else None
        return EvalResult(
            model=model_name,
            data=str(val.root),
            layout=val.layout,
            out_dir=out,
            metrics=metrics,
            metrics_clean=clean,
            counts=self.counts,
            problems=sorted(self.problems),
            n_blacklisted=self.n_blacklisted,
            resumed=resumed,
            processed=self.processed,
            seconds=seconds,
            device=device,
            precision=precision,
            notes=self.notes + list(val.notes),
        )


def _read_back(
    results_path: Path, records: Sequence[Record], st: _Settings, tally: _Tally
) -> set[str]:
    """Replay what an interrupted run already wrote into the meters; the stems done. Lines
    that are not results are moved to :data:`BROKEN_FILE` (noted): their images are done
    again."""
    by_stem = {r.stem: i for i, r in enumerate(records)}
    scan = scan_results(results_path)
    broken = list(scan.broken)
    done: set[str] = set()
    old_ok: list[dict[str, Any]] = []
    for line_no, line in zip(scan.line_numbers, scan.lines, strict=True):
        stem = line["stem"]
        if stem not in by_stem or stem in done:
            continue
        why = _replay_problem(line, st.topk, st.guess_boxes == "all")
        if why is not None:
            broken.append((line_no, why))
            continue
        done.add(stem)
        if line["status"] == "ok":
            old_ok.append(line)
        else:
            tally.skip(stem, line.get("detail") or line["status"])
    if broken:
        _set_aside(results_path, sorted(broken), tally.notes)
    dev = st.device
    for start in range(0, len(old_ok), 4096):
        chunk = old_ok[start : start + 4096]
        recs = [records[by_stem[ln["stem"]]] for ln in chunk]
        classes = torch.tensor([ln["classes"] for ln in chunk], device=dev)
        gk = torch.tensor([ln["gt_box"] for ln in chunk], device=dev)
        if all(ln["boxes"] is not None for ln in chunk):
            boxes = torch.tensor([ln["boxes"] for ln in chunk], device=dev)
        else:  # true-class boxes only: the other guesses' boxes never count
            boxes = gk[:, None].expand(-1, classes.shape[1], -1)
        _update_meters(tally.meter_all, tally.meter_clean, classes, boxes, gk, recs, dev)
    tally.counts["evaluated"] = len(old_ok)
    return done


def _set_aside(results_path: Path, broken: list[tuple[int, str]], notes: list[str]) -> None:
    moved = results_path.with_name(BROKEN_FILE)
    _move_lines(results_path, {n for n, _ in broken}, moved)
    for line_no, why in broken[:5]:
        notes.append(
            f"{results_path}:{line_no}: {why}; moved to {moved.name}, its image is evaluated again"
        )
    if len(broken) > 5:
        notes.append(
            f"... and {len(broken) - 5} more lines of {results_path} moved to {moved.name}"
        )


def _run_batches(
    model: CAMModel,
    dataset: _Images,
    results_path: Path,
    st: _Settings,
    tally: _Tally,
    batch_size: int,
    num_workers: int,
    on_device: bool,
    progress: bool,
    desc: str,
    max_batches: int | None,
) -> float:
    """Evaluate the dataset's images batch by batch, one results line per image (appended and
    flushed after each batch); the seconds it took."""
    dev = st.device
    todo = dataset.records
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_collate,
        worker_init_fn=_worker_init if num_workers else None,
        prefetch_factor=2 if num_workers else None,
    )
    batches = iter(loader) if todo else iter(())  # workers start here, from the main thread
    prepared: Iterable[_Prepared] = _prepared_batches(
        batches, dev, model.preprocess, dataset.max_pixels
    )
    if on_device:
        prepared = _background(prepared, depth=2)

    streams = _Streams(dev)
    all_boxes = st.guess_boxes == "all"
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), unit="img", desc=desc, smoothing=0.1)
    t0 = time.perf_counter()
    n_batches = 0
    try:
        with open(results_path, "a", encoding="utf-8") as f, torch.inference_mode():

            def finish(batch: _Prepared, out: tuple[Tensor, Tensor] | None, event: Any) -> None:
                lines: list[dict[str, Any]] = []
                for idx, reason in batch.failed:
                    r = todo[idx]
                    tally.skip(r.stem, reason)
                    lines.append(
                        {"stem": r.stem, "status": _status(reason), "detail": reason,
                         "label": r.label, "blacklisted": r.blacklisted}
                    )  # fmt: skip
                if out is not None:
                    logits, features = streams.join(out, event)
                    recs = [todo[i] for i in batch.indices]
                    sizes = torch.tensor(batch.sizes, dtype=torch.long)
                    labels = torch.tensor([r.label for r in recs], device=dev)
                    classes, probs, boxes, gk = _post(model, logits, features, sizes, labels, st)
                    res = _update_meters(
                        tally.meter_all, tally.meter_clean, classes, boxes, gk, recs, dev
                    )
                    outputs = dict(res, classes=classes, probs=probs, boxes=boxes, gk=gk)
                    keep = ["classes", "probs", "gk", "gt_known_iou", "gt_known", "top1_loc",
                            "top1_cls", f"top{st.topk}_loc", f"top{st.topk}_cls"]  # fmt: skip
                    keep += ["boxes", "iou"] if all_boxes else []
                    host = {k: outputs[k].cpu().tolist() for k in keep}  # one copy per field
                    for j, r in enumerate(recs):
                        h, w = batch.sizes[j]
                        if r.size is not None and tuple(r.size) != (h, w):
                            tally.size_mismatch += 1
                        area = max((b[2] - b[0] + 1) * (b[3] - b[1] + 1) for b in r.boxes)
                        lines.append(
                            _ok_line(r, (h, w), area / (h * w), host, j, st.topk, all_boxes)
                        )
                    tally.counts["evaluated"] += len(recs)
                lines.sort(key=lambda ln: ln["stem"])
                f.write("".join(json.dumps(ln, separators=(",", ":")) + "\n" for ln in lines))
                f.flush()
                tally.processed += len(lines)
                if bar is not None:
                    bar.update(len(lines))
                    if tally.counts["evaluated"]:
                        m = tally.meter_all.compute()
                        bar.set_postfix(top1_loc_err=f"{m['top1_loc_error']:.2f}", refresh=False)

            # Software pipelining: the forward pass of batch i is launched (on a side stream on
            # CUDA) before the boxes of batch i - 1 are computed, so the GPU runs both at once.
            pending = None
            for batch in prepared:
                if max_batches is not None and n_batches >= max_batches:
                    break
                n_batches += 1
                launched, event = None, None
                if batch.images is not None and batch.indices:
                    launched, event = streams.forward(model, batch.images, st)
                if pending is not None:
                    finish(*pending)
                pending = (batch, launched, event)
            if pending is not None:
                finish(*pending)
    finally:
        if bar is not None:
            bar.close()
        if hasattr(prepared, "close"):
            prepared.close()  # type: ignore[union-attr]
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return time.perf_counter() - t0


def _relabel(val: ILSVRCVal, model: CAMModel) -> ILSVRCVal:
    """The readers number classes in ImageNet's sorted-wnid order; a model with another order
    (its ``wnids``) gets its own indices, and wnids it does not know become problems."""
    if model.wnids is None:
        return val
    index = {w: i for i, w in enumerate(model.wnids)}
    if all(r.wnid is None or index.get(r.wnid) == r.label for r in val.records):
        return val
    records = []
    for r in val.records:
        if r.wnid is None or index.get(r.wnid) == r.label:
            records.append(r)
        elif r.wnid in index:
            records.append(replace(r, label=index[r.wnid]))
        else:
            problem = r.problem or f"unknown class: {r.wnid} is not one of the model's classes"
            records.append(replace(r, label=-1, problem=problem))
    return replace(val, records=records)


def _update_meters(
    meter_all: LocalizationMeter,
    meter_clean: LocalizationMeter | None,
    classes: Tensor,
    boxes: Tensor,
    gt_known_boxes: Tensor,
    recs: Sequence[Record],
    device: torch.device,
) -> dict[str, Tensor]:
    gt_boxes, gt_valid = boxes_tensor(recs, device)
    labels = torch.tensor([r.label for r in recs], device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fewer than 5 guesses only when topk < 5, by choice
        res = meter_all.update(classes, boxes, labels, gt_boxes, gt_valid, gt_known_boxes)
        if meter_clean is not None:
            bl = torch.tensor([r.blacklisted for r in recs], device=device)
            meter_clean.update(classes, boxes, labels, gt_boxes, gt_valid, gt_known_boxes, bl)
    return res


def _ok_line(
    r: Record,
    size: tuple[int, int],
    gt_frac: float,
    host: dict[str, list],
    j: int,
    k: int,
    all_boxes: bool,
) -> dict[str, Any]:
    line = {
        "stem": r.stem,
        "status": "ok",
        "label": r.label,
        "blacklisted": r.blacklisted,
        "size": list(size),
        "n_gt": len(r.boxes),
        "gt_frac": round(gt_frac, 4),
        "classes": host["classes"][j],
        "probs": [round(p, 5) for p in host["probs"][j]],
        "boxes": host["boxes"][j] if all_boxes else None,
        "iou": [round(v, 4) for v in host["iou"][j]] if all_boxes else None,
        "gt_box": host["gk"][j],
        "gt_known_iou": round(float(host["gt_known_iou"][j]), 4),
        "gt_known": bool(host["gt_known"][j]),
        "top1_loc": bool(host["top1_loc"][j]),
        "top1_cls": bool(host["top1_cls"][j]),
    }
    if k > 1:
        line[f"top{k}_loc"] = bool(host[f"top{k}_loc"][j])
        line[f"top{k}_cls"] = bool(host[f"top{k}_cls"][j])
    return line


# --------------------------------------------------------------------------- reporting
def _fmt(v: float | None, width: int = 9) -> str:
    return f"{'-':>{width}}" if v is None or v != v else f"{v:>{width}.2f}"


def measured_rows(result: EvalResult) -> list[tuple[str, dict[str, float | int]]]:
    """The measured rows of the table: all images, and without the blacklist when there is
    one."""
    rows = []
    if result.metrics:
        n = result.metrics["images"]
        rows.append((f"{result.model}, CAM ({n:,} images)", result.metrics))
        if result.metrics_clean is not None:
            nl = result.metrics_clean["loc_images"]
            rows.append(
                (f"{result.model}, CAM, blacklist out ({nl:,} images)", result.metrics_clean)
            )
    return rows


def format_table(result: EvalResult, paper: bool = True) -> str:
    """Table 2's layout: the paper's rows, then the measured ones (in %).

    Top-1/top-5 localization error as in the paper's Table 2 and top-1/top-5 classification
    error as in its Table 1 (for the same networks), lower is better; the last column is the
    GT-known localization *accuracy* (Choe et al. 2020; not reported by the paper), higher is
    better, named so in the header: one quantity, one name, as in the notebooks.
    """
    head = f"{'Method':<50}{'top-1 loc':>10}{'top-5 loc':>10}{'top-1 cls':>10}{'top-5 cls':>10}{'GT-kn acc':>10}"
    rule = "-" * len(head)
    lines = [
        "ILSVRC validation, in the layout of Zhou et al. 2016, Table 2: localization (loc) and "
        "classification (cls) error in %; GT-kn acc = GT-known localization accuracy in %",
        head,
        rule,
    ]
    if paper:
        for name, l1, l5, c1, c5 in PAPER_TABLE2:
            lines.append(
                f"{name + ' (paper)':<50}{_fmt(l1, 10)}{_fmt(l5, 10)}{_fmt(c1, 10)}{_fmt(c5, 10)}{_fmt(None, 10)}"
            )
        lines.append(rule)
    for name, m in measured_rows(result):
        gk = m.get("gt_known_loc_acc")
        k = max(
            int(key[3:-10]) for key in m if key.startswith("top") and key.endswith("_loc_error")
        )
        lines.append(
            f"{name:<50}{_fmt(m['top1_loc_error'], 10)}{_fmt(m.get(f'top{k}_loc_error'), 10)}"  # type: ignore[arg-type]
            f"{_fmt(m['top1_cls_error'], 10)}{_fmt(m.get(f'top{k}_cls_error'), 10)}{_fmt(gk, 10)}"  # type: ignore[arg-type]
        )
    c = result.counts
    skipped = ", ".join(
        f"{v} {k}" for k, v in sorted(c.items()) if k not in ("found", "evaluated", "skipped")
    )
    lines.append(rule)
    lines.append(
        f"{c['found']:,} images found, {c['evaluated']:,} evaluated, {c['skipped']:,} skipped"
        + (f" ({skipped})" if skipped else "")
    )
    return "\n".join(lines)


def per_class(
    lines: Sequence[dict[str, Any]], class_names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Per-class figures from the per-image results: images, top-1 loc error, GT-known
    localization accuracy, top-1 classification error (%), sorted by class index."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for ln in lines:
        if ln["status"] == "ok":
            groups.setdefault(ln["label"], []).append(ln)
    rows = []
    for label in sorted(groups):
        g = groups[label]
        n = len(g)
        rows.append(
            {
                "label": label,
                "class": class_names[label] if class_names else str(label),
                "images": n,
                "top1_loc_error": 100.0 * sum(not x["top1_loc"] for x in g) / n,
                "gt_known_accuracy": 100.0 * sum(bool(x["gt_known"]) for x in g) / n,
                "top1_cls_error": 100.0 * sum(not x["top1_cls"] for x in g) / n,
            }
        )
    return rows


SIZE_BINS: tuple[tuple[str, float, float], ...] = (
    ("small (< 10%)", 0.0, 0.10),
    ("medium (10-40%)", 0.10, 0.40),
    ("large (40-70%)", 0.40, 0.70),
    ("very large (>= 70%)", 0.70, float("inf")),
)


def per_size(lines: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Figures by object size: the largest ground-truth box's share of the image area, in
    :data:`SIZE_BINS`. Small objects are where a 7x7 CAM and a 20% threshold struggle."""
    rows = []
    ok = [ln for ln in lines if ln["status"] == "ok"]
    for name, lo, hi in SIZE_BINS:
        g = [x for x in ok if lo <= x["gt_frac"] < hi]
        n = len(g)
        rows.append(
            {
                "size": name,
                "images": n,
                "top1_loc_error": 100.0 * sum(not x["top1_loc"] for x in g) / n
                if n
                else float("nan"),
                "gt_known_accuracy": 100.0 * sum(bool(x["gt_known"]) for x in g) / n
                if n
                else float("nan"),
                "mean_gt_known_iou": sum(x["gt_known_iou"] for x in g) / n if n else float("nan"),
            }
        )
    return rows


def worst_misses(lines: Sequence[dict[str, Any]], n: int = 6) -> list[dict[str, Any]]:
    """The images whose true-class CAM box is furthest from the ground truth (lowest GT-known
    IoU), worst first: the failures of localization itself, whatever the classifier said."""
    ok = [ln for ln in lines if ln["status"] == "ok"]
    return sorted(ok, key=lambda x: (x["gt_known_iou"], x["stem"]))[:n]
