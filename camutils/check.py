"""Checks for the exercises at the end of each notebook.

Each check takes the learner's answer, prints whether it is right and, when it is not, a hint
about what is wrong (never the solution itself), and returns ``True`` or ``False``::

    >>> from camutils import check
    >>> check.box_iou_inclusive(0.25)
    Not yet: divide by the UNION (both areas minus the overlap), not by one box's area.
    False
    >>> check.box_iou_inclusive(1 / 7)
    Correct: IoU = 20 x 20 / (40 x 40 + 40 x 40 - 20 x 20) = 0.1429.
    True

An unanswered exercise (``None``) gets a reminder rather than an error, so notebooks run top to
bottom before anyone has answered; so does a function of the learner's that still returns
``None``. Answers of the wrong kind (a string, the wrong number of values) get a hint, never an
exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

__all__ = [
    "blacklist_errors",
    "box_iou_inclusive",
    "box_to_original",
    "cam_function",
    "explanation_families",
    "flatten_to_gap",
    "gap_head_weights",
    "gradcam_scale",
    "language",
    "loc_verdicts",
    "localization_errors",
    "normalized_pixel",
    "occlusion_cost",
    "per_image_cams",
    "pooling_credit",
    "ranking_reversal",
    "scorecam_passes",
    "set_language",
    "surgery_parameters",
    "threshold_box",
    "threshold_box_shifted",
    "top5_localization",
    "toy_scores",
    "upsample_size",
]


# the exercises are the public names other than these two
SETTINGS = ("language", "set_language")
_LANGUAGES = ("en", "ko")
_language = "en"


def set_language(language: str) -> None:
    """Print the checks' feedback in ``language``: ``"en"`` (the default) or ``"ko"``.

    The Korean notebooks call ``set_language("ko")`` in their setup cell; every message is
    then translated by :mod:`camutils.check_ko` as it is printed (the return values do not
    change)::

        >>> from camutils import check
        >>> check.set_language("ko")
        >>> check.box_iou_inclusive(0.25)
        아직 아닙니다: 박스 하나의 넓이가 아니라 합집합(두 넓이의 합에서 겹친 부분을 뺀 값)으로 나누십시오.
        False
        >>> check.language()
        'ko'
        >>> check.set_language("fr")
        Traceback (most recent call last):
        ValueError: set_language accepts 'en' or 'ko', not 'fr'
        >>> check.set_language("en")
    """
    global _language
    if not isinstance(language, str) or language not in _LANGUAGES:
        accepted = " or ".join(repr(v) for v in _LANGUAGES)
        raise ValueError(f"set_language accepts {accepted}, not {language!r}")
    _language = language


def language() -> str:
    """The language of the checks' feedback, ``"en"`` or ``"ko"`` (see :func:`set_language`)."""
    return _language


def _ok(message: str) -> bool:
    line = f"Correct: {message}"
    if _language == "ko":
        from camutils.check_ko import translate_line

        line = translate_line(line)
    print(line)
    return True


def _hint(message: str) -> bool:
    line = f"Not yet: {message}"
    if _language == "ko":
        from camutils.check_ko import translate_line

        line = translate_line(line)
    print(line)
    return False


def _unanswered(value) -> bool:
    if value is None or value is Ellipsis:
        line = (
            "Not answered yet: replace the None (or ...) with your answer and run the cell again."
        )
        if _language == "ko":
            from camutils.check_ko import translate_line

            line = translate_line(line)
        print(line)
        return True
    return False


def _numbers(answer, n: int) -> list[float] | None:
    if isinstance(answer, (str, bytes)):
        return None
    try:
        values = [float(v) for v in torch.as_tensor(answer, dtype=torch.float64).flatten()]
    except (TypeError, ValueError, RuntimeError):
        return None
    return values if len(values) == n else None


def _ints(answer, n: int) -> tuple[int, ...] | None:
    """``n`` whole numbers (ints, or floats/tensors holding whole numbers), else ``None``."""
    values = _numbers(answer, n)
    if values is None or not all(math.isfinite(v) and v == int(v) for v in values):
        return None
    return tuple(int(v) for v in values)


def _call(fn, *args) -> tuple[bool, object]:
    """Run the learner's function: ``(True, result)``, or ``(False, None)`` after a hint."""
    try:
        return True, fn(*args)
    except Exception as e:  # noqa: BLE001 - any error of the learner's code becomes a hint
        shapes = ", ".join(str(tuple(a.shape)) if isinstance(a, Tensor) else repr(a) for a in args)
        _hint(f"calling your function on arguments {shapes} raised {type(e).__name__}: {e}")
        return False, None


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
    ``(0.6, 0.1, 0.1)`` and the Cat weights kept, in the study notes' average convention."""
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
        return _hint("these are 16 times too large: the study notes' F_k divides the sum by 16.")
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
def occlusion_cost(grid: Sequence[int] | None, forward_passes: int | None) -> bool:
    """Notebook 02, exercise 1: ``occlusion`` on one 224 x 224 image and one class with its
    defaults (patch 32, stride 16): the grid ``(h', w')`` of patch positions and the number of
    images sent forward through the network."""
    if _unanswered(grid) or _unanswered(forward_passes):
        return False
    got = _ints(grid, 2)
    if got is None:
        return _hint("give the grid as two whole numbers (h', w'), rows first.")
    n = (224 - 32) // 16 + 1
    if got != (n, n):
        if got == (14, 14):
            return _hint(
                "224 / 16 counts positions whose patch would stick out past the border; "
                "a patch must lie fully inside the image."
            )
        if got == (12, 12):
            return _hint("count the positions, not the steps between them: the first one too.")
        if got == (7, 7):
            return _hint("that is the grid of patch 56 / stride 28; the defaults are 32 / 16.")
        return _hint("per axis: how many top-left corners 0, 16, 32, ... leave the patch inside?")
    count = _ints(forward_passes, 1)
    if count is None:
        return _hint("give the number of images sent forward as one whole number.")
    if count[0] == n * n + 1:
        return _ok(
            f"a {n} x {n} grid: {n * n} occluded copies plus the original photo, "
            f"{n * n + 1} forward passes (CAM needs 1)."
        )
    if count[0] == n * n:
        return _hint("the grid is right; O_c compares each copy with S_c of which image?")
    if count[0] == 50:
        return _hint("50 was the cost of patch 56 / stride 28; count again for your grid.")
    return _hint("the grid is right; one forward pass per occluded copy, and what else?")


def gap_head_weights(fc_weights: int | None, gap_weights: int | None, grid: int = 7) -> bool:
    """Notebook 02, exercise 2: weights (no biases) of a flatten + FC head and of a GAP + Linear
    head from EfficientNet-Lite0's ``1280 x grid x grid`` features to 1000 classes (``grid`` is
    7 for a 224 x 224 input, 14 for 448 x 448)."""
    if _unanswered(fc_weights) or _unanswered(gap_weights):
        return False
    got = _ints((fc_weights, gap_weights), 2)
    if got is None:
        return _hint("give two whole numbers: the flatten + FC head's weights, then GAP's.")
    fc_got, gap_got = got
    K, C, z = 1280, 1000, grid * grid
    fc, gap = K * z * C, K * C
    if fc_got == fc and gap_got == gap:
        return _ok(
            f"flatten + FC needs {grid} x {grid} = {z} times more weights than GAP + Linear, "
            "whose size does not depend on the grid at all."
        )
    if fc_got == fc + C or gap_got == gap + C:
        return _hint("count the weights only, without the 1000 biases.")
    if gap_got != gap:
        if gap_got == fc or gap_got == K * z:
            return _hint("GAP leaves ONE number per channel, whatever the grid's size.")
        if gap_got == K:
            return _hint("that is the number of inputs of ONE class; there are 1000 classes.")
        return _hint("GAP leaves one number per channel: how many inputs per class is that?")
    if grid != 7 and fc_got == K * 49 * C:
        return _hint(f"that is the 7 x 7 grid of a 224 x 224 input; here it is {grid} x {grid}.")
    if fc_got == K * grid * C:
        return _hint("flattening keeps BOTH spatial axes: rows and columns.")
    if fc_got == K * z:
        return _hint("that is the number of inputs of ONE class; there are 1000 classes.")
    return _hint(
        "flattening keeps every location: (channels x rows x columns) inputs to each class."
    )


def flatten_to_gap(fn: Callable[[Tensor], Tensor] | None) -> bool:
    """Notebook 02, exercise 3: ``fn(W)`` turns flatten-head weights ``W`` ``(C, K, h, w)`` into
    GAP-head weights ``(C, K)`` that give the same scores whenever every feature map is
    constant, ``f_k(x, y) = F_k``: ``w_k^c = sum_{x,y} W_c[k, x, y]``."""
    if _unanswered(fn):
        return False
    g = torch.Generator().manual_seed(1)
    C, K, h, w = 4, 3, 2, 5
    W = torch.randn(C, K, h, w, generator=g, dtype=torch.float64)
    ok, got = _call(fn, W.clone())
    if not ok or _unanswered(got):
        return False
    if not isinstance(got, Tensor):
        return _hint(f"return a torch tensor; got {type(got).__name__}.")
    expected = W.sum(dim=(2, 3))
    if tuple(got.shape) != (C, K):
        if tuple(got.shape) == (K, C):
            return _hint("return (C, K): one row per class, like the Linear head's weight.")
        return _hint(
            f"for W of shape {(C, K, h, w)} the result must be (C, K) = {(C, K)}; "
            f"got {tuple(got.shape)}. Which axes are the positions?"
        )
    got = got.detach().to("cpu", torch.float64)
    if torch.allclose(got, expected):
        return _ok(
            "w_k^c = sum_{x,y} W_c[k, x, y]. On copied weights W = w / (hw) it gives w back."
        )
    if torch.allclose(got, expected / (h * w)):
        return _hint(
            "h x w times too small: GAP's F_k is already a mean, so the weights must not "
            "divide again."
        )
    if torch.allclose(got, expected * (h * w)):
        return _hint("h x w times too large: GAP's F_k is a mean over the positions.")
    return _hint(
        "with f_k(x, y) = F_k everywhere, the flatten score is sum_k F_k (sum over x, y of "
        "W_c[k, x, y]) + b_c: which w makes sum_k w_k^c F_k + b_c equal to it?"
    )


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
    try:
        given = {str(k).strip().lower(): str(v).strip().lower() for k, v in dict(answer).items()}
    except (TypeError, ValueError):
        return _hint('give a dict such as {"CAM": "activation", ...}.')
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
def per_image_cams(fn: Callable[[Tensor, Tensor, Tensor], Tensor] | None) -> bool:
    """Notebook 03, exercise 1: ``fn(features, weight, classes)`` with features ``(B, K, h, w)``,
    weight ``(C, K)`` and ``classes`` ``(B, n)`` (each image's own classes) must return the maps
    ``(B, n, h, w)``: ``out[b, j] = sum_k w_k^{classes[b, j]} f_k`` of image ``b``."""
    if _unanswered(fn):
        return False
    g = torch.Generator().manual_seed(2)
    B, K, h, w, C = 3, 5, 2, 4, 7
    f = torch.randn(B, K, h, w, generator=g, dtype=torch.float64)
    weight = torch.randn(C, K, generator=g, dtype=torch.float64)
    classes = torch.tensor([[0, 3], [5, 1], [2, 6]])
    ok, got = _call(fn, f.clone(), weight.clone(), classes.clone())
    if not ok or _unanswered(got):
        return False
    if not isinstance(got, Tensor):
        return _hint(f"return a torch tensor; got {type(got).__name__}.")
    expected = torch.einsum("bnk,bkxy->bnxy", weight[classes], f)
    if tuple(got.shape) != tuple(expected.shape):
        if tuple(got.shape) == (B, C, h, w):
            return _hint(
                "that is every class's map; keep only each image's own n classes: (B, n, h, w)."
            )
        return _hint(
            f"for features (3, 5, 2, 4), weight (7, 5) and classes (3, 2) the result must be "
            f"(B, n, h, w) = (3, 2, 2, 4); got {tuple(got.shape)}."
        )
    got = got.detach().to("cpu", torch.float64)
    if torch.allclose(got, expected):
        return _ok("weight[classes] is (B, n, K): each image's rows, paired with its features.")
    first = torch.einsum("nk,bkxy->bnxy", weight[classes[0]], f)
    if torch.allclose(got, first):
        return _hint("every image got the FIRST image's classes; image b has classes[b].")
    if torch.allclose(got, expected / K):
        return _hint("M_c is a weighted SUM over the K channels, not a mean.")
    if torch.allclose(got, torch.relu(expected)):
        return _hint("M_c has no ReLU: negative evidence is part of the map.")
    return _hint("pair image b's features with the weight rows of ITS classes, classes[b].")


def upsample_size(answer: Sequence[int] | None) -> bool:
    """Notebook 03, exercise 2: the ``size`` argument of ``upsample_cams`` for the photo
    ``chelsea`` (451 pixels wide, 300 high; PIL's ``.size`` is ``(451, 300)``)."""
    if _unanswered(answer):
        return False
    got = _ints(answer, 2)
    if got is None:
        return _hint("give two whole numbers, the size of the map you want.")
    if got == (300, 451):
        return _ok("torch sizes are (height, width); PIL's .size is (width, height).")
    if got == (451, 300):
        return _hint(
            "that is (width, height), the order of PIL's .size and cv2.resize; "
            "torch wants the other order."
        )
    return _hint("use the photo's own size in pixels, not the network's 224 x 224.")


def normalized_pixel(minmax: float | None, relu_max: float | None) -> bool:
    """Notebook 03, exercise 3: a map with raw values from -4 to 8; the pixel whose raw value is
    0, after min-max normalisation and after ReLU then division by the max."""
    if _unanswered(minmax) or _unanswered(relu_max):
        return False
    got = _numbers((minmax, relu_max), 2)
    if got is None:
        return _hint("give two numbers: the min-max value, then the ReLU / max value.")
    a, b = got

    def near(u: float, v: float) -> bool:
        return math.isclose(u, v, abs_tol=1e-2)

    if near(a, 1 / 3) and near(b, 0.0):
        return _ok(
            "min-max: (0 + 4) / 12 = 0.33, above 0.2; ReLU / max: 0 / 8 = 0, below. "
            "Min-max counts 'no evidence' as a third of the way to the peak."
        )
    if near(a, 0.0) and near(b, 1 / 3):
        return _hint("the two values are swapped: which of the two shifts by the minimum?")
    if a > 1 or b > 1:
        return _hint("normalised values lie in [0, 1]: give fractions, not percentages.")
    if not near(a, 1 / 3):
        if near(a, 0.5):
            return _hint("min-max divides by the range, max - min, not by the max.")
        if near(a, 0.0):
            return _hint("min-max sends the MINIMUM (-4) to 0, not the value 0.")
        return _hint("min-max: (M - min M) / (max M - min M).")
    if near(b, 0.5):
        return _hint("method='max' does not shift by the minimum: ReLU, then divide by the max.")
    return _hint("ReLU first: negative values become 0, the rest is divided by the maximum.")


# --------------------------------------------------------------------------- notebook 04
_SMALL_MAP = [
    [0, 0, 0, 0, 9],
    [0, 6, 7, 0, 0],
    [0, 5, 9, 1, 0],
    [0, 0, 0, 0, 0],
    [3, 0, 0, 0, 0],
]


def threshold_box(answer: Sequence[int] | None) -> bool:
    """Notebook 04, exercise 1a: the paper's box for the 5 x 5 map below at 20% of its max
    (inclusive ``(xmin, ymin, xmax, ymax)``, x the column, largest 8-connected component)::

        0 0 0 0 9
        0 6 7 0 0
        0 5 9 1 0
        0 0 0 0 0
        3 0 0 0 0
    """
    if _unanswered(answer):
        return False
    got = _ints(answer, 4)
    if got is None:
        return _hint("give four whole numbers, (xmin, ymin, xmax, ymax).")
    if got == (1, 1, 2, 2):
        return _ok("values >= 1.8 are kept; the 2 x 2 block is the largest component.")
    if got == (1, 0, 4, 2):
        return _hint("the corner 9 touches the block only if 8-connected diagonally: it does not.")
    if got in ((0, 0, 4, 4), (1, 1, 4, 4), (0, 1, 2, 4)):
        return _hint("keep only the LARGEST connected component, not every kept pixel.")
    if got == (1, 1, 3, 2):
        return _hint("1 is below 20% of 9 (= 1.8): that pixel is not kept.")
    if got == (1, 1, 3, 3):
        return _hint("the box is inclusive: xmax is the last kept column itself, not one past it.")
    return _hint("threshold at 0.2 x max, then take the largest component's extent.")


def threshold_box_shifted(answer: Sequence[int] | None) -> bool:
    """Notebook 04, exercise 1b: the same rule on the map of :func:`threshold_box` plus 2
    (every value raised by 2)."""
    if _unanswered(answer):
        return False
    got = _ints(answer, 4)
    if got is None:
        return _hint("give four whole numbers, (xmin, ymin, xmax, ymax).")
    if got == (1, 1, 3, 2):
        return _ok(
            "the max is 11, the threshold 2.2: the old zeros (now 2) stay out, but the 1 "
            "(now 3) passes and joins the block. 20% of the max is not shift-invariant."
        )
    if got == (1, 1, 2, 2):
        return _hint(
            "that is the box of the original map; with every value raised by 2, recompute "
            "the threshold and look again at each small value."
        )
    if got == (0, 0, 4, 4):
        return _hint("are the old zeros, now 2, above 20% of the NEW maximum?")
    if got == (1, 0, 4, 2):
        return _hint("the corner value touches the block only through cells below the threshold.")
    if got == (1, 1, 2, 3):
        return _hint("order: (xmin, ymin, xmax, ymax), with x the column and y the row.")
    return _hint("first the new maximum and 0.2 x it, then the kept pixels and the components.")


def box_iou_inclusive(answer: float | None) -> bool:
    """Notebook 04, exercise 2: IoU of the inclusive boxes A = (10, 10, 49, 49) and
    B = (30, 30, 69, 69)."""
    if _unanswered(answer):
        return False
    got = _numbers(answer, 1)
    if got is None:
        return _hint("give one number, the IoU as a fraction in [0, 1].")
    value = got[0]
    expected = 400 / (1600 + 1600 - 400)
    if math.isclose(value, expected, abs_tol=1e-3):
        return _ok(f"IoU = 20 x 20 / (40 x 40 + 40 x 40 - 20 x 20) = {expected:.4f}.")
    if math.isclose(value, 100 * expected, abs_tol=0.1):
        return _hint("give the IoU as a fraction in [0, 1], not a percentage.")
    if math.isclose(value, 361 / (1521 + 1521 - 361), abs_tol=1e-3):
        return _hint("ILSVRC boxes are inclusive: a box from 10 to 49 is 40 pixels wide (+1).")
    if math.isclose(value, 400 / 1600, abs_tol=1e-3):
        return _hint("divide by the UNION (both areas minus the overlap), not by one box's area.")
    if math.isclose(value, 400 / 3200, abs_tol=1e-3):
        return _hint("the union counts the overlap once: subtract it from the sum of the areas.")
    return _hint("overlap = (min xmax - max xmin + 1) x (min ymax - max ymin + 1).")


def localization_errors(
    top1_error: float | None, top5_error: float | None, gt_known_accuracy: float | None
) -> bool:
    """Notebook 04, exercise 3: top-1 / top-5 localization error and GT-known accuracy, in %,
    of five photos (true class; guesses best first as class (IoU of its box); IoU of the box
    from the true class's map):

    1. tabby: tiger cat (0.92), Egyptian cat (0.95), tabby (0.55), lynx (0.30),
       Persian cat (0.88); true class's box 0.55
    2. espresso: espresso (0.40), cup (0.70), coffee mug (0.65), eggnog (0.20),
       consomme (0.35); 0.40
    3. tripod: tripod (0.65), ...; 0.65
    4. palace (ranked 7th): bell cote (0.58), boathouse (0.20), monastery (0.58),
       castle (0.55), church (0.60); 0.62
    5. military uniform: military uniform (0.94), ...; 0.94
    """
    if _unanswered(top1_error) or _unanswered(top5_error) or _unanswered(gt_known_accuracy):
        return False
    got = _numbers((top1_error, top5_error, gt_known_accuracy), 3)
    if got is None:
        return _hint("give three numbers in %: top-1 error, top-5 error, GT-known accuracy.")
    expected = (60.0, 40.0, 80.0)
    if all(v <= 1 for v in got) and any(v > 0 for v in got):
        if all(math.isclose(100 * g, e, abs_tol=0.5) for g, e in zip(got, expected, strict=True)):
            return _hint("right, but as fractions: give percentages (0.6 -> 60).")
        got = [100 * v for v in got]
    t1, t5, gt = got
    ok = [math.isclose(g, e, abs_tol=0.5) for g, e in zip(got, expected, strict=True)]
    if all(ok):
        return _ok(
            "top-1 60 %, top-5 40 %, GT-known 80 %: a good box only counts with the right "
            "class, and GT-known ignores the ranking altogether."
        )
    hints = []
    if not ok[0]:
        if math.isclose(t1, 20, abs_tol=0.5):
            hints.append(
                "top-1: you counted a first guess whose box is good but whose class is wrong"
            )
        elif math.isclose(t1, 40, abs_tol=0.5):
            hints.append(
                "top-1: 40 % is the share of photos whose first guess IS right, or the top-1 "
                "classification error; the error counts first guesses that are not correct "
                "(class right AND IoU >= 0.5)"
            )
        else:
            hints.append("top-1: a photo counts as correct only through its FIRST guess")
    if not ok[1]:
        if math.isclose(t5, 0, abs_tol=0.5):
            hints.append("top-5: a guess with a wrong class never counts, however good its box")
        elif math.isclose(t5, 20, abs_tol=0.5):
            hints.append(
                "top-5: that is the top-5 CLASSIFICATION error; the guess with the true class "
                "also needs IoU >= 0.5"
            )
        elif math.isclose(t5, 60, abs_tol=0.5):
            hints.append("top-5: that is the accuracy; the error is the rest")
        else:
            hints.append("top-5: a photo is correct if ANY of its five guesses is correct")
    if not ok[2]:
        if math.isclose(gt, 20, abs_tol=0.5):
            hints.append("GT-known: give the accuracy, not the error")
        elif math.isclose(gt, 60, abs_tol=0.5):
            hints.append(
                "GT-known: the box comes from the true class's map whatever the network's "
                "ranking, inside or outside the top 5"
            )
        else:
            hints.append("GT-known: only the box from the true class's map and IoU >= 0.5 count")
    return _hint("; ".join(hints) + ".")


def top5_localization(top1_correct: bool | None, top5_correct: bool | None) -> bool:
    """An image of class "tabby" with one GT box; guesses in order ("tiger cat", IoU 0.8),
    ("tabby", IoU 0.3), ("tabby", IoU 0.6)... Is it correct under the top-1 and under the top-5
    localization metric?"""
    if _unanswered(top1_correct) or _unanswered(top5_correct):
        return False
    if not all(isinstance(v, bool) for v in (top1_correct, top5_correct)):
        return _hint("answer True or False for each.")
    if top1_correct is False and top5_correct is True:
        return _ok("top-1 fails (wrong class); the third guess has the right class and IoU >= 0.5.")
    if top1_correct:
        return _hint("top-1 needs the FIRST guess's class to be right; IoU alone is not enough.")
    return _hint("top-5 is correct if ANY of the first five guesses has the class and IoU >= 0.5.")


# --------------------------------------------------------------------------- notebook 05
def pooling_credit(
    gap_cells: int | None, gmp_cells: int | None, gap_share: float | None, grid: int = 14
) -> bool:
    """Notebook 05, exercise 1: of the ``grid x grid`` cells of one channel ``f_k`` of one image,
    how many get a nonzero gradient ``dS_c / df_k(x, y)`` under GAP and under GMP (ties
    aside), and that gradient at one cell under GAP as a fraction of ``w_k^c``.

    ``S_c = sum_k w_k^c F_k + b_c``; GAP: ``dF_k / df_k(x, y) = 1 / (hw)`` at every cell; GMP:
    1 at the cell of the maximum, 0 elsewhere.
    """
    if _unanswered(gap_cells) or _unanswered(gmp_cells) or _unanswered(gap_share):
        return False
    cells = _ints((gap_cells, gmp_cells), 2)
    share = _numbers(gap_share, 1)
    if cells is None or share is None:
        return _hint(
            "give two whole numbers of cells (GAP, then GMP) and one fraction (GAP's gradient "
            "at one cell divided by w_k^c)."
        )
    gap, gmp = cells
    z = grid * grid
    hints = []
    if (gap, gmp) == (1, z):
        hints.append("the two counts are swapped: GAP first, then GMP")
    else:
        if gap != z:
            if gap == 7 * 7 and grid != 7:
                hints.append(
                    f"GAP: the body's features here are on a {grid} x {grid} grid; 7 x 7 is the "
                    "grid of the FC head after its max-pool (and of the ImageNet networks)"
                )
            elif gap == (4 * grid) ** 2:
                hints.append("GAP: count cells of the feature map f_k, not pixels of the image")
            else:
                hints.append("GAP: F_k is the mean of f_k; count the cells that a mean reads")
        if gmp != 1:
            if gmp == z:
                hints.append(
                    "GMP: nudge a cell of f_k that is not its maximum a little and see whether "
                    "F_k = max f_k changes"
                )
            elif gmp == 0:
                hints.append("GMP: the cell that holds the maximum does change F_k")
            else:
                hints.append("GMP: count the cells on which F_k = max f_k depends (ties aside)")
    s = share[0]
    if not math.isclose(s, 1 / z, rel_tol=1e-2):
        if math.isclose(s, 100 / z, rel_tol=1e-2):
            hints.append("GAP's share: give a fraction of w_k^c, not a percentage")
        elif math.isclose(s, 1.0):
            hints.append(
                "GAP's share: S_c gets w_k^c per unit of F_k, and F_k is a MEAN of the cells"
            )
        elif math.isclose(s, 1 / 49, rel_tol=1e-2) and grid != 7:
            hints.append(f"GAP's share: divide by the cells of the {grid} x {grid} grid")
        elif math.isclose(s, float(z)):
            hints.append("GAP's share: a mean divides by the number of cells")
        else:
            hints.append("GAP's share: dS_c / df_k(x, y) = w_k^c x dF_k / df_k(x, y)")
    if not hints:
        return _ok(
            f"GAP spreads w_k^c evenly, w_k^c / {z} to each of the {z} cells; GMP gives all of "
            "w_k^c to the single strongest cell. Under GAP every cell of f_k gets training "
            "signal, under GMP only the peak."
        )
    return _hint("; ".join(hints) + ".")


_BODY_PARAMETERS = 15_312  # conv_body((8, 16, 32, 32)): convs + BatchNorm scales and shifts
_FC_HEAD_PARAMETERS = 404_234  # Linear(32 * 7 * 7, 256) + Linear(256, 10)


def surgery_parameters(answer: int | None, width: int = 1024) -> bool:
    """Notebook 05, exercise 2: the parameters of ``gap_surgery(nets["fc"], width)``: the
    trained body (15,312 parameters, ``K = 32`` channels) + a 3x3 conv ``K -> width`` with
    biases + BatchNorm (a scale and a shift per unit) + Linear ``width -> 10`` with biases.
    ``width=64`` is the notebook's network (34,586), 1024 the paper's.
    """
    if _unanswered(answer):
        return False
    got = _ints(answer, 1)
    if got is None:
        return _hint("give one whole number, the count of parameters.")
    n = got[0]
    K, C, W = 32, 10, width
    conv_w, conv_b, bn, lin_w, lin_b = K * 9 * W, W, 2 * W, W * C, C
    added = conv_w + conv_b + bn + lin_w + lin_b
    total = _BODY_PARAMETERS + added
    if n == total:
        fc_net = _BODY_PARAMETERS + _FC_HEAD_PARAMETERS
        return _ok(
            f"{_BODY_PARAMETERS:,} (body) + {conv_w + conv_b:,} (3x3 conv) + {bn:,} (BatchNorm) "
            f"+ {lin_w + lin_b:,} (Linear) = {total:,}; the flatten + FC network had {fc_net:,}. "
            "The new conv holds most of the new parameters; the GAP + Linear head only "
            f"{lin_w + lin_b:,}."
        )
    wrong = [
        (
            total - _BODY_PARAMETERS,
            "that is what the surgery adds; the network keeps its trained body too",
        ),
        (
            total + _FC_HEAD_PARAMETERS,
            "the surgery DROPS the flatten + FC head (max-pool, flatten, both Linear layers)",
        ),
        (total - conv_b, "the new conv has a bias per unit"),
        (total - lin_b, "the new Linear has a bias per class"),
        (total - conv_b - lin_b, "the new conv and Linear both have biases"),
        (total - bn, "BatchNorm has two learnt parameters per unit (a scale and a shift)"),
        (total - bn // 2, "BatchNorm has TWO learnt parameters per unit (a scale and a shift)"),
        (
            total + bn,
            "BatchNorm's running mean and variance are buffers, not parameters "
            "(net.parameters() leaves them out)",
        ),
        (
            total + bn + 1,
            "BatchNorm's running mean, variance and batch count are buffers, not "
            "parameters (net.parameters() leaves them out)",
        ),
        (total - 8 * K * W, "a 3x3 conv has 3 x 3 weights per input channel and unit"),
        (total - conv_w + 9 * W * W, f"the new conv reads the body's K = {K} channels, not {W}"),
        (
            total - lin_w + W * 14 * 14 * C,
            "GAP leaves one number per unit for the Linear layer, not one per cell",
        ),
    ]
    if W != 64:
        wrong.append(
            (
                _BODY_PARAMETERS + K * 9 * 64 + 64 + 128 + 64 * C + C,
                f"that is the notebook's width 64; here the new conv has {W} units",
            )
        )
    matches = [message for value, message in wrong if value == n]
    if matches:  # one message per possible slip (several when two slips give the same count)
        return _hint(", or ".join(dict.fromkeys(matches)) + ".")
    return _hint(
        "count layer by layer: a conv has in x out x 3 x 3 weights + out biases, BatchNorm a "
        "scale and a shift per unit, a Linear in x out weights + out biases; then add the body."
    )


def _sweep_curve(sweep) -> tuple[list[float], list[float]] | None:
    """``(thresholds, GT-known accuracy in %)`` of a :class:`~camutils.metrics.MaxBoxAccMeter`
    result (``accuracy`` ``(I, T)``: the row of IoU 0.5), else ``None``."""
    if not isinstance(sweep, Mapping):
        return None
    try:
        t = [float(v) for v in torch.as_tensor(sweep["thresholds"]).flatten()]
        acc = torch.as_tensor(sweep["accuracy"], dtype=torch.float64)
        if acc.ndim == 2:
            deltas = [float(d) for d in sweep.get("iou_thresholds", [0.5])]
            acc = acc[deltas.index(0.5) if 0.5 in deltas else 0]
        a = [float(v) for v in acc.flatten()]
    except (AttributeError, TypeError, KeyError, IndexError, ValueError, RuntimeError):
        return None
    return (t, a) if len(t) == len(a) and t else None


def ranking_reversal(answer: float | None, sweep_gmp, sweep_surgery, paper_t: float = 0.2) -> bool:
    """Notebook 05, exercise 3: the smallest threshold ``t >= paper_t`` of the sweep at which the
    surgery network's GT-known accuracy is HIGHER than GMP's (at ``paper_t`` GMP is ahead).

    ``sweep_gmp`` and ``sweep_surgery`` are the ``MaxBoxAccMeter(box_rule="paper").compute()``
    results of the two methods in one seed's run (the notebook passes seed 0's,
    ``runs[0].sweeps["CAM on GMP"]`` and ``runs[0].sweeps["CAM on FC -> GAP (surgery)"]``), so
    the answer is read from the run at hand: other seeds, CPUs and GPUs train other networks,
    and the threshold where the curves cross moves with them.
    """
    if _unanswered(answer):
        return False
    a, b = _sweep_curve(sweep_gmp), _sweep_curve(sweep_surgery)
    if a is None or b is None or a[0] != b[0]:
        return _hint(
            'pass the two sweeps of one seed as the notebook has them: runs[0].sweeps["CAM on '
            'GMP"] and runs[0].sweeps["CAM on FC -> GAP (surgery)"].'
        )
    ts, gmp = a
    surgery = b[1]
    got = _numbers(answer, 1)
    if got is None:
        return _hint("give one threshold t, a fraction of the map's maximum such as 0.2.")
    t = got[0]
    if t > 1 and any(math.isclose(t / 100, v, abs_tol=1e-6) for v in ts):
        return _hint("give t as a fraction of the maximum (0.2), not a percentage (20).")
    near = [i for i, v in enumerate(ts) if math.isclose(t, v, abs_tol=1e-6)]
    if not near:
        return _hint("give one of the sweep's thresholds: 0.00, 0.05, ..., 0.95.")
    i = near[0]
    ahead = [j for j, v in enumerate(ts) if v >= paper_t - 1e-9 and surgery[j] > gmp[j]]
    if not ahead:
        return _hint("in this run the surgery network never gets ahead of GMP above t = 0.2.")
    first = ahead[0]
    if i == first:
        j = i - 1  # the sweep's threshold just below
        if j < 0 or surgery[j] > gmp[j]:
            return _ok(f"at t = {ts[i]:.2f} the surgery network is ahead of GMP.")
        return _ok(
            f"at t = {ts[i]:.2f} the surgery network is ahead ({surgery[i]:.1f}% vs "
            f"{gmp[i]:.1f}%), at t = {ts[j]:.2f} it was not ({surgery[j]:.1f}% vs GMP's "
            f"{gmp[j]:.1f}%). Two comparisons that each fix one threshold, on either side, "
            "rank the two methods in opposite orders."
        )
    best = [max(range(len(ts)), key=c.__getitem__) for c in (gmp, surgery)]
    if i == best[1]:
        return _hint(
            "that is where the surgery network peaks (its MaxBoxAcc); it overtakes GMP earlier."
        )
    if i == best[0]:
        return _hint("that is GMP's best threshold; where does the OTHER curve pass above it?")
    if ts[i] < paper_t - 1e-9:
        return _hint(f"start from the paper's t = {paper_t} and go up.")
    if surgery[i] <= gmp[i]:
        return _hint(
            f"at t = {ts[i]:.2f} GMP is still ahead or level ({gmp[i]:.1f}% vs "
            f"{surgery[i]:.1f}%): look at higher thresholds."
        )
    return _hint(
        f"at t = {ts[i]:.2f} the surgery network is ahead, but it already was at a lower "
        "threshold: find the FIRST one."
    )


# --------------------------------------------------------------------------- notebook 06
_VERDICT_CASES = [  # (label, top-5 classes best first, IoU of the true class's box) -> verdicts
    ((3, [3, 8, 1, 5, 9], 0.70), (True, True, True)),
    ((3, [3, 8, 1, 5, 9], 0.30), (False, False, False)),
    ((3, [8, 1, 3, 5, 9], 0.60), (False, True, True)),
    ((3, [8, 3, 1, 5, 9], 0.40), (False, False, False)),
    ((3, [8, 1, 2, 5, 9], 0.80), (False, False, True)),
    ((3, [3, 8, 1, 5, 9], 0.50), (True, True, True)),
    ((3, [8, 1, 2, 5, 3], 0.65), (False, True, True)),
    ((3, [8, 1, 2, 5, 3], 0.50), (False, True, True)),
]
_VERDICT_KEYS = ("label", "classes", "gt_known_iou")


def _verdicts(value) -> tuple[bool, bool, bool] | None:
    """Three truth values (bools, 0/1, one-element tensors or NumPy bools), else ``None``."""
    if isinstance(value, (str, bytes, Mapping)):
        return None
    try:
        items = list(value)
    except TypeError:
        return None
    out = []
    for v in items:
        try:
            if isinstance(v, (str, bytes)) or v not in (0, 1):
                return None
            out.append(bool(v))
        except (TypeError, ValueError, RuntimeError):
            return None
    return (out[0], out[1], out[2]) if len(out) == 3 else None


def loc_verdicts(fn: Callable[[dict], Sequence[bool]] | None, lines=None) -> bool:
    """Notebook 06, exercise 1: ``fn(line) -> (top1_loc, top5_loc, gt_known)``, the three
    verdicts of one image from three fields of its line in ``results.jsonl``: ``label`` (the
    true class ``c*``), ``classes`` (the five most probable classes, best first) and
    ``gt_known_iou`` (the IoU of the box of ``M_{c*}`` with the nearest ground-truth box).

    A guess ``(c, box)`` is correct when ``c = c*`` and ``IoU >= 0.5``, and the only guess with
    ``c = c*`` carries the box of ``M_{c*}``. ``fn`` is tried on hand-made cases and on
    ``lines`` (e.g. ``result.lines()``), whose stored verdicts it must reproduce.
    """
    if _unanswered(fn):
        return False
    if not callable(fn):
        return _hint("pass your function itself, verdicts, not its result verdicts(line).")
    cases = [
        ({"label": lb, "classes": list(cs), "gt_known_iou": iou}, want)
        for (lb, cs, iou), want in _VERDICT_CASES
    ]
    for ln in lines or []:
        if isinstance(ln, Mapping) and ln.get("status", "ok") == "ok" and "top1_loc" in ln:
            line = {k: ln[k] for k in _VERDICT_KEYS if k in ln}
            cases.append((line, (bool(ln["top1_loc"]), bool(ln["top5_loc"]), bool(ln["gt_known"]))))
    wrong = []
    for line, want in cases:
        try:
            got = fn(dict(line, classes=list(line["classes"])))
        except KeyError as e:
            return _hint(
                f"your function read the field {e}; use only line['label'], line['classes'] "
                "and line['gt_known_iou'] (the stored verdicts are what it must reproduce)."
            )
        except Exception as e:  # noqa: BLE001 - any error of the learner's code becomes a hint
            return _hint(f"calling your function on {line} raised {type(e).__name__}: {e}")
        if got is None or (isinstance(got, (tuple, list)) and all(v is None for v in got)):
            return not _unanswered(None)  # the skeleton, not yet filled in
        v = _verdicts(got)
        if v is None:
            return _hint(f"return three True/False values; for {line} it returned {got!r}.")
        if v != want:
            wrong.append((line, want, v))
    if not wrong:
        return _ok(
            f"all {len(cases)} cases. The true class's box decides all three: top-1 also needs "
            "c* first, top-5 needs c* among the five, GT-known ignores the ranking."
        )
    hints = []
    for line, want, got in wrong:
        label, classes, iou = line["label"], line["classes"], line["gt_known_iou"]
        rank = classes.index(label) if label in classes else None
        if iou == 0.5 and got == (False, False, False):
            hints.append("IoU exactly 0.5 counts as correct (IoU >= 0.5, not > 0.5)")
        elif got[0] and not want[0]:
            hints.append(
                "top-1: a first guess of the true class with a bad box (IoU < 0.5) is wrong"
                if rank == 0
                else "top-1 looks at the FIRST guess only: is classes[0] the true class?"
            )
        elif got[1] and not want[1]:
            hints.append(
                "top-5: the true class must be among the five guesses; GT-known is the "
                "verdict that ignores the ranking"
                if rank is None
                else "top-5: the guess of the true class also needs IoU >= 0.5"
            )
        elif got[2] != want[2]:
            hints.append(
                "GT-known: the box of the true class's map and IoU >= 0.5 only, whatever "
                "the classifier ranked first (or in its top 5)"
            )
        elif not got[1] and want[1]:
            hints.append("top-5: any of the five positions counts, the last one included")
        elif not got[0] and want[0]:
            hints.append("top-1: the true class first and IoU >= 0.5 is a correct first guess")
        else:
            hints.append(f"for label {label}, classes {classes}, IoU {iou}: expected {want}")
    line, want, got = wrong[0]
    return _hint(
        "; ".join(dict.fromkeys(hints))
        + f". ({len(wrong)} of {len(cases)} cases wrong; e.g. {line} gave {got}.)"
    )


_MAP_BOX = (40, 60, 183, 171)  # on the 224 x 224 input
_MAP_SIZE = (375, 500)  # (H, W) of the original image


def box_to_original(answer: Sequence[int] | None) -> bool:
    """Notebook 06, exercise 2: the box ``(40, 60, 183, 171)`` found on the ``224 x 224`` input
    of a ``500 x 375`` photo (W x H) under ``Preprocess(224, "squash")``, in the photo's
    inclusive pixel coordinates ``(xmin, ymin, xmax, ymax)``.

    The exact answer is :func:`camutils.preprocess.boxes_to_original`'s; within 2 pixels of it
    (scaling each coordinate, rounding) counts as right, with a note on the exact edges.
    """
    from camutils.models import Preprocess
    from camutils.preprocess import boxes_to_original

    if _unanswered(answer):
        return False
    got = _numbers(answer, 4)
    if got is None:
        return _hint("give four numbers, (xmin, ymin, xmax, ymax) in the 500 x 375 photo.")
    h, w = _MAP_SIZE
    s = 224
    box = torch.tensor([_MAP_BOX])
    size = torch.tensor([[h, w]])
    exact = [int(v) for v in boxes_to_original(box, size, Preprocess(s, "squash"))[0]]
    crop = [int(v) for v in boxes_to_original(box, size, Preprocess(s, "crop"))[0]]
    x0, y0, x1, y1 = _MAP_BOX

    def near(ref, tol: float = 2.0) -> bool:
        return all(abs(g - r) <= tol for g, r in zip(got, ref, strict=True))

    if near(exact):
        if [round(g) for g in got] == exact and all(g == int(g) for g in got):
            return _ok(
                f"{tuple(exact)}: x scales by W / 224 = {w / s:.3f}, y by H / 224 = "
                f"{h / s:.3f} (squash does not keep the aspect ratio)."
            )
        return _ok(
            f"within a pixel or two. The exact edges, {tuple(exact)}, count whole pixels: an "
            "original pixel is in the box when its centre is, and an inclusive xmax covers the "
            f"whole last input pixel, up to (xmax + 1) x W / 224 (boxes_to_original)."
        )

    def scaled(fx: float, fy: float) -> list[float]:
        return [x0 * fx, y0 * fy, x1 * fx, y1 * fy]

    if near(_MAP_BOX, 0):
        return _hint("that is the box on the 224 x 224 input; map it to the 500 x 375 photo.")
    if near([exact[1], exact[0], exact[3], exact[2]]):
        return _hint("right numbers, wrong order: (xmin, ymin, xmax, ymax), x the column.")
    if near(scaled(h / s, w / s), 3):
        return _hint(
            "x and y scales are swapped: x runs along the WIDTH (500 pixels), y along the "
            "height (375)."
        )
    if near(scaled(w / s, w / s), 3) or near(scaled(h / s, h / s), 3):
        return _hint(
            "one factor for both axes: squash resizes 500 -> 224 across and 375 -> 224 down, "
            "two different factors."
        )
    if near(scaled(s / w, s / h), 3) or near(scaled(s / h, s / w), 3):
        return _hint("the photo is larger than the input: multiply by W / 224 and H / 224.")
    if near(crop, 3):
        return _hint(
            "that is the mapping of mode='crop' (resize, centre cut); this preprocessing "
            "squashes the whole photo."
        )
    if got[2] > w - 1 or got[3] > h - 1:
        return _hint(f"inclusive boxes end at the last pixel: xmax <= {w - 1}, ymax <= {h - 1}.")
    return _hint("each x coordinate times W / 224, each y coordinate times H / 224.")


_BL = {"images": 50_000, "blacklisted": 1_762, "correct": 21_000, "correct_blacklisted": 600}


def blacklist_errors(full_error: float | None, clean_error: float | None) -> bool:
    """Notebook 06, exercise 3: top-1 localization error (%) with every image and with the
    blacklist left out, for a run on the 50,000 validation images (1,762 blacklisted) in which
    21,000 images are correct (first guess: true class, IoU >= 0.5), 600 of them blacklisted.
    """
    if _unanswered(full_error) or _unanswered(clean_error):
        return False
    got = _numbers((full_error, clean_error), 2)
    if got is None:
        return _hint("give two numbers in %: the error over every image, then without the list.")
    n, nb, c, cb = _BL["images"], _BL["blacklisted"], _BL["correct"], _BL["correct_blacklisted"]
    full = 100 * (1 - c / n)
    clean = 100 * (1 - (c - cb) / (n - nb))
    if all(v <= 1 for v in got) and math.isclose(100 * got[0], full, abs_tol=0.05):
        return _hint("give percentages (0.58 -> 58), as the table does.")
    f, k = got
    tol = 0.02

    def near(a: float, b: float) -> bool:
        return math.isclose(a, b, abs_tol=tol)

    hints = []
    if not near(f, full):
        if near(f, 100 - full):
            hints.append("every image: that is the accuracy; the error is the rest")
        else:
            hints.append("every image: the share of the 50,000 whose first guess is NOT correct")
    if not near(k, clean):
        if near(k, 100 - clean):
            hints.append("without the list: that is the accuracy; the error is the rest")
        elif near(k, 100 * (1 - (c - cb) / n)):
            hints.append(
                "without the list: the blacklisted images leave the denominator too, not only "
                "the count of correct ones"
            )
        elif near(k, 100 * (1 - c / (n - nb))):
            hints.append(
                "without the list: the 600 blacklisted images that were correct leave the "
                "count of correct ones too"
            )
        elif near(k, 100 * (n - c - (nb - cb)) / n):
            hints.append("without the list: divide by the images that remain, not by 50,000")
        elif near(k, full):
            hints.append("without the list: both counts change, so the error does too")
        else:
            hints.append("without the list: correct ones that remain / images that remain")
    if not hints:
        bl_error = 100 * (1 - cb / nb)
        return _ok(
            f"{full:.2f} % and {clean:.2f} %. The blacklisted images are harder than the rest "
            f"({bl_error:.1f} % wrong), so leaving them out lowers the error; classification "
            "errors still count all 50,000 images."
        )
    return _hint("; ".join(hints) + ".")


def gradcam_scale(answer: float | None, grid: tuple[int, int] = (7, 7)) -> bool:
    """Notebook 07, exercise 1: the constant that turns CAM into Grad-CAM without its ReLU on a
    GAP + Linear head whose last features are ``grid`` cells (``L_c = answer * M_c``)."""
    if _unanswered(answer):
        return False
    got = _numbers(answer, 1)
    if got is None:
        return _hint("give one number, the factor in L_c = factor x M_c.")
    h, w = grid
    value = got[0]
    if math.isclose(value, 1 / (h * w), rel_tol=1e-3):
        return _ok(
            f"dS_c / df_k(x, y) = w_k^c / {h * w} at every cell, so alpha_k^c = w_k^c / {h * w} "
            f"and L_c = M_c / {h * w}: the same map, scaled."
        )
    if math.isclose(value, h * w, rel_tol=1e-3):
        return _hint("the gradient of a mean divides by the number of cells; it does not multiply.")
    if math.isclose(value, 1 / 224**2, rel_tol=1e-3):
        return _hint("the mean runs over the cells of the feature grid f_k, not the input pixels.")
    if math.isclose(value, 1.0, rel_tol=1e-3):
        return _hint("S_c holds F_k, the MEAN of f_k over the cells: what does a mean do to dS_c?")
    return _hint(
        "write dS_c / df_k(x, y) for S_c = sum_k w_k^c mean_xy f_k + b_c, then average it."
    )


def scorecam_passes(answer: int | None, images: int = 8, channels: int = 1280) -> bool:
    """Notebook 07, exercise 2: the images sent forward by ``score_cam`` at the last features
    of EfficientNet-Lite0 (``channels`` of them) for a batch of ``images`` photos and one class."""
    if _unanswered(answer):
        return False
    got = _ints(answer, 1)
    if got is None:
        return _hint("give one whole number: the images sent forward through the network.")
    n = got[0]
    total = images * channels + images
    if n == total:
        return _ok(
            f"{images} for the activations A, then one masked copy per image and channel, "
            f"{images} x {channels} = {images * channels}: {total} (Grad-CAM needs {images} and "
            "one backward pass through the head)."
        )
    if n == images * channels:
        return _hint("the masked copies are right; where do the masks H_k come from?")
    if n in (channels, channels + 1):
        return _hint("each image of the batch gets its own masks: count them per image.")
    if n == images * (channels + 1) * 2:
        return _hint("the masked images need no backward pass; count forward passes once.")
    return _hint("one pass for A, then one per image and per channel k (the mask H_k).")
