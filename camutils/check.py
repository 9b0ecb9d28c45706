"""Checks for the exercises at the end of each notebook.

Each check takes the learner's answer, prints whether it is right and, when it is not, a hint
about what is wrong (never the solution itself), and returns ``True`` or ``False``::

    >>> from camutils import check
    >>> check.gap_head_weights(62_720_000, 1_280_000)
    Correct: flatten + FC needs 7 x 7 = 49 times more weights than GAP + Linear.
    True

An unanswered exercise (``None``) gets a reminder rather than an error, so notebooks run top to
bottom before anyone has answered.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = [
    "box_iou_inclusive",
    "cam_function",
    "explanation_families",
    "gap_head_weights",
    "threshold_box",
    "top5_localization",
    "toy_scores",
    "upsample_size",
]


def _ok(message: str) -> bool:
    print(f"Correct: {message}")
    return True


def _hint(message: str) -> bool:
    print(f"Not yet: {message}")
    return False


def _unanswered(value) -> bool:
    if value is None or value is Ellipsis:
        print(
            "Not answered yet: replace the None (or ...) with your answer and run the cell again."
        )
        return True
    return False


def _numbers(answer, n: int) -> list[float] | None:
    try:
        values = [float(v) for v in torch.as_tensor(answer, dtype=torch.float64).flatten()]
    except (TypeError, ValueError, RuntimeError):
        return None
    return values if len(values) == n else None


# --------------------------------------------------------------------------- notebook 01
_TOY_F = torch.tensor(
    [
        [[1, 2, 0, 0], [2, 4, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]],
        [[0, 0, 0, 0], [0, 1, 3, 1], [0, 3, 5, 2], [0, 1, 2, 0]],
        [[0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 2, 4], [0, 1, 4, 6]],
    ],
    dtype=torch.float64,
)


def toy_scores(answer: Sequence[float] | Tensor | None) -> bool:
    """Notebook 01, exercise 1: ``(S_1, S_2)`` of the toy with the Dog weights changed to
    ``(0.6, 0.1, 0.1)`` and the Cat weights kept, in the seed's average convention."""
    if _unanswered(answer):
        return False
    got = _numbers(answer, 2)
    if got is None:
        return _hint("give two numbers, (S_1, S_2): the Dog score first, then the Cat score.")
    w = torch.tensor([[0.6, 0.1, 0.1], [0.4, 0.6, 0.8]], dtype=torch.float64)
    F = _TOY_F.mean(dim=(1, 2))
    expected = (w @ F).tolist()
    close = [math.isclose(g, e, abs_tol=1e-3) for g, e in zip(got, expected, strict=True)]
    if all(close):
        return _ok(
            f"S = ({expected[0]:.4f}, {expected[1]:.4f}). Dog now leans on unit 1 (top-left), "
            "whose F_1 is the smallest, so its score dropped."
        )
    if all(math.isclose(g, 16 * e, abs_tol=1e-2) for g, e in zip(got, expected, strict=True)):
        return _hint("these are 16 times too large: the seed's F_k divides the sum by 16.")
    old = (torch.tensor([[0.3, 0.5, 0.1], [0.4, 0.6, 0.8]], dtype=torch.float64) @ F).tolist()
    if all(math.isclose(g, o, abs_tol=1e-3) for g, o in zip(got, old, strict=True)):
        return _hint("these are the scores with the ORIGINAL Dog weights (0.3, 0.5, 0.1).")
    if all(math.isclose(g, e, abs_tol=1e-3) for g, e in zip(got, expected[::-1], strict=True)):
        return _hint("right numbers, wrong order: Dog (c = 1) first, then Cat (c = 2).")
    if close[1] and not close[0]:
        return _hint("S_2 is right; recompute S_1 = 0.6 F_1 + 0.1 F_2 + 0.1 F_3.")
    return _hint("compute F_k = (sum of f_k) / 16 first, then S_c = sum_k w_k^c F_k.")


def cam_function(fn: Callable[[Tensor, Tensor], Tensor] | None) -> bool:
    """Notebook 01, exercise 2: ``fn(f, w)`` must return ``M`` of shape ``(B, C, h, w)`` from
    features ``f`` ``(B, K, h, w)`` and weights ``w`` ``(C, K)``, for every class."""
    if _unanswered(fn):
        return False
    g = torch.Generator().manual_seed(0)
    f = torch.randn(2, 5, 3, 4, generator=g, dtype=torch.float64)
    w = torch.randn(6, 5, generator=g, dtype=torch.float64)
    expected = torch.einsum("ck,bkhw->bchw", w, f)
    try:
        got = fn(f, w)
    except Exception as e:  # noqa: BLE001 - any error of the learner's code becomes a hint
        return _hint(
            f"calling fn(f, w) with f of shape (2, 5, 3, 4) and w of shape (6, 5) raised "
            f"{type(e).__name__}: {e}"
        )
    if not isinstance(got, Tensor):
        return _hint(f"return a torch tensor; got {type(got).__name__}.")
    if tuple(got.shape) != tuple(expected.shape):
        return _hint(
            f"for f (2, 5, 3, 4) and w (6, 5) the result must be (B, C, h, w) = (2, 6, 3, 4); "
            f"got {tuple(got.shape)}. One map per class, one value per location."
        )
    got = got.detach().to(torch.float64)
    if torch.allclose(got, expected):
        return _ok("M_c(x, y) = sum_k w_k^c f_k(x, y), for every image and class at once.")
    if torch.allclose(got, expected / 5):
        return _hint("M_c is a weighted SUM over the K channels, not a mean.")
    if torch.allclose(got.mean(dim=(2, 3)), expected.mean(dim=(2, 3))):
        return _hint("the means are right but the maps are not: keep (x, y) apart, do not pool.")
    if torch.allclose(got, torch.relu(expected)):
        return _hint("M_c has no ReLU: negative evidence is part of the map.")
    return _hint("check which index of w is the class: w[c, k] is w_k^c.")


# --------------------------------------------------------------------------- notebook 02
def gap_head_weights(fc_weights: int | None, gap_weights: int | None) -> bool:
    """Notebook 02: weights (no biases) of a flatten + FC head and of a GAP + Linear head from
    EfficientNet-Lite0's ``1280 x 7 x 7`` features to 1000 classes."""
    if _unanswered(fc_weights) or _unanswered(gap_weights):
        return False
    fc, gap = 1280 * 7 * 7 * 1000, 1280 * 1000
    if int(fc_weights) == fc and int(gap_weights) == gap:
        return _ok("flatten + FC needs 7 x 7 = 49 times more weights than GAP + Linear.")
    if int(fc_weights) == fc + 1000 or int(gap_weights) == gap + 1000:
        return _hint("count the weights only, without the 1000 biases.")
    if int(gap_weights) != gap:
        return _hint("GAP leaves one number per channel: 1280 inputs to each of 1000 classes.")
    if int(fc_weights) == gap * 7:
        return _hint("flattening keeps BOTH spatial axes: 1280 x 7 x 7 inputs per class.")
    return _hint("flattening keeps every location: (1280 x 7 x 7) inputs to each of 1000 classes.")


_FAMILIES = {
    "gradient saliency": "backpropagation",
    "lrp": "backpropagation",
    "cam": "activation",
    "occlusion": "perturbation",
    "lime": "perturbation",
}


def explanation_families(answer: dict[str, str] | None) -> bool:
    """Notebook 02: map each method (gradient saliency, LRP, CAM, occlusion, LIME) to its family
    ``"backpropagation"``, ``"activation"`` or ``"perturbation"``."""
    if _unanswered(answer):
        return False
    given = {k.strip().lower(): str(v).strip().lower() for k, v in dict(answer).items()}
    missing = sorted(set(_FAMILIES) - set(given))
    if missing:
        return _hint(f"also classify: {', '.join(missing)}.")
    wrong = [k for k, fam in _FAMILIES.items() if not given[k].startswith(fam[:5])]
    if not wrong:
        return _ok("gradients flow back, activations are weighted, inputs are perturbed.")
    why = {
        "gradient saliency": "it needs a backward pass to the pixels",
        "lrp": "it propagates relevance backwards, layer by layer",
        "cam": "it weights the forward activations; no backward pass",
        "occlusion": "it changes the input and watches the score",
        "lime": "it fits a simple model to the scores of perturbed inputs",
    }
    return _hint("; ".join(f"{k}: {why[k]}" for k in wrong) + ".")


# --------------------------------------------------------------------------- notebook 03
def upsample_size(answer: Sequence[int] | None) -> bool:
    """Notebook 03: the ``size`` argument of ``upsample_cams`` for the 451 x 300 photo
    ``chelsea`` (451 pixels wide, 300 high)."""
    if _unanswered(answer):
        return False
    got = tuple(int(v) for v in answer)
    if got == (300, 451):
        return _ok("torch sizes are (height, width).")
    if got == (451, 300):
        return _hint("that is (width, height), cv2.resize's order; torch wants (height, width).")
    return _hint("use the photo's own size in pixels, not the network's 224 x 224.")


# --------------------------------------------------------------------------- notebook 04
def box_iou_inclusive(answer: float | None) -> bool:
    """Notebook 04: IoU of the inclusive boxes A = (10, 10, 49, 49) and B = (30, 30, 69, 69)."""
    if _unanswered(answer):
        return False
    value = float(answer)
    expected = 400 / (1600 + 1600 - 400)
    if math.isclose(value, expected, abs_tol=1e-3):
        return _ok(f"IoU = 20 x 20 / (40 x 40 + 40 x 40 - 20 x 20) = {expected:.4f}.")
    if math.isclose(value, 361 / (1521 + 1521 - 361), abs_tol=1e-3):
        return _hint("ILSVRC boxes are inclusive: a box from 10 to 49 is 40 pixels wide (+1).")
    if math.isclose(value, 400 / 1600, abs_tol=1e-3):
        return _hint("divide by the UNION (both areas minus the overlap), not by one box's area.")
    return _hint("overlap = (min xmax - max xmin + 1) x (min ymax - max ymin + 1).")


def threshold_box(answer: Sequence[int] | None) -> bool:
    """Notebook 04: the paper's box for the 5 x 5 map below at 20% of its max (inclusive
    ``(xmin, ymin, xmax, ymax)``, largest 8-connected component)::

        0 0 0 0 9
        0 6 7 0 0
        0 5 9 1 0
        0 0 0 0 0
        3 0 0 0 0
    """
    if _unanswered(answer):
        return False
    got = tuple(int(v) for v in answer)
    if got == (1, 1, 2, 2):
        return _ok("values >= 1.8 are kept; the 2 x 2 block is the largest component.")
    if got == (1, 0, 4, 2):
        return _hint("the corner 9 touches the block only if 8-connected diagonally: it does not.")
    if got in ((0, 0, 4, 4), (1, 1, 4, 4), (0, 1, 2, 4)):
        return _hint("keep only the LARGEST connected component, not every kept pixel.")
    if got == (1, 1, 3, 2):
        return _hint("1 is below 20% of 9 (= 1.8): that pixel is not kept.")
    return _hint("threshold at 0.2 x max = 1.8, then take the largest component's extent.")


def top5_localization(top1_correct: bool | None, top5_correct: bool | None) -> bool:
    """Notebook 04/06: an image of class "tabby" with one GT box; guesses in order
    ("tiger cat", IoU 0.8), ("tabby", IoU 0.3), ("tabby", IoU 0.6)... Is it correct under the
    top-1 and under the top-5 localization metric?"""
    if _unanswered(top1_correct) or _unanswered(top5_correct):
        return False
    if top1_correct is False and top5_correct is True:
        return _ok("top-1 fails (wrong class); the third guess has the right class and IoU >= 0.5.")
    if top1_correct:
        return _hint("top-1 needs the FIRST guess's class to be right; IoU alone is not enough.")
    return _hint("top-5 is correct if ANY of the first five guesses has the class and IoU >= 0.5.")
