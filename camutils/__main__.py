"""The command line: ``python -m camutils evaluate --data ROOT --model NAME`` (or ``camutils``).

Example::

    python -m camutils evaluate --data ~/imagenet-object-localization-challenge \\
        --model efficientnet_lite0 --out runs/lite0

prints the paper's Table 2 with the measured rows beside it. The per-image results go to
``OUT/results.jsonl`` as the run goes: run the same command again after an interruption (Ctrl-C
included) and it carries on where it stopped.

A mistake in the command (a negative batch size, an unknown model, an ``--out`` that is a file,
results of another run in ``--out``) ends with one line on stderr starting with ``error:`` and
exit code 2, before any work; an image or annotation that cannot be used is reported and counted
at the end, and the run goes on. Ctrl-C exits with code 130 after saying what was kept.

Several GPUs, processes or machines::

    torchrun --nproc-per-node 8 -m camutils evaluate --data ROOT --out runs/r50 --device cuda

shards the images by index over the processes (``OUT/shard-R-of-N/`` each, resumed shard by
shard); rank 0 prints the table of all of them (see :mod:`camutils.distributed`).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

__all__ = ["main", "printable"]

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shells' convention


# --------------------------------------------------------------------------- printing
def printable(text: str, encoding: str | None = None) -> str:
    """``text`` as any terminal can print it: bytes of a non-UTF-8 file name (which Python
    holds as surrogate escapes) become ``\\xff``, and characters the ``encoding`` lacks become
    backslash escapes, instead of a ``UnicodeEncodeError``.

    Example:
        >>> printable("val" + bytes([0xff]).decode("utf-8", "surrogateescape"))
        'val\\\\xff'
        >>> printable("café", "ascii")
        'caf\\\\xe9'
    """
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # lone surrogates that are not escaped bytes
        raw = text.encode("utf-8", "backslashreplace")
    text = raw.decode("utf-8", "backslashreplace")
    encoding = encoding or "utf-8"
    try:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:  # an encoding Python does not know
        return text.encode("ascii", "backslashreplace").decode("ascii")


def _say(text: str = "", stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    print(printable(text, getattr(stream, "encoding", None)), file=stream, flush=True)


def _error(text: str) -> int:
    """One ``error:`` line on stderr (newlines folded); the exit code of a user error."""
    _say("error: " + " ".join(text.split()), sys.stderr)
    return EXIT_ERROR


# --------------------------------------------------------------------------- options
class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one ``error:`` line (no usage block) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        _error(f"{message} (see {self.prog} --help)")
        raise SystemExit(EXIT_ERROR)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; found {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0; found {text!r}")
    return value


def _most_per_core() -> int:
    """The most threads or worker processes accepted: 4 per CPU core (more only slows things
    down, and 100,000 OpenMP threads crash the process)."""
    return 4 * (os.cpu_count() or 1)


def _at_most_per_core(parse: Callable[[str], int], expected: str) -> Callable[[str], int]:
    """An argparse type: ``parse``, then at most :func:`_most_per_core`."""

    def check(text: str) -> int:
        value = parse(text)
        if value > _most_per_core():
            raise argparse.ArgumentTypeError(
                f"expected {expected} up to {_most_per_core()} (4 per CPU core here); "
                f"found {text!r}"
            )
        return value

    return check


_threads = _at_most_per_core(_positive_int, "a positive integer")
_workers = _at_most_per_core(_count, "an integer >= 0")


def _fraction_of(what: str):
    """An argparse type: a number in ``[0, 1]``, ``what`` naming the fraction in the error."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not 0.0 <= value <= 1.0:
            raise argparse.ArgumentTypeError(
                f"expected a fraction of {what}, between 0 and 1; found {text!r}"
            )
        return value

    return parse


def _device(text: str) -> str:
    """``cpu``, ``cuda``, ``cuda:N`` or ``mps``, present on this machine."""
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(
            f"expected a device such as cpu, cuda, cuda:1 or mps; found {text!r}"
        )
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (dev.index or 0) >= n:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not here: this machine has {n} CUDA device(s)"
            )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text!r} is not available on this machine")
    return text


def _parser() -> argparse.ArgumentParser:
    from camutils.decode import DEVICE_DECODERS
    from camutils.ilsvrc import MAX_PIXELS

    p = _Parser(
        prog="python -m camutils",
        description="Class Activation Mapping tools (Zhou et al., CVPR 2016).",
    )
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser(
        "evaluate",
        help="CAM localization on ILSVRC 2012 validation (Table 2 of the paper)",
        description=(
            "Evaluate CAM boxes on ILSVRC 2012 validation: top-1 / top-5 localization error, "
            "GT-known localization accuracy and classification error, printed beside the paper's "
            "Table 2. The data folder may hold the official devkit layout, Kaggle's layout or "
            "torchvision's ImageNet folder with the XML boxes (detected)."
        ),
    )
    e.add_argument("--data", required=True, help="root folder of the validation set")
    e.add_argument("--model", default="efficientnet_lite0",
                   help="efficientnet_lite0 (offline), a torchvision name, or timm:<name>")  # fmt: skip
    e.add_argument("--batch-size", type=_positive_int, default=None,
                   help="images per batch (default 256 on CUDA, 32 on the CPU)")  # fmt: skip
    e.add_argument("--limit", type=_positive_int, default=None, help="only the first N images")
    e.add_argument("--out", default=None,
                   help="folder for results.jsonl (default camutils-runs/MODEL__DATA-HASH, "
                   "HASH naming the resolved data folder); an interrupted run resumes from it")  # fmt: skip
    e.add_argument("--blacklist", default=None,
                   help="blacklist file (one validation index per line), or 'none'; "
                   "default: ILSVRC2015_clsloc_validation_blacklist.txt if found in the root")  # fmt: skip
    e.add_argument("--threshold", type=_fraction_of("the map's maximum"), default=0.2,
                   help="box threshold, fraction of the map's max (paper: 0.2)")  # fmt: skip
    e.add_argument("--boxes-at", choices=("input", "original"), default="input",
                   help="find boxes on the network-input grid (fast) or on maps upsampled to "
                   "each original image (exact, slower)")  # fmt: skip
    e.add_argument("--guess-boxes", choices=("true-class", "all"), default="true-class",
                   help="search the true class's map only (the same errors, a fifth of the work), "
                   "or a box for each of the top-5 guesses as well")  # fmt: skip
    e.add_argument("--workers", type=_workers, default=None,
                   help="reader processes (default: none on the CPU, where threads of the main "
                   "process read each batch in turn with the network; CPU cores - 1, at most 8, "
                   "elsewhere)")  # fmt: skip
    e.add_argument("--device", type=_device, default=None,
                   help="cpu, cuda, cuda:N or mps (default: the best present)")  # fmt: skip
    e.add_argument("--threads", type=_threads, default=None,
                   help="CPU threads for the network (torch.set_num_threads)")  # fmt: skip
    e.add_argument("--precision", choices=("auto", "fp32", "fp16", "bf16"), default="auto",
                   help="auto: fp16 autocast on CUDA, fp32 on the CPU")  # fmt: skip
    e.add_argument("--max-pixels", type=_positive_int, default=MAX_PIXELS,
                   help="images whose header declares more pixels are not decoded (reported "
                   f"as unreadable); default {MAX_PIXELS:,}, PIL's limit")  # fmt: skip
    e.add_argument("--decoder", choices=("auto", *DEVICE_DECODERS), default="auto",
                   help="JPEG decoder on a CUDA device (default: the fastest installed: "
                   "nvimgcodec, dali, torchcodec, then torchvision)")  # fmt: skip
    e.add_argument("--cpu-decode-share", type=_fraction_of("the JPEGs"), default=0.0,
                   help="with a GPU decoder, the fraction of the JPEGs the CPU workers decode "
                   "anyway (when the GPU decoder is the bottleneck); default 0")  # fmt: skip
    e.add_argument("--restart", action="store_true",
                   help="discard results already in --out instead of resuming")  # fmt: skip
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.add_argument("--problems", action="store_true",
                   help="list every image that could not be evaluated, with the reason")  # fmt: skip
    return p


# --------------------------------------------------------------------------- checks
def _default_out(model: str, data: str) -> Path:
    """``camutils-runs/MODEL__NAME-HASH``: ``HASH`` names the resolved data folder, so two
    folders with the same name do not share results."""
    safe = model.replace(":", "-").replace("/", "-")
    root = Path(data).expanduser().resolve()
    digest = hashlib.sha256(os.fsencode(root)).hexdigest()[:10]
    return Path("camutils-runs") / f"{safe}__{root.name}-{digest}"


def _model_problem(name: str) -> str | None:
    """Why ``--model`` names no model :func:`camutils.models.load_model` can build, from the
    names torchvision and timm know (nothing is built or downloaded); ``None`` when it does."""
    from camutils.models import OFFLINE_MODEL, TORCHVISION_MODELS

    expected = (
        f"expected {OFFLINE_MODEL!r}, a torchvision classifier such as "
        f"{', '.join(TORCHVISION_MODELS)}, or 'timm:<name>'"
    )
    if name == OFFLINE_MODEL:
        return None
    if name.startswith("timm:"):
        import timm

        arch = name.removeprefix("timm:")
        if arch.startswith(("hf-hub:", "hf_hub:", "local-dir:")):
            return None  # resolved by timm at load time
        if arch and timm.is_model(arch):
            return None
        return f"argument --model: timm has no model {arch!r}; {expected}; found {name!r}"
    import torchvision.models as tvm

    if name in tvm.list_models(module=tvm):
        return None
    return f"argument --model: unknown model {name!r}; {expected}"


def _out_problem(out: Path) -> str | None:
    """Why ``--out`` cannot hold the results (``None`` when it can); nothing is created."""
    if out.exists() and not out.is_dir():
        return f"argument --out: {out} exists and is not a folder"
    parent = out
    while not parent.exists():
        if parent.parent == parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        return f"argument --out: cannot create {out}: {parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"argument --out: cannot write in {parent} (Permission denied)"
    return None


def _resume_hint(argv: Sequence[str]) -> str:
    """The command that resumes this run: the same one, without ``--restart``."""
    args = [a for a in argv if a != "--restart"]
    return shlex.join(["python", "-m", "camutils", *args])


# --------------------------------------------------------------------------- evaluate
def _evaluate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from camutils.distributed import init_distributed
    from camutils.evaluate import OutDirLocked, lock_out_dir
    from camutils.ilsvrc import LayoutError, detect_layout

    problem = _model_problem(args.model)
    if problem is not None:
        return _error(problem)
    try:
        detect_layout(args.data)
    except LayoutError as e:
        return _layout_error(e)
    out = Path(args.out) if args.out else _default_out(args.model, args.data)
    problem = _out_problem(out)
    if problem is not None:
        return _error(problem)
    shard = init_distributed(args.device)  # under torchrun: this process's share of the images
    results_file = shard.out_dir(out) / "results.jsonl"
    try:
        with lock_out_dir(shard.out_dir(out)):
            return _run(args, out)
    except OutDirLocked as e:
        return _error(str(e).replace("another output folder", "another --out"))
    except OSError as e:  # a full disk, a permission: said in one line, not a traceback
        return _error(str(e))
    except KeyboardInterrupt as e:
        kept = getattr(e, "kept", None)
        results_file = getattr(e, "results_file", results_file)
        if kept is None:
            from camutils.evaluate import scan_results

            kept = len(scan_results(results_file).lines)
        _say(
            f"interrupted: {kept:,} images kept in {results_file}; to resume, run the same "
            f"command again: {_resume_hint(argv)}",
            sys.stderr,
        )
        return EXIT_INTERRUPTED


def _layout_error(e: Exception) -> int:
    """A layout error is several lines (what was expected, what was found): the first on the
    ``error:`` line, the rest after it."""
    first, _, rest = str(e).partition("\n")
    _error(first)
    for line in rest.splitlines():
        _say(f"  {line}", sys.stderr)
    return EXIT_ERROR


def _run(args: argparse.Namespace, out: Path) -> int:
    from camutils.distributed import is_main_process
    from camutils.evaluate import ResumeRefused, evaluate
    from camutils.ilsvrc import LayoutError, open_ilsvrc
    from camutils.models import load_model

    blacklist: str | bool | None
    blacklist = False if (args.blacklist or "").lower() == "none" else args.blacklist
    try:
        val = open_ilsvrc(args.data, blacklist=blacklist, limit=args.limit)
    except LayoutError as e:
        return _layout_error(e)
    except (ValueError, OSError) as e:
        return _error(str(e))
    main_process = is_main_process()
    if main_process:
        _say(val.summary())
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        model = load_model(args.model, device=args.device)
    except (ValueError, RuntimeError, ImportError) as e:
        return _error(f"argument --model: {e}")
    try:
        result = evaluate(
            model,
            val,
            out_dir=out,
            batch_size=args.batch_size,
            num_workers=args.workers,
            device=args.device,
            precision=args.precision,
            threshold=args.threshold,
            boxes_at=args.boxes_at,
            guess_boxes=args.guess_boxes,
            restart=args.restart,
            progress=not args.no_progress,
            max_pixels=args.max_pixels,
            decoder=args.decoder,
            cpu_decode_share=args.cpu_decode_share,
        )
    except ResumeRefused as e:
        return _error(e.advice("--restart", "another --out"))
    if main_process:
        _report(result, out, args.problems)
    return 0


def _report(result, out: Path, all_problems: bool) -> None:  # noqa: ANN001 - an EvalResult
    from camutils.evaluate import format_table

    files = result.results_file if result.shards == 1 else out / "shard-*-of-*/results.jsonl"
    _say()
    _say(format_table(result))
    if result.resumed:
        _say(f"{result.resumed:,} images read back from an earlier run in {out}")
    _say(
        f"{result.processed:,} images in {result.seconds:.1f} s ({result.images_per_s:.1f} images/s) "
        f"on {result.device}, {result.precision}; per-image results: {files}"
    )
    for note in result.notes:
        _say(f"note: {note}")
    if result.problems:
        shown = result.problems if all_problems else result.problems[:5]
        _say(f"{len(result.problems)} images not evaluated:")
        for stem, reason in shown:
            _say(f"  {stem}: {reason}")
        if len(shown) < len(result.problems):
            _say(f"  ... (--problems lists all {len(result.problems)})")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m camutils`` and of the ``camutils`` console script; returns
    the exit code (0, 2 for a mistake in the command or its data, 130 after Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # --help, or a mistake already reported
        return e.code if isinstance(e.code, int) else EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    if args.command == "evaluate":
        from camutils.distributed import finish_distributed

        try:
            return _evaluate(args, argv)
        finally:
            finish_distributed()
    raise AssertionError(args.command)  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
