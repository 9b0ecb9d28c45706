"""The glossary (notebooks/GLOSSARY.md): every term in English and Korean, once, its meaning in
English and in Korean (the same math in both), and every link leads to a notebook that has the
section heading the link names."""

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
GLOSSARY = NOTEBOOKS / "GLOSSARY.md"
LINK = re.compile(r"\[([^\[\]]+)\]\(([^)\s]+)\)")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
MATH = re.compile(r"\$[^$]+\$")
REQUIRED = [  # the terms the course cannot do without (lower case, as a prefix of the entry)
    "class activation map", "global average pooling", "global max pooling",
    "weakly-supervised object localization", "feature map", "activation", "unit / channel",
    "fully-connected layer", "flatten", "softmax", "softmax input", "logit", "upsampling",
    "heat map", "discriminative region", "threshold", "connected component", "bounding box",
    "iou", "top-1 / top-5 error", "localization error", "gt-known localization accuracy",
    "maxboxacc", "xai", "backpropagation-based", "activation-based", "perturbation-based",
    "lrp", "lime", "gradient saliency", "occlusion", "grad-cam", "overfitting", "regularizer",
    "fine-tuning", "network surgery", "ilsvrc",
]  # fmt: skip


def _cells(line: str) -> list[str]:
    """The cells of a markdown table row (``\\|`` is a literal bar, not a separator)."""
    parts = re.split(r"(?<!\\)\|", line.strip())
    return [p.strip() for p in parts[1:-1]]


def term_rows(text: str) -> list[list[str]]:
    """The rows of every table whose header starts with ``| English | 한국어 |``."""
    rows, in_terms = [], False
    for line in text.splitlines():
        if not line.startswith("|"):
            in_terms = False
            continue
        cells = _cells(line)
        if cells[:2] == ["English", "한국어"]:
            in_terms = True
        elif in_terms and not all(set(c) <= set("-: ") for c in cells):
            rows.append(cells)
    return rows


def headings(path: Path) -> set[str]:
    """The text of every markdown heading of a notebook (outside fenced code)."""
    found = set()
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        fenced = False
        for line in cell.source.splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
            elif not fenced and re.match(r"#{1,6} ", line):
                found.add(line.lstrip("#").strip())
    return found


@pytest.fixture(scope="module")
def text():
    return GLOSSARY.read_text(encoding="utf-8")


def math(cell: str) -> list[str]:
    """The ``$...$`` spans of a cell, sorted (Korean word order may put them in another order)."""
    return sorted(MATH.findall(cell))


def test_every_term_has_english_korean_meaning_and_a_link(text):
    rows = term_rows(text)
    assert len(rows) >= len(REQUIRED)
    for row in rows:
        assert len(row) == 5, row
        english, korean, meaning, tteut, taught = row
        assert re.search(r"[A-Za-z]", english), row
        assert HANGUL.search(korean), f"no Korean for {english!r}: {korean!r}"
        assert meaning, f"no meaning for {english!r}"
        assert HANGUL.search(tteut), f"no Korean meaning (뜻) for {english!r}: {tteut!r}"
        assert math(tteut) == math(meaning), (
            f"{english!r}: the 뜻 has math {math(tteut)}, the meaning {math(meaning)}"
        )
        assert LINK.search(taught), f"no link for {english!r}"


def test_no_term_twice(text):
    terms = [re.sub(r"\s+", " ", row[0].lower()) for row in term_rows(text)]
    assert len(terms) == len(set(terms)), sorted(t for t in terms if terms.count(t) > 1)


def test_the_required_terms_are_there(text):
    terms = [row[0].lower() for row in term_rows(text)]
    missing = [r for r in REQUIRED if not any(t.startswith(r) for t in terms)]
    assert not missing, missing


def test_every_link_names_a_heading_of_an_existing_notebook(text):
    links = [m for m in LINK.finditer(text) if not m.group(2).startswith("http")]
    assert links
    cache = {}
    for m in links:
        label, target = m.group(1), m.group(2)
        path = NOTEBOOKS / target
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", target), f"not a notebook: {target}"
        assert path.is_file(), f"{label!r} links to a missing notebook {target}"
        number, sep, heading = label.partition(" · ")
        assert sep and number == target[:2], (
            f"{label!r}: the label must start with '{target[:2]} · '"
        )
        if path not in cache:
            cache[path] = headings(path)
        # a section heading, or the notebook's title "# NN · Title"
        assert heading in cache[path] or label in cache[path], (
            f"{target} has no heading {heading!r}"
        )


def test_the_checks_of_this_test_can_fail(tmp_path):
    rows = term_rows(
        "| English | 한국어 | meaning | 뜻 | taught in |\n|---|---|---|---|---|\n"
        "| a | b | $x$ and $y$ | 뜻 $x$ | e |\n"
    )
    assert rows == [["a", "b", "$x$ and $y$", "뜻 $x$", "e"]] and not HANGUL.search(rows[0][1])
    assert math(rows[0][2]) == ["$x$", "$y$"] and math(rows[0][3]) != math(rows[0][2])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## A\n```\n# not\n```")])
    nbformat.write(nb, tmp_path / "99_x.ipynb")
    assert headings(tmp_path / "99_x.ipynb") == {"A"}
    assert _cells(r"| $\lvert B \rvert$ \| x | y |") == [r"$\lvert B \rvert$ \| x", "y"]
