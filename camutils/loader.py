"""The batch loader: records -> batches of uint8 ``(B, 3, S, S)`` images on the device, with
their original sizes and the images that could not be read.

- Workers (:class:`ImageReader` in a ``DataLoader``) read each file and check its header
  (:func:`~camutils.decode.jpeg_info`: the pixel limit, the ground-truth boxes inside the
  image) before anything is decoded. For a device decoder they hand on the JPEG bytes
  (3-component, complete files); otherwise they decode with libjpeg/PIL, and on the CPU
  resize too. :func:`collate_items` packs a batch into one shared-memory block of bytes and
  one of resized images, so that one block per batch crosses the process boundary.
- :func:`prepared_batches` finishes each batch on the device: the device decode
  (:func:`~camutils.decode.decode_on_device`) and one resize call per distinct image size;
  on CUDA on a stream of its own, in a background thread (:func:`background`), so the decoding
  of the next batch overlaps the network and box search of the current one.

Example:
    >>> import tempfile
    >>> from camutils.ilsvrc import open_ilsvrc
    >>> from camutils.models import Preprocess
    >>> from camutils.synthetic import make_synthetic_val
    >>> val = open_ilsvrc(make_synthetic_val(tempfile.mkdtemp(), 8).root)
    >>> reader = ImageReader(val.records, Preprocess(224), on_device=False)
    >>> batches = prepared_batches(batch_loader(reader, 4, 0), torch.device("cpu"), Preprocess(224))
    >>> [(len(b.indices), len(b.failed)) for b in batches]
    [(3, 1), (3, 1)]
"""

from __future__ import annotations

import functools
import os
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from camutils.decode import (
    MAX_PIXELS,
    UnreadableImage,
    check_pixels,
    decode_image,
    decode_on_device,
    has_eoi,
    jpeg_info,
    read_image_bytes,
)
from camutils.ilsvrc import Record, box_problem
from camutils.models import Preprocess

__all__ = [
    "ImageItem",
    "ImageReader",
    "LoadedBatch",
    "PreparedBatch",
    "ThreadedBatches",
    "background",
    "batch_loader",
    "collate_items",
    "default_workers",
    "prepare_batch",
    "prepared_batches",
    "unpack_items",
    "worker_init",
]


class ImageItem(NamedTuple):
    """One image as a worker hands it on."""

    index: int  # position in the run's record list
    kind: str  # "encoded" (JPEG bytes for the GPU), "decoded" (full size), "resized", "failed"
    data: Tensor | None
    size: tuple[int, int] | None  # original (H, W)
    problem: str | None


class ImageReader(torch.utils.data.Dataset):
    """Reads one image per item in a worker process: bytes for the GPU decoder when it can take
    them, else decoded (and, for the CPU pipeline, resized) pixels; a reason when it fails.

    An image over ``max_pixels`` (read from its header) is refused before any decoding, on
    both paths, and so is one whose ground-truth boxes do not lie inside it.

    ``cpu_share``: with a device decoder, the fraction of the JPEGs that the workers decode
    anyway (spread evenly by index): CPU cores taking a share of the images when the GPU
    decoder is the bottleneck."""

    def __init__(
        self,
        records: Sequence[Record],
        preprocess: Preprocess,
        on_device: bool,
        max_pixels: int | None = MAX_PIXELS,
        cpu_share: float = 0.0,
    ) -> None:
        if not 0.0 <= cpu_share <= 1.0:  # also NaN
            raise ValueError(f"cpu_share must lie between 0 and 1; found {cpu_share!r}")
        self.cpu_share = float(cpu_share)
        self.records = records
        self.preprocess = preprocess
        self.on_device = on_device
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> ImageItem:
        r = self.records[i]
        if r.problem is not None:
            return ImageItem(i, "failed", None, None, r.problem)
        try:
            data = read_image_bytes(r.image)
            info = jpeg_info(data)
            if info is not None:
                check_pixels(info.height, info.width, self.max_pixels, r.image.name)
                if problem := _outside(r, (info.height, info.width)):
                    return ImageItem(i, "failed", None, None, problem)
            device_ok = info is not None and info.components == 3 and has_eoi(data)
            if self.on_device and device_ok and not self._on_cpu(i):
                encoded = torch.frombuffer(bytearray(data), dtype=torch.uint8)
                return ImageItem(i, "encoded", encoded, (info.height, info.width), None)
            img = decode_image(data, r.image.name, self.max_pixels)
        except UnreadableImage as e:
            return ImageItem(i, "failed", None, None, f"unreadable image: {e}")
        size = (int(img.shape[1]), int(img.shape[2]))
        if problem := _outside(r, size):
            return ImageItem(i, "failed", None, None, problem)
        if self.on_device:
            return ImageItem(i, "decoded", img, size, None)
        return ImageItem(i, "resized", self.preprocess.resize_only(img), size, None)

    def _on_cpu(self, i: int) -> bool:
        """Whether image ``i`` is one of the ``cpu_share`` the workers decode: every image
        where ``floor((i + 1) * share)`` steps up."""
        return int((i + 1) * self.cpu_share) > int(i * self.cpu_share)


def _outside(r: Record, size: tuple[int, int]) -> str | None:
    """A problem when the record's boxes do not lie inside its ``(H, W)`` image."""
    problem = box_problem(r.boxes, *size)
    return None if problem is None else f"bad annotation: {problem}"


class LoadedBatch(NamedTuple):
    """A batch as it leaves a worker: the JPEG bytes packed into one tensor and the resized
    images stacked into another, so that one shared-memory block per batch crosses the process
    boundary instead of one per image."""

    items: list[ImageItem]  # data=None where packed or stacked
    packed: Tensor | None  # concatenated encoded bytes
    spans: dict[int, tuple[int, int]]  # item position -> (start, end) in packed
    stacked: Tensor | None  # (n, 3, S, S) resized images
    rows: dict[int, int]  # item position -> row of stacked


def collate_items(items: list[ImageItem]) -> LoadedBatch:
    """A worker's batch packed for the trip to the main process (see :class:`LoadedBatch`);
    :func:`unpack_items` gives the items back."""
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
    return LoadedBatch(light, packed, spans, stacked, rows)


def unpack_items(loaded: LoadedBatch) -> list[ImageItem]:
    """The items of a packed batch, each with its own data again (views, no copies)."""
    out = []
    for k, it in enumerate(loaded.items):
        if k in loaded.spans:
            a, b = loaded.spans[k]
            it = it._replace(data=loaded.packed[a:b])  # type: ignore[index]
        elif k in loaded.rows:
            it = it._replace(data=loaded.stacked[loaded.rows[k]])  # type: ignore[index]
        out.append(it)
    return out


def worker_init(_: int) -> None:
    """Each worker (process or reading thread) decodes on one intra-op thread: the workers are
    the parallelism. (With OpenMP the setting belongs to the calling thread.)"""
    torch.set_num_threads(1)


class PreparedBatch(NamedTuple):
    """A batch ready for the network: the images that were read, and the reasons for the
    others."""

    indices: list[int]  # records of the rows of `images`
    images: Tensor | None  # (B, 3, S, S) uint8 on the device
    sizes: list[tuple[int, int]]
    failed: list[tuple[int, str]]  # (record index, reason)


def prepare_batch(
    loaded: LoadedBatch | list[ImageItem],
    device: torch.device,
    preprocess: Preprocess,
    max_pixels: int | None = MAX_PIXELS,
    decoder: str = "torchvision",
) -> PreparedBatch:
    """Finish a batch on ``device``: decode what the workers left encoded, copy the rest over,
    and resize (one call per distinct image size) to the network's ``S x S`` input."""
    items = unpack_items(loaded) if isinstance(loaded, LoadedBatch) else loaded
    failed = [(it.index, it.problem or "failed") for it in items if it.kind == "failed"]
    good = [it for it in items if it.kind != "failed"]
    if not good:
        return PreparedBatch([], None, [], failed)
    if all(it.kind == "resized" for it in good):
        if isinstance(loaded, LoadedBatch) and len(good) == len(loaded.rows):
            images = loaded.stacked.to(device)  # type: ignore[union-attr]  # already in order
        else:
            images = torch.stack([it.data for it in good]).to(device)  # type: ignore[misc]
        return PreparedBatch([it.index for it in good], images, [it.size for it in good], failed)  # type: ignore[misc]
    # full-size images on the device (GPU decode, or CPU-decoded ones copied over)
    pixels: dict[int, Tensor] = {}
    encoded = [it for it in good if it.kind == "encoded"]
    if encoded:
        decoded = decode_on_device([it.data for it in encoded], device, max_pixels, decoder)
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
    return PreparedBatch([it.index for it in kept], images, sizes, failed)  # type: ignore[arg-type]


def prepared_batches(
    batches: Iterable[LoadedBatch | list[ImageItem]],
    device: torch.device,
    preprocess: Preprocess,
    max_pixels: int | None = MAX_PIXELS,
    decoder: str = "torchvision",
) -> Iterator[PreparedBatch]:
    """:func:`prepare_batch` of each batch. On CUDA the decoding and resizing run on a stream of
    their own, finished before the batch is handed on: run in the background thread, they would
    otherwise queue on the default stream, where nvJPEG's "wait for the decoder" lands too, and
    every host synchronisation of the box search (main thread, default stream) would then wait
    for the decoding of the batches after it."""
    if device.type != "cuda":
        for items in batches:
            yield prepare_batch(items, device, preprocess, max_pixels, decoder)
        return
    stream = torch.cuda.Stream(device)
    for items in batches:
        with torch.cuda.stream(stream):
            prepared = prepare_batch(items, device, preprocess, max_pixels, decoder)
        stream.synchronize()  # blocks this (data) thread only
        yield prepared


def background(iterable: Iterable[Any], depth: int = 2) -> Iterator[Any]:
    """Run an iterator in a thread, ``depth`` items ahead (exceptions are re-raised here).

    Example:
        >>> list(background(iter(range(5))))
        [0, 1, 2, 3, 4]
    """
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


def default_workers(device: torch.device | str) -> int:
    """Worker processes for reading a device's batches: none on a CPU, where the images are
    read in turn with the network, with every core (see :func:`batch_loader`); elsewhere CPU
    cores - 1, at most 8, reading ahead while the accelerator works.

    Example:
        >>> default_workers("cpu")
        0
    """
    if torch.device(device).type == "cpu":
        return 0
    return max(0, min(8, (os.cpu_count() or 1) - 1))


def batch_loader(
    reader: ImageReader, batch_size: int, num_workers: int, threads: int | None = None
) -> Iterator[LoadedBatch]:
    """The reader's images in order, ``batch_size`` at a time, packed by :func:`collate_items`.

    ``num_workers > 0``: read by that many worker processes (a ``DataLoader``), which start
    here, from the calling thread, and read ahead while the caller works: the right choice when
    the caller's work runs elsewhere (a GPU). ``num_workers == 0``: read in this process, each
    batch when it is asked for, by ``threads`` threads at once (default: torch's intra-op thread
    count; libjpeg, PIL and torch's resize release the GIL). On a CPU this makes the stages take
    turns, each with every core, where worker processes reading ahead would take cores from the
    network's threads in the middle of its layers. Nothing starts when there is nothing to read.

    Example:
        >>> import tempfile
        >>> from camutils.ilsvrc import open_ilsvrc
        >>> from camutils.models import Preprocess
        >>> from camutils.synthetic import make_synthetic_val
        >>> val = open_ilsvrc(make_synthetic_val(tempfile.mkdtemp(), 5).root)
        >>> reader = ImageReader(val.records, Preprocess(224), on_device=False)
        >>> [len(b.items) for b in batch_loader(reader, 2, 0, threads=2)]
        [2, 2, 1]
    """
    if not len(reader):
        return iter(())
    if num_workers == 0:
        return ThreadedBatches(reader, batch_size, threads or torch.get_num_threads())
    loader = torch.utils.data.DataLoader(
        reader,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate_items,
        worker_init_fn=worker_init,
        prefetch_factor=2,
    )
    return iter(loader)


@functools.cache
def _thread_setting_is_per_thread() -> bool:
    """Whether ``torch.set_num_threads`` in one thread leaves the others' count alone (OpenMP:
    yes); only then may reading threads take one intra-op thread each."""
    n = torch.get_num_threads()
    t = threading.Thread(target=torch.set_num_threads, args=(1,))
    t.start()
    t.join()
    per_thread = torch.get_num_threads() == n
    torch.set_num_threads(n)  # also the count that threads started later begin with
    return per_thread


class ThreadedBatches:
    """Batches read in this process by a pool of ``threads`` threads (one intra-op thread
    each), each batch when it is asked for: an iterator of :class:`LoadedBatch`.

    :meth:`read_ahead` starts reading the next batch now, for a caller that knows when the
    cores are free (on a CPU: after the forward pass, while the single-threaded box search of
    the batch before runs). :meth:`close` stops the pool.

    Example:
        >>> import tempfile
        >>> from camutils.ilsvrc import open_ilsvrc
        >>> from camutils.models import Preprocess
        >>> from camutils.synthetic import make_synthetic_val
        >>> val = open_ilsvrc(make_synthetic_val(tempfile.mkdtemp(), 5).root)
        >>> batches = ThreadedBatches(ImageReader(val.records, Preprocess(224), False), 2, 2)
        >>> first = next(batches); batches.read_ahead(); [len(b.items) for b in batches]
        [2, 1]
    """

    def __init__(self, reader: ImageReader, batch_size: int, threads: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.reader = reader
        self.starts = iter(range(0, len(reader), batch_size))
        self.batch_size = batch_size
        self.threads_here = torch.get_num_threads()
        init = worker_init if _thread_setting_is_per_thread() else None
        self.pool = ThreadPoolExecutor(max(1, threads), "camutils-read", init, (0,))
        self.ahead: list[Any] | None = None  # futures of the next batch's items

    def read_ahead(self) -> None:
        if self.ahead is None:
            a = next(self.starts, None)
            if a is not None:
                end = min(a + self.batch_size, len(self.reader))
                self.ahead = [self.pool.submit(self.reader.__getitem__, i) for i in range(a, end)]

    def __iter__(self) -> ThreadedBatches:
        return self

    def __next__(self) -> LoadedBatch:
        self.read_ahead()
        if self.ahead is None:
            self.close()
            raise StopIteration
        futures, self.ahead = self.ahead, None
        try:
            return collate_items([f.result() for f in futures])
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        # the reading threads' one thread each is also what threads started later would take
        torch.set_num_threads(self.threads_here)
