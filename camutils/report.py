"""The report of a run: Table 2's layout next to the paper's rows, and the breakdowns of the
per-image results (per class, per object size, the worst misses).

Everything here reads what :func:`camutils.evaluate.evaluate` measured (an
:class:`~camutils.results.EvalResult`) or the per-image lines of its results file
(:func:`~camutils.results.read_results`); nothing is computed on a network.

Example:
    >>> lines = [{"status": "ok", "label": 3, "top1_loc": True, "gt_known": True,
    ...           "top1_cls": True, "gt_frac": 0.25, "gt_known_iou": 0.8, "stem": "a"},
    ...          {"status": "ok", "label": 3, "top1_loc": False, "gt_known": False,
    ...           "top1_cls": True, "gt_frac": 0.05, "gt_known_iou": 0.1, "stem": "b"}]
    >>> per_class(lines)[0]["top1_loc_error"], [r["images"] for r in per_size(lines)]
    (50.0, [1, 1, 0, 0])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from camutils.results import EvalResult

__all__ = [
    "PAPER_TABLE2",
    "SIZE_BINS",
    "format_table",
    "measured_rows",
    "per_class",
    "per_size",
    "worst_misses",
]

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
