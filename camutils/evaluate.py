"""The batched ILSVRC localization pipeline: images -> CAMs -> boxes -> IoU -> Table 2.

:func:`evaluate` wires the stages, each a module of its own, which an image passes one way::

    camutils.ilsvrc      records: image file, class, ground-truth boxes (three layouts)
    camutils.decode      header checks, JPEG bytes -> (3, H, W) RGB on the CPU or the device
    camutils.loader      batches of uint8 (B, 3, S, S) images on the device, decode overlapped
    camutils.preprocess  the resize to S x S and its exact inverse for boxes
    camutils.step        forward (S_c, f_k) -> top-k guesses -> M_c* -> boxes in (H, W)
    camutils.results     one JSON line per image, resume, the run's key and lock, the tally
    camutils.report      Table 2's layout, per class, per size, worst misses
    camutils.distributed torchrun: the images sharded by index, the counts summed

Every image gets one line in ``OUT/results.jsonl``, including those that cannot be evaluated,
with the reason; a run started again with the same ``out_dir`` resumes (see
:mod:`camutils.results`). The names the notebooks import from here (``format_table``,
``per_class``, ...) are those of :mod:`camutils.report` and :mod:`camutils.results`.

Example:
    >>> from camutils.ilsvrc import open_ilsvrc                            # doctest: +SKIP
    >>> result = evaluate("efficientnet_lite0", open_ilsvrc("/data/ILSVRC"), out_dir="runs/x")  # doctest: +SKIP
    >>> print(format_table(result))                                        # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Literal

import torch

from camutils.decode import DEVICE_DECODERS, MAX_PIXELS, choose_decoder
from camutils.distributed import (
    Shard,
    combine_tallies,
    init_distributed,
    is_main_process,
    rank_device,
    reduce_over_ranks,
)
from camutils.ilsvrc import ILSVRCVal, Record, open_ilsvrc
from camutils.loader import (
    ImageReader,
    PreparedBatch,
    ThreadedBatches,
    background,
    batch_loader,
    default_workers,
    prepared_batches,
)
from camutils.models import CAMModel, load_model
from camutils.report import (  # the report stage, imported by the notebooks from here
    PAPER_TABLE2,
    SIZE_BINS,
    format_table,
    measured_rows,
    per_class,
    per_size,
    worst_misses,
)
from camutils.results import (  # the results stage, imported by the notebooks from here
    RESULTS_FILE,
    RUN_FILE,
    EvalResult,
    EvaluationInterrupted,
    OutDirLocked,
    ResultsFile,
    ResumeRefused,
    RunTally,
    check_resume,
    count_lines,
    lock_out_dir,
    ok_line,
    read_results,
    replay_results,
    run_key,
    scan_results,
    status_of,
    trim_partial_line,
)
from camutils.step import (
    CUDA_CHUNK_PIXELS,
    ForwardStreams,
    Precision,
    StepSettings,
    amp_dtype,
    cam_boxes,
    precision_name,
    topk_boxes,
)

__all__ = [
    "PAPER_TABLE2",
    "SIZE_BINS",
    "EvalResult",
    "EvaluationInterrupted",
    "OutDirLocked",
    "ResultsFile",
    "ResumeRefused",
    "cam_boxes",
    "evaluate",
    "format_table",
    "lock_out_dir",
    "measured_rows",
    "per_class",
    "per_size",
    "read_results",
    "scan_results",
    "worst_misses",
]


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
    decoder: str = "auto",
    cpu_decode_share: float = 0.0,
) -> EvalResult:
    """Run CAM localization over a validation set and measure Table 2's errors.

    Args:
        model: a :class:`~camutils.models.CAMModel`, or a name for
            :func:`~camutils.models.load_model` (ImageNet classes in sorted-wnid order).
        data: an :class:`~camutils.ilsvrc.ILSVRCVal`, or a root folder for
            :func:`~camutils.ilsvrc.open_ilsvrc`.
        out_dir: where ``results.jsonl`` and ``run.json`` go (default: a temporary folder). Run
            again with the same folder to resume an interrupted run. The folder is locked for
            the run (:func:`~camutils.results.lock_out_dir`); results of another data root or other settings
            there are not resumed: :class:`~camutils.results.ResumeRefused`.
        batch_size: images per batch (default 256 on CUDA, 32 on the CPU).
        num_workers: DataLoader worker processes; 0 reads in the main process, one batch at a
            time, on as many threads as torch uses (:func:`~camutils.loader.batch_loader`).
            Default :func:`~camutils.loader.default_workers`: 0 on the CPU, where reading takes
            turns with the network instead of taking cores from it; elsewhere CPU cores - 1, at
            most 8.
        device: default: CUDA, then MPS, then the CPU.
        precision: ``"auto"`` (fp16 autocast on CUDA, fp32 elsewhere), ``"fp32"``, ``"fp16"``,
            ``"bf16"``.
        threshold: the paper's box threshold, a fraction of each map's maximum.
        topk: guesses per image (5 for Table 2).
        limit: evaluate only the first ``limit`` images (stem order).
        boxes_at: where the boxes are found: on the ``S x S`` input grid, then mapped to the
            original image (``"input"``, fast), or on each map upsampled to the original size
            (``"original"``, exact, slower): see :func:`~camutils.step.cam_boxes`.
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
        decoder: the device decoder when decoding on the device: ``"auto"`` (the fastest that
            works here, :func:`~camutils.decode.choose_decoder`), or one of
            :data:`~camutils.decode.DEVICE_DECODERS` (``"nvimgcodec"``, ``"dali"``,
            ``"torchcodec"``, ``"torchvision"``).
        cpu_decode_share: with a device decoder, the fraction of the JPEGs the CPU workers
            decode anyway (when the GPU decoder is the bottleneck); 0 by default.

    Under torchrun (``WORLD_SIZE`` > 1, or an initialised ``torch.distributed`` group) each
    process evaluates its shard of the images (:mod:`camutils.distributed`) into
    ``out_dir/shard-R-of-N/``, on GPU ``LOCAL_RANK`` for ``device="cuda"``, and every process
    returns the totals of all shards.

    Returns:
        An :class:`~camutils.results.EvalResult`; :func:`~camutils.report.format_table` prints it next to the paper's rows.

    Raises:
        ~camutils.results.EvaluationInterrupted: on Ctrl-C (a ``KeyboardInterrupt``), after the results written
            so far are flushed; it says how many lines the results file keeps.
    """
    from camutils.env import default_device

    _check_arguments(batch_size, num_workers, threshold, max_pixels)
    _check_decoding(decoder, cpu_decode_share)
    dev = torch.device(device) if device is not None else default_device()
    shard = init_distributed(dev)
    if shard.world_size > 1 and out_dir is None:
        raise ValueError("out_dir is needed for a run sharded over processes (torchrun)")
    dev = rank_device(dev)
    model = _ready_model(model, dev)
    val = data if isinstance(data, ILSVRCVal) else open_ilsvrc(data)
    val = _relabel(val.subset(limit), model)
    if shard.world_size > 1:  # this process's images: every world_size-th, by index
        val = replace(val, records=shard.take(val.records))
    if not 1 <= topk <= model.weight.shape[0]:
        raise ValueError(f"topk must lie in [1, {model.weight.shape[0]}]; found {topk}")
    gpu = dev.type == "cuda"
    st = StepSettings(
        device=dev,
        amp_dtype=amp_dtype(precision, dev),
        channels_last=dev.type in ("cuda", "cpu"),
        threshold=float(threshold),
        topk=int(topk),
        chunk_pixels=CUDA_CHUNK_PIXELS if gpu else None,
        boxes_at=boxes_at,
        guess_boxes=guess_boxes,
    )
    opts = _BatchOptions(
        batch_size or (256 if gpu else 32),
        default_workers(dev) if num_workers is None else num_workers,
        gpu if decode_on_device is None else bool(decode_on_device),
        progress and is_main_process(),
        max_batches,
        max_pixels,
        decoder,
        float(cpu_decode_share),
    )
    if out_dir is None:
        import tempfile

        out_dir = tempfile.mkdtemp(prefix="camutils-eval-")
    with lock_out_dir(shard.out_dir(Path(out_dir))) as out:
        results_path = out / RESULTS_FILE
        try:
            opts, notes = _check_device_decoder(opts, dev)
            tally, done = _start_or_resume(
                out, model, val, st, max_pixels, restart, shard, _decoding(opts)
            )
            tally.notes += notes
            todo = [r for r in val.records if r.stem not in done]
            reader = ImageReader(
                todo, model.preprocess, opts.on_device, max_pixels, opts.cpu_decode_share
            )
            seconds = run_batches(model, reader, results_path, st, tally, opts)
        except EvaluationInterrupted:
            raise
        except KeyboardInterrupt as e:
            raise EvaluationInterrupted(count_lines(results_path), results_path) from e
    tally = combine_tallies(tally, dev)
    resumed = int(reduce_over_ranks(len(done), dev))
    seconds = float(reduce_over_ranks(seconds, dev, op="max"))
    return tally.result(
        model.name, val, Path(out_dir), resumed, seconds, str(dev), precision_name(st.amp_dtype),
        shard.world_size,
    )  # fmt: skip


def _ready_model(model: CAMModel | str, dev: torch.device) -> CAMModel:
    """The model in eval mode on ``dev`` (loaded by name), channels-last on CUDA and CPU."""
    if isinstance(model, str):
        model = load_model(model, device=dev)
    model = model.eval().to(dev)
    if model.wnids is not None and len(model.wnids) != model.weight.shape[0]:
        raise ValueError(f"model has {len(model.wnids)} wnids for {model.weight.shape[0]} classes")
    if dev.type in ("cuda", "cpu"):
        model = model.to(memory_format=torch.channels_last)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return model


def _start_or_resume(
    out: Path,
    model: CAMModel,
    val: ILSVRCVal,
    st: StepSettings,
    max_pixels: int | None,
    restart: bool,
    shard: Shard,
    decoding: str,
) -> tuple[RunTally, set[str]]:
    """A fresh tally, with what an earlier run of the same key wrote into ``out`` replayed into
    it (nothing after ``restart``); the stems already done. A shard resumes its own results:
    its rank and the number of shards are part of the key."""
    results_path = out / RESULTS_FILE
    if restart:
        results_path.unlink(missing_ok=True)
        (out / RUN_FILE).unlink(missing_ok=True)
    key = run_key(model, val, st, precision_name(st.amp_dtype), max_pixels, decoding)
    if shard.world_size > 1:
        key["shard"] = [shard.rank, shard.world_size]
    check_resume(out, key, str(val.root))
    trim_partial_line(results_path)
    tally = RunTally.start(val, st.topk)
    done = replay_results(results_path, val.records, st, tally)
    return tally, done


@dataclass(frozen=True)
class _BatchOptions:
    """How the batches are read: size, worker processes, where JPEGs are decoded, the progress
    bar, an early stop (for tests), the pixel limit."""

    batch_size: int
    num_workers: int
    on_device: bool
    progress: bool
    max_batches: int | None
    max_pixels: int | None
    decoder: str  # "auto" until _check_device_decoder picks one
    cpu_decode_share: float


def _check_device_decoder(
    opts: _BatchOptions, dev: torch.device
) -> tuple[_BatchOptions, list[str]]:
    """Decoding on the device needs a decoder that runs there (the fastest one for ``"auto"``);
    without one the workers decode. The options with the decoder chosen, and notes for the
    report."""
    if not opts.on_device:
        return opts, []
    if opts.decoder == "auto" and dev.type != "cuda":
        return replace(opts, decoder="torchvision"), []  # the CPU path of the tests: libjpeg
    decoder = choose_decoder(dev, opts.decoder)
    if decoder is None:
        note = f"no JPEG decoder works on {dev} here: decoded by the CPU workers"
        return replace(opts, on_device=False), [note]
    notes = [f"JPEGs decoded on {dev} by {decoder}"] if dev.type == "cuda" else []
    return replace(opts, decoder=decoder), notes


def _decoding(opts: _BatchOptions) -> str:
    """Who decodes the JPEGs, for the run key: ``"cpu"`` (libjpeg / PIL in the readers), or the
    device decoder, with the share the CPU takes: resumed results are never a mix of decoders
    that the run did not ask for."""
    if not opts.on_device:
        return "cpu"
    share = f" + cpu {opts.cpu_decode_share:g}" if opts.cpu_decode_share else ""
    return f"{opts.decoder}{share}"


def run_batches(
    model: CAMModel,
    reader: ImageReader,
    results_path: Path,
    st: StepSettings,
    tally: RunTally,
    opts: _BatchOptions,
) -> float:
    """Evaluate the reader's images batch by batch, one results line per image (appended and
    flushed after each batch), counted in ``tally``; the seconds it took.

    Software pipelining: the forward pass of batch ``i`` is launched (on a side stream on CUDA,
    :class:`~camutils.step.ForwardStreams`) before the boxes of batch ``i - 1`` are searched, so
    the GPU runs both at once; the loader decodes ahead in a background thread on CUDA. On the
    CPU the images are read by threads of this process (no worker processes by default), each
    batch after the forward pass of the one before, alongside its single-threaded box search:
    the network has every core to itself while it runs."""
    loaded = batch_loader(reader, opts.batch_size, opts.num_workers)
    prepared: Iterable[PreparedBatch] = prepared_batches(
        loaded, st.device, model.preprocess, reader.max_pixels, opts.decoder
    )
    if opts.on_device:
        prepared = background(prepared, depth=2)
    read_ahead = isinstance(loaded, ThreadedBatches) and not opts.on_device
    streams = ForwardStreams(st.device)
    bar = _progress_bar(len(reader.records), opts.progress, f"{model.name}")
    t0 = time.perf_counter()
    try:
        with open(results_path, "a", encoding="utf-8") as f, torch.inference_mode():
            pending = None
            for n, batch in enumerate(prepared):
                if opts.max_batches is not None and n >= opts.max_batches:
                    break
                launched = None
                if batch.images is not None and batch.indices:
                    launched = streams.forward(model, batch.images, st)
                if read_ahead:  # the cores are free of the network now
                    loaded.read_ahead()  # type: ignore[union-attr]
                if pending is not None:
                    _finish_batch(f, model, reader.records, st, tally, streams, *pending)
                    _show(bar, tally)
                pending = (batch, launched)
            if pending is not None:
                _finish_batch(f, model, reader.records, st, tally, streams, *pending)
                _show(bar, tally)
    finally:
        if bar is not None:
            bar.close()
        for it in (prepared, loaded):
            if hasattr(it, "close"):
                it.close()  # type: ignore[union-attr]
    if st.device.type == "cuda":
        torch.cuda.synchronize(st.device)
    return time.perf_counter() - t0


def _progress_bar(total: int, progress: bool, desc: str) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="img", desc=desc, smoothing=0.1)


def _show(bar: Any, tally: RunTally) -> None:
    """Move the progress bar to the lines written; the running top-1 localization error."""
    if bar is None:
        return
    bar.update(tally.processed - bar.n)
    if tally.counts["evaluated"]:
        m = tally.meter_all.compute()
        bar.set_postfix(top1_loc_err=f"{m['top1_loc_error']:.2f}", refresh=False)


def _finish_batch(
    f: IO[str],
    model: CAMModel,
    records: Sequence[Record],
    st: StepSettings,
    tally: RunTally,
    streams: ForwardStreams,
    batch: PreparedBatch,
    launched: Any,
) -> None:
    """The boxes and verdicts of a batch whose forward pass was launched; its lines written
    (failed images too) and counted."""
    lines: list[dict[str, Any]] = []
    for idx, reason in batch.failed:
        r = records[idx]
        tally.skip(r.stem, reason)
        lines.append(
            {"stem": r.stem, "status": status_of(reason), "detail": reason,
             "label": r.label, "blacklisted": r.blacklisted}
        )  # fmt: skip
    if launched is not None:
        logits, features = streams.join(*launched)
        lines += _evaluated_lines(model, logits, features, batch, records, st, tally)
    lines.sort(key=lambda ln: ln["stem"])
    f.write("".join(json.dumps(ln, separators=(",", ":")) + "\n" for ln in lines))
    f.flush()
    tally.processed += len(lines)


def _evaluated_lines(
    model: CAMModel,
    logits: torch.Tensor,
    features: torch.Tensor,
    batch: PreparedBatch,
    records: Sequence[Record],
    st: StepSettings,
    tally: RunTally,
) -> list[dict[str, Any]]:
    """Guesses, boxes and verdicts of the batch's evaluated images, counted in the tally; one
    results line each."""
    dev = st.device
    recs = [records[i] for i in batch.indices]
    sizes = torch.tensor(batch.sizes, dtype=torch.long)
    labels = torch.tensor([r.label for r in recs], device=dev)
    classes, probs, boxes, gk = topk_boxes(model, logits, features, sizes, labels, st)
    res = tally.add(classes, boxes, gk, recs)
    all_boxes = st.guess_boxes == "all"
    outputs = dict(res, classes=classes, probs=probs, boxes=boxes, gk=gk)
    keep = ["classes", "probs", "gk", "gt_known_iou", "gt_known", "top1_loc", "top1_cls",
            f"top{st.topk}_loc", f"top{st.topk}_cls"]  # fmt: skip
    keep += ["boxes", "iou"] if all_boxes else []
    host = {k: outputs[k].cpu().tolist() for k in keep}  # one copy per field
    lines = []
    for j, r in enumerate(recs):
        h, w = batch.sizes[j]
        if r.size is not None and tuple(r.size) != (h, w):
            tally.size_mismatch += 1
        area = max((b[2] - b[0] + 1) * (b[3] - b[1] + 1) for b in r.boxes)
        lines.append(ok_line(r, (h, w), area / (h * w), host, j, st.topk, all_boxes))
    tally.counts["evaluated"] += len(recs)
    return lines


def _check_decoding(decoder: str, cpu_decode_share: float) -> None:
    """``ValueError`` for a decoder that does not exist or a share outside ``[0, 1]``."""
    if decoder != "auto" and decoder not in DEVICE_DECODERS:
        raise ValueError(
            f"decoder must be 'auto' or one of {', '.join(DEVICE_DECODERS)}; found {decoder!r}"
        )
    if not 0.0 <= cpu_decode_share <= 1.0:  # also NaN
        raise ValueError(f"cpu_decode_share must lie between 0 and 1; found {cpu_decode_share!r}")


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
