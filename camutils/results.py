"""The results of a run on disk: one JSON line per image, resume, the run's key and lock, and
the tally that turns lines into Table 2's counts.

``OUT/results.jsonl`` gets one line per image (written and flushed after each batch),
including those that cannot be evaluated (missing annotation, unreadable file, an image over
``max_pixels``, boxes outside the image), with the reason. A run started again with the same
``out_dir`` replays that file into the meters (:func:`replay_results`) and goes on with the
images not yet done: nothing is lost or counted twice. A line that is not a result (a crash or
an edit in the middle of the file) is moved to ``OUT/results.broken.jsonl``, noted, and its
image done again. ``OUT/run.json`` records the resolved data root and every setting that
changes a result (:func:`run_key`): results of another run are not resumed
(:class:`ResumeRefused`), and ``OUT/run.lock`` keeps a second process out while a run goes on
(:class:`OutDirLocked`).

Example:
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> _ = (out / RESULTS_FILE).write_text('{"stem": "a", "status": "ok"}\\n{"stem": "b"')
    >>> [ln["stem"] for ln in read_results(out)]     # the cut-short last line is left out
    ['a']
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from camutils.ilsvrc import ILSVRCVal, Record, boxes_tensor
from camutils.metrics import LocalizationMeter
from camutils.models import CAMModel
from camutils.step import StepSettings

__all__ = [
    "BROKEN_FILE",
    "LOCK_FILE",
    "RESULTS_FILE",
    "RUN_FILE",
    "EvalResult",
    "EvaluationInterrupted",
    "OutDirLocked",
    "ResultsFile",
    "ResumeRefused",
    "RunTally",
    "check_resume",
    "count_lines",
    "lock_out_dir",
    "ok_line",
    "read_results",
    "replay_results",
    "run_key",
    "scan_results",
    "status_of",
    "trim_partial_line",
]

RESULTS_FILE = "results.jsonl"
RUN_FILE = "run.json"
LOCK_FILE = "run.lock"
BROKEN_FILE = "results.broken.jsonl"  # lines of results.jsonl that were not results


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


def trim_partial_line(path: Path) -> None:
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


def count_lines(path: Path) -> int:
    """Complete lines in a file (0 when there is none)."""
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return 0


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
            read back from an earlier, interrupted run); the slowest shard's time.
        shards: processes the run was sharded over (torchrun), each with its results in
            ``out_dir/shard-R-of-N/``; 1 for a single process.
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
    shards: int = 1

    @property
    def images_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else float("nan")

    @property
    def results_file(self) -> Path:
        """The results file of a single-process run (``shards == 1``)."""
        return self.out_dir / RESULTS_FILE

    @property
    def results_files(self) -> list[Path]:
        """Every results file of the run: one, or one per shard of a torchrun run, by rank."""
        if self.shards == 1:
            return [self.results_file]
        w = self.shards
        return [self.out_dir / f"shard-{r}-of-{w}" / RESULTS_FILE for r in range(w)]

    def lines(self) -> list[dict[str, Any]]:
        """The per-image results (one dict per image, in the order they were written; shard
        by shard for a torchrun run)."""
        return [ln for f in self.results_files for ln in read_results(f)]


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


def run_key(
    model: CAMModel,
    val: ILSVRCVal,
    st: StepSettings,
    precision: str,
    max_pixels: int | None,
    decoding: str = "cpu",
) -> dict[str, Any]:
    """Everything that changes a run's results: the resolved data root, the model, its
    preprocessing, the step's settings and who decodes the JPEGs (``"cpu"``, or a device
    decoder such as ``"nvimgcodec"``, with ``" + cpu 0.3"`` for a CPU share): decoders agree
    within a tolerance, not bit for bit. :func:`check_resume` resumes only the same key."""
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
        "decoding": decoding,
    }


def check_resume(out_dir: Path, key: dict[str, Any], data: str) -> None:
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
    elif count_lines(out_dir / RESULTS_FILE):
        raise ResumeRefused(
            out_dir, f"a {RESULTS_FILE} without its {RUN_FILE} (which run wrote it is unknown)"
        )
    run_file.write_text(json.dumps({"key": key, "data": data}, indent=1) + "\n")


def status_of(problem: str) -> str:
    """The status a problem is counted under: the text before its first colon.

    Example:
        >>> status_of("unreadable image: x.JPEG: cannot decode")
        'unreadable image'
    """
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


@dataclass
class RunTally:
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
    def start(cls, val: ILSVRCVal, topk: int) -> RunTally:
        meter_all = LocalizationMeter(topk=(1, topk) if topk > 1 else (1,))
        meter_clean = LocalizationMeter(topk=meter_all.topk) if val.blacklist else None
        counts = {"found": len(val.records), "evaluated": 0, "skipped": 0}
        n_blacklisted = sum(r.blacklisted for r in val.records)
        return cls(meter_all, meter_clean, counts, n_blacklisted)

    def skip(self, stem: str, reason: str) -> None:
        self.problems.append((stem, reason))
        self.counts["skipped"] += 1
        self.counts[status_of(reason)] = self.counts.get(status_of(reason), 0) + 1

    def add(
        self, classes: Tensor, boxes: Tensor, gt_known_boxes: Tensor, recs: Sequence[Record]
    ) -> dict[str, Tensor]:
        """Count a batch of evaluated images in both meters (the clean one leaves the blacklist
        out): guesses ``classes`` ``(B, k)`` with ``boxes`` ``(B, k, 4)`` and the true class's
        box ``(B, 4)``; the meter's per-image verdicts."""
        device = classes.device
        gt_boxes, gt_valid = boxes_tensor(recs, device)
        labels = torch.tensor([r.label for r in recs], device=device)
        m_all, m_clean = self.meter_all, self.meter_clean
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fewer than 5 guesses only when topk < 5, by choice
            res = m_all.update(classes, boxes, labels, gt_boxes, gt_valid, gt_known_boxes)
            if m_clean is not None:
                bl = torch.tensor([r.blacklisted for r in recs], device=device)
                m_clean.update(classes, boxes, labels, gt_boxes, gt_valid, gt_known_boxes, bl)
        return res

    def result(
        self,
        model_name: str,
        val: ILSVRCVal,
        out: Path,
        resumed: int,
        seconds: float,
        device: str,
        precision: str,
        shards: int = 1,
    ) -> EvalResult:
        """What the run measured, from the meters and the counts."""
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
            shards=shards,
        )


def replay_results(
    results_path: Path, records: Sequence[Record], st: StepSettings, tally: RunTally
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
        tally.add(classes, boxes, gk, recs)
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


def ok_line(
    r: Record,
    size: tuple[int, int],
    gt_frac: float,
    host: dict[str, list],
    j: int,
    k: int,
    all_boxes: bool,
) -> dict[str, Any]:
    """The results line of evaluated image ``j`` of a batch: ``host`` holds the batch's
    outputs as lists (``classes``, ``probs``, ``gk``, the verdicts and, with ``all_boxes``,
    ``boxes`` and ``iou``), ``k`` is the run's top-k."""
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
