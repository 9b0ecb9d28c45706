"""The exercise checks answer in Korean after ``set_language("ko")``, and only then.

Coverage is read from the source: every English message of ``camutils/check.py`` (and every
piece of a hint built by joining) must have a Korean entry in ``camutils/check_ko.py``, and every
Korean entry an English template that still exists. Behaviour is tried on the answers of
``tests/test_check.py`` and ``tests/test_check_after_cam.py``: the Korean output is Korean, with the values unchanged, and the English
output is byte for byte what the original printing helpers print.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
import torch

import camutils
from camutils import check, check_ko

SOURCE = Path(check.__file__)
HELPERS = {"_ok", "_hint", "_unanswered", "_call"}
HANGUL = re.compile("[\uac00-\ud7a3]")
PREFIXES_EN = tuple(p.strip() for p in check_ko.PREFIXES)


# --------------------------------------------------------------------------- the source's messages
def template(node: ast.AST) -> str | None:
    """A string or f-string node as a template: literal text with braces doubled, each
    replacement field ``{expression!conversion:spec}`` as written; else ``None``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.replace("{", "{{").replace("}", "}}")
    if not isinstance(node, ast.JoinedStr):
        return None
    out = []
    for part in node.values:
        if isinstance(part, ast.Constant):
            out.append(part.value.replace("{", "{{").replace("}", "}}"))
            continue
        field = "{" + ast.unparse(part.value)
        if part.conversion != -1:
            field += "!" + chr(part.conversion)
        if part.format_spec is not None:
            field += ":" + "".join(str(v.value) for v in part.format_spec.values)
        out.append(field + "}")
    return "".join(out)


def strings(node: ast.AST) -> list[str]:
    """The templates of a string node, or of both branches of ``a if c else b``."""
    if isinstance(node, ast.IfExp):
        return strings(node.body) + strings(node.orelse)
    t = template(node)
    return [] if t is None else [t]


def _is_join(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "join"
        and template(node.func.value) is not None
    )


def _skipped(tree: ast.Module) -> set[int]:
    """The ids of the docstrings and of the parts of f-strings (read with their f-string)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and template(first.value) is not None:
                ids.add(id(first.value))
        if isinstance(node, ast.JoinedStr):
            ids.update(id(v) for v in ast.walk(node) if v is not node)
    return ids


def source_messages(source: str | None = None) -> dict[str, set[str]]:
    """What ``check.py`` prints, by kind: ``messages`` (given to ``_ok`` / ``_hint``), ``pieces``
    and ``tails`` and ``joins`` of the hints built by joining, ``prefixes`` of the helpers, and
    ``unknown``: message expressions of a form this test does not read (it must stay empty)."""
    tree = ast.parse(source if source is not None else SOURCE.read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {
        k: set() for k in ("messages", "pieces", "tails", "joins", "prefixes", "unknown")
    }
    skipped = _skipped(tree)
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        if fn.name in HELPERS:  # the printed frame: a prefix and the message
            for node in ast.walk(fn):
                t = template(node) if id(node) not in skipped else None
                for prefix in check_ko.PREFIXES:
                    if t is not None and t.startswith(prefix):
                        found["prefixes"].add(prefix)
                        rest = t[len(prefix) :]
                        if rest != "{message}":
                            found["messages"].add(rest)
        composite = False
        for node in ast.walk(fn):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in ("_ok", "_hint") or len(node.args) != 1:
                continue
            arg = node.args[0]
            if strings(arg):
                found["messages"].update(strings(arg))
            elif isinstance(arg, ast.BinOp) and _is_join(arg.left) and template(arg.right):
                composite = True
                found["joins"].add(arg.left.func.value.value)
                found["tails"].add(template(arg.right))
                joined = arg.left.args[0]
                if isinstance(joined, (ast.GeneratorExp, ast.ListComp)):
                    found["pieces"].update(strings(joined.elt) or ["<unread generator>"])
            else:
                found["unknown"].add(ast.unparse(arg))
        if composite:  # the pieces the joined list is made of
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    if node.func.attr == "append" and node.args:
                        (arg,) = node.args
                        items = arg.elts if isinstance(arg, ast.Tuple) else [arg]
                        for item in items:
                            found["pieces"].update(strings(item))
                elif isinstance(node, ast.List):
                    for item in node.elts:
                        if isinstance(item, ast.Tuple):
                            for element in item.elts:
                                found["pieces"].update(strings(element))
                elif isinstance(node, ast.Dict):
                    for value in node.values:
                        found["pieces"].update(strings(value))
    return found


def prose(tree: ast.Module) -> set[str]:
    """Every string of three words or more outside docstrings and ``raise`` (an error for the
    programmer, not feedback for the learner): what a message looks like."""
    skipped = _skipped(tree)
    skipped |= {id(n) for r in ast.walk(tree) if isinstance(r, ast.Raise) for n in ast.walk(r)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        t = template(node)
        if t is not None and sum(bool(re.search("[A-Za-z]", w)) for w in t.split()) >= 3:
            out.add(t)
    return out


def test_every_english_message_of_check_py_has_a_korean_entry():
    found = source_messages()
    assert not found["unknown"], f"messages of a form this test cannot read: {found['unknown']}"
    assert found["messages"] and found["pieces"] and found["tails"]
    for kind, catalogue in [
        ("messages", check_ko.MESSAGES),
        ("pieces", check_ko.PIECES),
        ("tails", check_ko.TAILS),
        ("joins", check_ko.JOINS),
        ("prefixes", check_ko.PREFIXES),
    ]:
        missing = sorted(found[kind] - set(catalogue))
        assert not missing, f"check_ko.{kind.upper()} has no Korean for: {missing}"


def test_no_korean_entry_is_left_without_its_english_template():
    found = source_messages()
    for kind, catalogue in [
        ("messages", check_ko.MESSAGES),
        ("pieces", check_ko.PIECES),
        ("tails", check_ko.TAILS),
        ("joins", check_ko.JOINS),
        ("prefixes", check_ko.PREFIXES),
    ]:
        stale = sorted(set(catalogue) - found[kind])
        assert not stale, (
            f"check_ko.{kind.upper()} translates what check.py no longer says: {stale}"
        )


def test_the_collection_sees_a_new_message():
    extra = """

def new_check(answer):
    if answer == 1:
        return _ok(f"a new right answer, {answer}.")
    hints = []
    hints.append("a new piece" if answer else "another new piece")
    return _hint("; ".join(hints) + ".")
"""
    found = source_messages(SOURCE.read_text(encoding="utf-8") + extra)
    assert "a new right answer, {answer}." in found["messages"] - set(check_ko.MESSAGES)
    assert {"a new piece", "another new piece"} <= found["pieces"] - set(check_ko.PIECES)


def test_no_message_path_escapes_the_catalogue():
    # a safety net for message paths the collection above does not know: every string that
    # reads like prose (docstrings and raised errors aside) is a message, a piece or a tail
    tree = ast.parse(SOURCE.read_text(encoding="utf-8"))
    found = source_messages()
    known = found["messages"] | found["pieces"] | found["tails"]
    known |= {p + "{message}" for p in found["prefixes"]}
    known |= {p + m for p in found["prefixes"] for m in found["messages"]}
    assert not sorted(prose(tree) - known)
    # and nothing prints except the helpers, which translate
    printers = {
        fn.name
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef)
        for node in ast.walk(fn)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
    }
    assert printers <= HELPERS, printers


def test_the_catalogue_is_consistent():
    for table in (check_ko.MESSAGES, check_ko.PIECES, check_ko.TAILS):
        for english, korean in table.items():
            assert check_ko.fields(korean) == check_ko.fields(english), english
            assert HANGUL.search(korean) or english in ("{k}: {why[k]}", "."), english
            assert not any(p in korean for p in PREFIXES_EN), english
    for field in check_ko.MESSAGE_FIELDS:
        assert any(field in check_ko.fields(t) for t in check_ko.PIECES), field
    for korean in (*check_ko.PREFIXES.values(), *check_ko.JOINS.values()):
        assert korean.strip() and "\n" not in korean
    for name in ("messages", "pieces", "tails"):
        assert check_ko._catalogue(name)  # every template compiles


# --------------------------------------------------------------------------- the answers tried
def _sweep(acc):
    return {"thresholds": [i / 20 for i in range(20)], "accuracy": torch.tensor([acc]).double()}


_GMP = [0, 2, 20, 52, 45, 40, 36, 30, 26, 22, 18, 15, 12, 10, 8, 6, 4, 3, 2, 1]
_SURGERY = [0, 0, 1, 3, 13, 30, 44, 60, 75, 80, 82, 78, 70, 60, 50, 40, 30, 20, 10, 5]
GMP, SURGERY = _sweep(_GMP), _sweep(_SURGERY)
EARLY = _sweep(_SURGERY[:4] + [60] + _SURGERY[5:])


def _verdicts(ln):
    c, classes, iou = ln["label"], ln["classes"], ln["gt_known_iou"]
    return classes[0] == c and iou >= 0.5, c in classes and iou >= 0.5, iou >= 0.5


def _lines():
    out = []
    for label, classes, iou in [(281, [285, 282, 281, 287, 728], 0.98), (872, [872, 1, 2, 3, 4], 0.35),
                                (967, [967, 5, 6, 7, 8], 0.71), (892, [971, 818, 633, 673, 9], 0.6)]:  # fmt: skip
        t1, t5, gk = _verdicts({"label": label, "classes": classes, "gt_known_iou": iou})
        out.append({"stem": f"s{label}", "status": "ok", "label": label, "classes": classes,
                    "gt_known_iou": iou, "top1_loc": t1, "top5_loc": t5, "gt_known": gk})  # fmt: skip
    return out + [{"stem": "broken", "status": "unreadable image"}]


def _variant(top1=None, top5=None, gt=None, strict=False):
    def fn(ln):
        c, cs, iou = ln["label"], ln["classes"], ln["gt_known_iou"]
        good = iou > 0.5 if strict else iou >= 0.5
        return (
            top1(c, cs, good) if top1 else cs[0] == c and good,
            top5(c, cs, good) if top5 else c in cs and good,
            gt(c, cs, good) if gt else good,
        )

    return fn


_F = torch.tensor([11.0, 18.0, 18.0], dtype=torch.float64) / 16
_S1 = float(torch.tensor([0.6, 0.1, 0.1], dtype=torch.float64) @ _F)
_S2 = float(torch.tensor([0.4, 0.6, 0.8], dtype=torch.float64) @ _F)
_CAM = lambda f, w: torch.einsum("ck,bkhw->bchw", w, f)  # noqa: E731
_PER = lambda f, w, c: torch.einsum("bnk,bkxy->bnxy", w[c], f)  # noqa: E731
_RIGHT = {
    "gradient saliency": "backpropagation",
    "LRP": "backpropagation",
    "CAM": "activation",
    "occlusion": "perturbation",
    "LIME": "perturbation",
}
_LINES = _lines()
_CLEAN = 100 * (1 - 20_400 / 48_238)

CASES = [
    # notebook 01
    ("toy_scores", (_S1, _S2)),
    ("toy_scores", (16 * _S1, 16 * _S2)),
    ("toy_scores", (_S2, _S1)),
    ("toy_scores", (0.88125, 1.85)),
    ("toy_scores", (0.5, _S2)),
    ("toy_scores", (0.1, 0.2)),
    ("toy_scores", None),
    ("toy_scores", "two"),
    ("cam_function", _CAM),
    ("cam_function", lambda f, w: _CAM(f, w) / 5),
    ("cam_function", lambda f, w: torch.einsum("kc,bkhw->bchw", w, f)),
    ("cam_function", lambda f, w: f.mean(dim=1)),
    ("cam_function", lambda f, w: torch.relu(_CAM(f, w))),
    ("cam_function", lambda f, w: _CAM(f, w).numpy()),
    ("cam_function", lambda f, w: _CAM(f, w).flip(-1)),
    ("cam_function", lambda f, w: _CAM(f, w.flip(0))),
    ("cam_function", None),
    # notebook 02
    ("occlusion_cost", (13, 13), 170),
    ("occlusion_cost", (14, 14), 197),
    ("occlusion_cost", (12, 12), 145),
    ("occlusion_cost", (7, 7), 50),
    ("occlusion_cost", (10, 10), 50),
    ("occlusion_cost", (13, 13), 169),
    ("occlusion_cost", (13, 13), 50),
    ("occlusion_cost", (13, 13), 171),
    ("occlusion_cost", (13, 13), "many"),
    ("occlusion_cost", 13, 170),
    ("occlusion_cost", (13, 13), None),
    ("gap_head_weights", 62_720_000, 1_280_000),
    ("gap_head_weights", 62_721_000, 1_281_000),
    ("gap_head_weights", 8_960_000, 1_280_000),
    ("gap_head_weights", 62_720_000, 1280),
    ("gap_head_weights", 62_720_000, 62_720_000),
    ("gap_head_weights", 62_720_000, 5),
    ("gap_head_weights", 62_720, 1_280_000),
    ("gap_head_weights", 5, 1_280_000),
    ("gap_head_weights", 1280 * 14 * 14 * 1000, 1_280_000, 14),
    ("gap_head_weights", 62_720_000, 1_280_000, 14),
    ("gap_head_weights", "a lot", 1_280_000, 14),
    ("gap_head_weights", None, None, 14),
    ("flatten_to_gap", lambda W: W.sum(dim=(2, 3))),
    ("flatten_to_gap", lambda W: W.mean(dim=(2, 3))),
    ("flatten_to_gap", lambda W: W.sum(dim=(2, 3)) * 10),
    ("flatten_to_gap", lambda W: W.sum(dim=(2, 3)).T),
    ("flatten_to_gap", lambda W: W.sum(dim=(0, 1))),
    ("flatten_to_gap", lambda W: W[:, :, 0, 0]),
    ("flatten_to_gap", lambda W: W.sum(dim=(2, 3)).numpy()),
    ("flatten_to_gap", lambda W: W.sum(dim=5)),
    ("flatten_to_gap", lambda W: None),
    ("explanation_families", _RIGHT),
    ("explanation_families", {**_RIGHT, "CAM": "backpropagation"}),
    ("explanation_families", {k: "activation" for k in _RIGHT}),
    ("explanation_families", {"CAM": "activation"}),
    ("explanation_families", ["CAM", "activation"]),
    # notebook 03
    ("per_image_cams", _PER),
    ("per_image_cams", camutils.class_activation_maps),
    ("per_image_cams", lambda f, w, c: torch.einsum("nk,bkxy->bnxy", w[c[0]], f)),
    ("per_image_cams", lambda f, w, c: torch.einsum("ck,bkxy->bcxy", w, f)),
    ("per_image_cams", lambda f, w, c: torch.einsum("bnk,akxy->abnxy", w[c], f)),
    ("per_image_cams", lambda f, w, c: _PER(f, w, c) / 5),
    ("per_image_cams", lambda f, w, c: torch.relu(_PER(f, w, c))),
    ("per_image_cams", lambda f, w, c: torch.einsum("bnk,bkxy->bnxy", w[c].flip(-1), f)),
    ("per_image_cams", lambda f, w, c: torch.einsum("bnk,bkxy->bnxy", w, f)),
    ("per_image_cams", lambda f, w, c: [1, 2]),
    ("per_image_cams", lambda f, w, c: None),
    ("upsample_size", (300, 451)),
    ("upsample_size", (451, 300)),
    ("upsample_size", (224, 224)),
    ("upsample_size", 451),
    ("normalized_pixel", 1 / 3, 0.0),
    ("normalized_pixel", 0.0, 1 / 3),
    ("normalized_pixel", 0.5, 0.0),
    ("normalized_pixel", 0.0, 0.0),
    ("normalized_pixel", 0.9, 0.0),
    ("normalized_pixel", 1 / 3, 0.5),
    ("normalized_pixel", 1 / 3, 1 / 3),
    ("normalized_pixel", 33.3, 0),
    ("normalized_pixel", "a", 0),
    # notebook 04
    ("threshold_box", (1, 1, 2, 2)),
    ("threshold_box", (0, 0, 4, 4)),
    ("threshold_box", (1, 1, 3, 2)),
    ("threshold_box", (1, 0, 4, 2)),
    ("threshold_box", (1, 1, 3, 3)),
    ("threshold_box", (0, 1, 2, 3)),
    ("threshold_box", (1, 1, 2)),
    ("threshold_box_shifted", (1, 1, 3, 2)),
    ("threshold_box_shifted", (1, 1, 2, 2)),
    ("threshold_box_shifted", (0, 0, 4, 4)),
    ("threshold_box_shifted", (1, 0, 4, 2)),
    ("threshold_box_shifted", (1, 1, 2, 3)),
    ("threshold_box_shifted", (0, 0, 1, 1)),
    ("threshold_box_shifted", "box"),
    ("threshold_box_shifted", None),
    ("box_iou_inclusive", 400 / 2800),
    ("box_iou_inclusive", 361 / 2681),
    ("box_iou_inclusive", 0.25),
    ("box_iou_inclusive", 0.125),
    ("box_iou_inclusive", 14.29),
    ("box_iou_inclusive", 0.3),
    ("box_iou_inclusive", "1/7"),
    ("localization_errors", 60, 40, 80),
    ("localization_errors", 0.6, 0.4, 0.8),
    ("localization_errors", 20, 40, 80),
    ("localization_errors", 40, 40, 80),
    ("localization_errors", 60, 0, 80),
    ("localization_errors", 60, 20, 80),
    ("localization_errors", 60, 60, 80),
    ("localization_errors", 60, 40, 60),
    ("localization_errors", 60, 40, 20),
    ("localization_errors", 20, 0, 60),
    ("localization_errors", 10, 10, 10),
    ("localization_errors", "a", 40, 80),
    ("localization_errors", 60, 40, None),
    ("top5_localization", False, True),
    ("top5_localization", True, True),
    ("top5_localization", False, False),
    ("top5_localization", "no", "yes"),
    # notebook 05
    ("pooling_credit", 196, 1, 1 / 196),
    ("pooling_credit", 1, 196, 1 / 196),
    ("pooling_credit", 49, 1, 1 / 49),
    ("pooling_credit", 56 * 56, 1, 1 / 196),
    ("pooling_credit", 196, 196, 1 / 196),
    ("pooling_credit", 196, 0, 1 / 196),
    ("pooling_credit", 196, 1, 1),
    ("pooling_credit", 196, 1, 100 / 196),
    ("pooling_credit", 196, 1, 196),
    ("pooling_credit", 196, 1, 0.3),
    ("pooling_credit", 100, 5, 1),
    ("pooling_credit", "all", 1, 1 / 196),
    ("pooling_credit", 196, 1, None),
    ("surgery_parameters", 323_546),
    ("surgery_parameters", 34_586, 64),
    ("surgery_parameters", 323_546 - 15_312),
    ("surgery_parameters", 323_546 + 404_234),
    ("surgery_parameters", 323_546 - 1024),
    ("surgery_parameters", 323_546 - 10),
    ("surgery_parameters", 323_546 - 1034),
    ("surgery_parameters", 323_546 - 2048),
    ("surgery_parameters", 323_546 + 2048),
    ("surgery_parameters", 323_546 + 2049),
    ("surgery_parameters", 323_546 - 8 * 32 * 1024),
    ("surgery_parameters", 323_546 - 32 * 9 * 1024 + 9 * 1024 * 1024),
    ("surgery_parameters", 323_546 - 10 * 1024 + 1024 * 196 * 10),
    ("surgery_parameters", 34_586),
    ("surgery_parameters", 400_000),
    ("surgery_parameters", "many"),
    ("ranking_reversal", 0.3, GMP, SURGERY),
    ("ranking_reversal", 0.25, GMP, SURGERY),
    ("ranking_reversal", 0.35, GMP, SURGERY),
    ("ranking_reversal", 0.5, GMP, SURGERY),
    ("ranking_reversal", 0.15, GMP, SURGERY),
    ("ranking_reversal", 0.1, GMP, SURGERY),
    ("ranking_reversal", 30, GMP, SURGERY),
    ("ranking_reversal", 0.33, GMP, SURGERY),
    ("ranking_reversal", "0.3", GMP, SURGERY),
    ("ranking_reversal", 0.3, SURGERY["accuracy"], GMP),
    ("ranking_reversal", 0.3, GMP, _sweep([0.0] * 20)),
    ("ranking_reversal", 0.2, GMP, EARLY),
    ("ranking_reversal", 0.0, GMP, _sweep([5] + _SURGERY[1:]), 0.0),
    ("ranking_reversal", None, GMP, SURGERY),
    # notebook 06
    ("loc_verdicts", _verdicts, _LINES),
    ("loc_verdicts", _verdicts),
    ("loc_verdicts", _variant(top1=lambda c, cs, good: cs[0] == c), _LINES),
    ("loc_verdicts", _variant(top1=lambda c, cs, good: c in cs and good), _LINES),
    ("loc_verdicts", _variant(top5=lambda c, cs, good: good), _LINES),
    ("loc_verdicts", _variant(top5=lambda c, cs, good: c in cs), _LINES),
    ("loc_verdicts", _variant(top5=lambda c, cs, good: c in cs[:4] and good), _LINES),
    ("loc_verdicts", _variant(gt=lambda c, cs, good: c in cs and good), _LINES),
    ("loc_verdicts", _variant(strict=True), _LINES),
    ("loc_verdicts", _variant(top1=lambda c, cs, good: False), _LINES),
    ("loc_verdicts", lambda ln: (ln["top1_loc"], 0, 0), _LINES),
    ("loc_verdicts", lambda ln: None),
    ("loc_verdicts", lambda ln: "yes"),
    ("loc_verdicts", lambda ln: 1 / 0),
    ("loc_verdicts", (False, True, True)),
    ("box_to_original", (89, 100, 410, 287)),
    ("box_to_original", (89, 100, 408, 286)),
    ("box_to_original", (67, 134, 306, 382)),
    ("box_to_original", (89, 134, 408, 382)),
    ("box_to_original", (40, 60, 183, 171)),
    ("box_to_original", (18, 36, 82, 102)),
    ("box_to_original", (100, 89, 287, 410)),
    ("box_to_original", (144, 111, 354, 274)),
    ("box_to_original", (89, 100, 500, 375)),
    ("box_to_original", (0, 0, 10, 10)),
    ("box_to_original", "89, 100, 410, 287"),
    ("blacklist_errors", 58.0, _CLEAN),
    ("blacklist_errors", 0.58, 0.5771),
    ("blacklist_errors", 42.0, 42.29),
    ("blacklist_errors", 58.0, 59.2),
    ("blacklist_errors", 58.0, 100 * (1 - 21_000 / 48_238)),
    ("blacklist_errors", 58.0, 100 * 27_838 / 50_000),
    ("blacklist_errors", 58.0, 58.0),
    ("blacklist_errors", 58.0, 50.0),
    ("blacklist_errors", 60.0, 100 - _CLEAN),
    ("blacklist_errors", "58", [1, 2]),
    # notebook 07
    ("gradcam_scale", 1 / 49),
    ("gradcam_scale", 1 / 196, (14, 14)),
    ("gradcam_scale", 1 / 49, (14, 14)),
    ("gradcam_scale", 49),
    ("gradcam_scale", 1 / 224**2),
    ("gradcam_scale", 1.0),
    ("gradcam_scale", 0.3),
    ("gradcam_scale", "a half"),
    ("gradcam_scale", None),
    ("scorecam_passes", 8 * 1280 + 8),
    ("scorecam_passes", 4 * 64 + 4, 4, 64),
    ("scorecam_passes", 8 * 1280),
    ("scorecam_passes", 1280),
    ("scorecam_passes", 1281),
    ("scorecam_passes", 8 * 1281 * 2),
    ("scorecam_passes", 5),
    ("scorecam_passes", "many"),
    ("scorecam_passes", 10248.5),
    ("scorecam_passes", None),
]
IDS = [f"{i:03d}-{name}" for i, (name, *_) in enumerate(CASES)]


def run(capsys, name, *args):
    ok = getattr(check, name)(*args)
    return ok, capsys.readouterr().out


@pytest.fixture
def korean():
    check_ko.missed.clear()
    check.set_language("ko")
    yield
    check.set_language("en")
    check_ko.missed.clear()


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_TUPLE = re.compile(r"\((?:-?\d+(?:\.\d+)?(?:, )?)+\)")


def _english_literals() -> set[str]:
    """The literal text of the English templates (three words or more) that no Korean template
    contains: found in a Korean line, it is English that slipped through a field."""
    tables = (check_ko.MESSAGES, check_ko.PIECES, check_ko.TAILS)
    korean = " ".join(k for table in tables for k in table.values())
    return {
        text.strip()
        for table in tables
        for english in table
        for is_field, text in check_ko._split(english)
        if not is_field and len(re.findall(r"[A-Za-z]+", text)) >= 3 and text.strip() not in korean
    }


ENGLISH = _english_literals()


def assert_korean(english: str, korean: str) -> None:
    assert not check_ko.missed, f"no Korean entry, printed in English: {check_ko.missed}"
    assert korean.endswith("\n") and korean.count("\n") == english.count("\n") == 1
    assert HANGUL.search(korean), korean
    assert not any(p in korean for p in PREFIXES_EN), korean
    assert korean.split(": ")[0] + ": " in check_ko.PREFIXES.values(), korean
    for value in _NUMBER.findall(english) + _TUPLE.findall(english):
        assert value in korean, (value, english, korean)
    leaked = [text for text in ENGLISH if text in korean]
    assert not leaked, (leaked, korean)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_korean_feedback(capsys, korean, case):
    name, *args = case
    check.set_language("en")
    ok_en, english = run(capsys, name, *args)
    check.set_language("ko")
    ok_ko, korean_out = run(capsys, name, *args)
    assert ok_ko is ok_en
    assert_korean(english, korean_out)


def test_values_reach_the_korean_message_unchanged(capsys, korean):
    ok, out = run(capsys, "cam_function", lambda f, w: f.mean(dim=1))
    assert not ok and "(2, 6, 3, 4)" in out and "(2, 3, 4)입니다" in out
    ok, out = run(capsys, "flatten_to_gap", lambda W: W.sum(dim=5))
    assert not ok and "IndexError 예외" in out and "Dimension out of range" in out
    ok, out = run(capsys, "ranking_reversal", 0.3, GMP, SURGERY)
    assert ok and "t = 0.30" in out and "44.0% 대 36.0%" in out
    ok, out = run(capsys, "surgery_parameters", 323_546)
    assert ok and "15,312 (몸체)" in out and "= 323,546입니다" in out and "419,546개" in out
    ok, out = run(capsys, "explanation_families", {**_RIGHT, "CAM": "backpropagation"})
    assert (
        out == "아직 아닙니다: cam: 순전파의 활성값에 가중치를 주어 더합니다; 역전파는 없습니다.\n"
    )
    ok, out = run(capsys, "explanation_families", {"CAM": "activation"})
    assert "다음도 분류하십시오: gradient saliency, lime, lrp, occlusion." in out
    ok, out = run(capsys, "localization_errors", 20, 0, 60)  # three pieces, each translated
    assert out.count("; ") == 2 and out.startswith("아직 아닙니다: top-1: ") and out.endswith(".\n")
    ok, out = run(capsys, "loc_verdicts", _variant(top5=lambda c, cs, good: good), _LINES)
    assert "(사례 12개 중 " in out and "'label': 3" in out


def test_pieces_never_swallow_their_neighbours(korean):
    # a piece that ends in a field takes the shortest value, and {why[k]} only whole pieces
    line = (
        "Not yet: for label 3, classes [8, 1, 3, 5, 9], IoU 0.6: expected (False, True, True); "
        "top-5: any of the five positions counts, the last one included. (2 of 8 cases wrong; "
        "e.g. {'label': 3} gave (True, True, True).)"
    )
    assert check_ko.translate_line(line) == (
        "아직 아닙니다: label 3, classes [8, 1, 3, 5, 9], IoU 0.6에 대해 기대한 판정은 "
        "(False, True, True)입니다; top-5: 다섯 자리 중 어느 자리든, 마지막 자리도 인정됩니다. "
        "(사례 8개 중 2개가 틀렸습니다. 예를 들어 {'label': 3}에 대한 결과: (True, True, True).)"
    )
    line = "Not yet: lrp: it needs a backward pass to the pixels; cam: no backward pass."
    assert check_ko.translate_line(line) == line  # "no backward pass" is no piece of its own
    assert "it needs a backward pass to the pixels" in ENGLISH  # what the leak check looks for


def test_every_check_reminds_in_korean_when_unanswered(capsys, korean):
    for name in sorted(set(check.__all__) - set(check.SETTINGS)):
        fn = getattr(check, name)
        n = sum(
            p.default is inspect.Parameter.empty for p in inspect.signature(fn).parameters.values()
        )
        ok, out = run(capsys, name, *[None] * n)
        assert not ok and out == (
            "아직 답하지 않았습니다: None (또는 ...) 자리에 답을 넣고 셀을 다시 실행하십시오.\n"
        ), name


def test_a_message_without_korean_is_printed_in_english_and_recorded(capsys, korean):
    assert not check._hint("a hint that nobody has translated yet.")
    assert capsys.readouterr().out == "Not yet: a hint that nobody has translated yet.\n"
    assert check_ko.missed == ["Not yet: a hint that nobody has translated yet."]
    # one unknown piece leaves the whole composite hint in English
    check_ko.missed.clear()
    line = "Not yet: top-5: that is the accuracy; the error is the rest; an unknown piece."
    assert check_ko.translate_line(line) == line and check_ko.missed == [line]


# --------------------------------------------------------------------------- English, unchanged
def _original_ok(message: str) -> bool:  # the helpers as they were before set_language
    print(f"Correct: {message}")
    return True


def _original_hint(message: str) -> bool:
    print(f"Not yet: {message}")
    return False


def _original_unanswered(value) -> bool:
    if value is None or value is Ellipsis:
        print(
            "Not answered yet: replace the None (or ...) with your answer and run the cell again."
        )
        return True
    return False


def test_english_output_is_byte_for_byte_the_original(capsys, monkeypatch):
    assert check.language() == "en"
    now = [run(capsys, name, *args) for name, *args in CASES]
    with monkeypatch.context() as m:
        m.setattr(check, "_ok", _original_ok)
        m.setattr(check, "_hint", _original_hint)
        m.setattr(check, "_unanswered", _original_unanswered)
        before = [run(capsys, name, *args) for name, *args in CASES]
    assert now == before
    # and English never goes near the translation
    monkeypatch.setattr(check_ko, "translate_line", lambda line: pytest.fail(line))
    assert [run(capsys, name, *args) for name, *args in CASES] == before


# --------------------------------------------------------------------------- set_language
def test_set_language():
    assert check.language() == "en"
    try:
        check.set_language("ko")
        assert check.language() == "ko"
    finally:
        check.set_language("en")
    assert check.language() == "en"


@pytest.mark.parametrize("bad", ["fr", "EN", "kr", "", None, 1])
def test_set_language_refuses_other_values(bad):
    with pytest.raises(ValueError) as e:
        check.set_language(bad)
    assert str(e.value) == f"set_language accepts 'en' or 'ko', not {bad!r}"
    assert check.language() == "en"
