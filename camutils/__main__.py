"""The command line: ``python -m camutils evaluate --data ROOT --model NAME`` (or ``camutils``).

Example::

    python -m camutils evaluate --data ~/imagenet-object-localization-challenge \\
        --model efficientnet_lite0 --out runs/lite0

prints the paper's Table 2 with the measured rows beside it. The per-image results go to
``OUT/results.jsonl`` as the run goes: run the same command again after an interruption and it
carries on where it stopped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _default_out(model: str, data: str) -> Path:
    safe = model.replace(":", "-").replace("/", "-")
    return Path("camutils-runs") / f"{safe}__{Path(data).expanduser().resolve().name}"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m camutils",
        description="Class Activation Mapping tools (Zhou et al., CVPR 2016).",
    )
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser(
        "evaluate",
        help="CAM localization on ILSVRC 2012 validation (Table 2 of the paper)",
        description=(
            "Evaluate CAM boxes on ILSVRC 2012 validation: top-1 / top-5 localization error, "
            "GT-known localization error and classification error, printed beside the paper's "
            "Table 2. The data folder may hold the official devkit layout, Kaggle's layout or "
            "torchvision's ImageNet folder with the XML boxes (detected)."
        ),
    )
    e.add_argument("--data", required=True, help="root folder of the validation set")
    e.add_argument("--model", default="efficientnet_lite0",
                   help="efficientnet_lite0 (offline), a torchvision name, or timm:<name>")  # fmt: skip
    e.add_argument("--batch-size", type=int, default=None,
                   help="images per batch (default 256 on CUDA, 32 on the CPU)")  # fmt: skip
    e.add_argument("--limit", type=int, default=None, help="only the first N images")
    e.add_argument("--out", default=None,
                   help="folder for results.jsonl (default camutils-runs/MODEL__DATA); "
                   "an interrupted run resumes from it")  # fmt: skip
    e.add_argument("--blacklist", default=None,
                   help="blacklist file (one validation index per line), or 'none'; "
                   "default: ILSVRC2015_clsloc_validation_blacklist.txt if found in the root")  # fmt: skip
    e.add_argument("--threshold", type=float, default=0.2,
                   help="box threshold, fraction of the map's max (paper: 0.2)")  # fmt: skip
    e.add_argument("--boxes-at", choices=("input", "original"), default="input",
                   help="find boxes on the network-input grid (fast) or on maps upsampled to "
                   "each original image (exact, slower)")  # fmt: skip
    e.add_argument("--guess-boxes", choices=("true-class", "all"), default="true-class",
                   help="search the true class's map only (the same errors, a fifth of the work), "
                   "or a box for each of the top-5 guesses as well")  # fmt: skip
    e.add_argument("--workers", type=int, default=None, help="DataLoader worker processes")
    e.add_argument("--device", default=None, help="cuda, cpu, ... (default: the best present)")
    e.add_argument("--threads", type=int, default=None,
                   help="CPU threads for the network (torch.set_num_threads)")  # fmt: skip
    e.add_argument("--precision", choices=("auto", "fp32", "fp16", "bf16"), default="auto",
                   help="auto: fp16 autocast on CUDA, fp32 on the CPU")  # fmt: skip
    e.add_argument("--restart", action="store_true",
                   help="discard results already in --out instead of resuming")  # fmt: skip
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.add_argument("--problems", action="store_true",
                   help="list every image that could not be evaluated, with the reason")  # fmt: skip
    return p


def _evaluate(args: argparse.Namespace) -> int:
    from camutils.evaluate import evaluate, format_table
    from camutils.ilsvrc import LayoutError, open_ilsvrc

    blacklist: str | bool | None
    blacklist = False if (args.blacklist or "").lower() == "none" else args.blacklist
    try:
        val = open_ilsvrc(args.data, blacklist=blacklist, limit=args.limit)
    except (LayoutError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(val.summary())
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else _default_out(args.model, args.data)
    result = evaluate(
        args.model,
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
    )
    print()
    print(format_table(result))
    if result.resumed:
        print(f"{result.resumed:,} images read back from an earlier run in {out}")
    print(
        f"{result.processed:,} images in {result.seconds:.1f} s ({result.images_per_s:.1f} images/s) "
        f"on {result.device}, {result.precision}; per-image results: {result.results_file}"
    )
    for note in result.notes:
        print(f"note: {note}")
    if result.problems:
        shown = result.problems if args.problems else result.problems[:5]
        print(f"{len(result.problems)} images not evaluated:")
        for stem, reason in shown:
            print(f"  {stem}: {reason}")
        if len(shown) < len(result.problems):
            print(f"  ... (--problems lists all {len(result.problems)})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m camutils`` and of the ``camutils`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "evaluate":
        return _evaluate(args)
    raise AssertionError(args.command)  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
