"""The Korean course (notebooks/ko) is complete, current and identical in code to the English one.

The Korean notebooks are not executed by the test suite: these tests prove that their code
cells and outputs are those of the executed English notebooks, that every prose cell is
translated from the English text as it is now, and that their links and badges resolve.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
HANGUL = re.compile(r"[\uac00-\ud7a3]")
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def translate():
    sys.path.insert(0, str(ROOT / "tools"))
    spec = importlib.util.spec_from_file_location("translate", ROOT / "tools" / "translate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def english_notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def pair(path: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    return (
        nbformat.read(path, as_version=4),
        nbformat.read(ROOT / "notebooks" / "ko" / path.name, as_version=4),
    )


@pytest.fixture
def scratch_course(translate, tmp_path, monkeypatch):
    """A course folder of its own for the tool: the first notebook's English text (returned, to
    be changed and written to ``notebooks/``) beside a copy of its Korean twin."""
    notebooks = tmp_path / "notebooks"
    (notebooks / "ko").mkdir(parents=True)
    src = english_notebooks()[0]
    (notebooks / "ko" / src.name).write_bytes((ROOT / "notebooks/ko" / src.name).read_bytes())
    monkeypatch.setattr(translate.course, "NOTEBOOKS", notebooks)
    monkeypatch.setattr(translate, "KO", notebooks / "ko")
    monkeypatch.setattr(translate, "ROOT", tmp_path)
    monkeypatch.setattr(translate, "README_KO", tmp_path / "README.ko.md")
    return notebooks, src, nbformat.read(src, as_version=4)


def test_every_english_notebook_has_a_korean_twin():
    missing = [
        p.name for p in english_notebooks() if not (ROOT / "notebooks/ko" / p.name).is_file()
    ]
    assert not missing, f"no Korean twin: {missing}; run python tools/translate.py"


def test_korean_course_is_complete_and_in_step(translate):
    report = translate.sync(check=True)
    assert not report, "\n".join(report[:40])


@pytest.mark.parametrize("path", english_notebooks(), ids=lambda p: p.stem[:2])
def test_twin_has_the_english_code_and_korean_prose(path, translate):
    en, ko = pair(path)
    assert translate.problems(en, ko) == []
    prose = [
        c
        for c in ko.cells
        if c.cell_type == "markdown"
        and not any(t.startswith("course:") for t in c.metadata.get("tags", []))
    ]
    assert prose and all(HANGUL.search(c.source) for c in prose), "a prose cell has no Korean"
    for e, k in zip(en.cells, ko.cells, strict=True):
        if e.cell_type == "code":
            assert k.get("outputs") == e.get("outputs")
            if "course:setup" not in e.metadata.get("tags", []):
                assert k.source == e.source
    # the maths survives translation: the same display formulas, in the same cells
    for e, k in zip(en.cells, ko.cells, strict=True):
        if e.cell_type == "markdown" and e.metadata.get("tags") is None:
            assert re.findall(r"\$\$.+?\$\$", e.source, re.S) == re.findall(
                r"\$\$.+?\$\$", k.source, re.S
            ), f"cell {e.get('id')}: a display formula differs"


def test_a_changed_english_cell_makes_its_translation_stale(translate):
    en, ko = pair(english_notebooks()[0])
    i = next(
        j
        for j, c in enumerate(en.cells)
        if c.cell_type == "markdown" and not c.metadata.get("tags")
    )
    changed = copy.deepcopy(en)
    changed.cells[i].source += "\nOne more sentence."
    assert translate.problems(changed, ko) == [
        f"cell {en.cells[i].get('id')}: stale, the English text changed after the translation"
    ]


def test_changed_code_an_untranslated_cell_and_a_new_cell_are_caught(translate):
    en, ko = pair(english_notebooks()[0])
    code = next(j for j, c in enumerate(en.cells) if c.cell_type == "code" and j > 3)
    edited = copy.deepcopy(ko)
    edited.cells[code].source += "\nprint('extra')"
    assert translate.problems(en, edited) == [
        f"cell {en.cells[code].get('id')}: the code or its outputs differ from the English cell"
    ]
    edited = copy.deepcopy(ko)
    edited.cells[code].outputs = []
    assert len(translate.problems(en, edited)) == 1
    md = next(j for j, c in enumerate(ko.cells) if c.cell_type == "markdown" and j > 2)
    edited = copy.deepcopy(ko)
    del edited.cells[md].metadata["translation"]["sha"]
    assert translate.problems(en, edited) == [f"cell {ko.cells[md].get('id')}: not translated yet"]
    grown = copy.deepcopy(en)
    grown.cells.insert(3, nbformat.v4.new_markdown_cell("A new paragraph.", id="new-cell"))
    assert translate.problems(grown, ko) == [
        "the cells (ids, order) differ from the English notebook's: run the sync"
    ]


def test_sync_carries_an_english_change_into_the_twin(translate, scratch_course):
    """The sync copies new code and outputs and adds a new English cell as untranslated,
    keeping every existing translation."""
    notebooks, src, en = scratch_course
    code = next(
        c
        for c in en.cells
        if c.cell_type == "code" and "print" in c.source and not c.metadata.get("tags")
    )
    code.source += "\nprint('new line')"
    en.cells.insert(3, nbformat.v4.new_markdown_cell("A new paragraph.", id="new-cell"))
    nbformat.write(en, notebooks / src.name)
    before = nbformat.read(notebooks / "ko" / src.name, as_version=4)
    report = translate.sync(check=False)
    assert f"notebooks/ko/{src.name}: cell new-cell: not translated yet" in report
    after = nbformat.read(notebooks / "ko" / src.name, as_version=4)
    assert next(c for c in after.cells if c.get("id") == code.get("id")).source == code.source
    kept = {c.get("id"): c.source for c in before.cells if c.cell_type == "markdown"}
    for c in after.cells:
        if c.get("id") in kept and not c.metadata.get("tags"):
            assert c.source == kept[c.get("id")]


def test_export_then_import_brings_a_stale_cell_up_to_date(translate, scratch_course, tmp_path):
    """The round trip of the workflow: a changed English cell is exported with its notebook,
    its new Korean imported from that very file, and nothing is stale afterwards."""
    import json

    notebooks, src, en = scratch_course
    cell = next(c for c in en.cells if c.cell_type == "markdown" and not c.metadata.get("tags"))
    cell.source += "\n\nOne more sentence."
    nbformat.write(en, notebooks / src.name)
    todo = translate.export(src.name[:2])
    assert [(t["notebook"], t["id"]) for t in todo] == [(src.name[:2], cell.get("id"))]
    todo[0]["korean"] += "\n\n한 문장 더."
    done = tmp_path / "done.json"
    done.write_text(json.dumps(todo, ensure_ascii=False), encoding="utf-8")
    translate.import_translations(done)
    assert translate.export(src.name[:2]) == []
    ko = nbformat.read(notebooks / "ko" / src.name, as_version=4)
    assert next(c for c in ko.cells if c.get("id") == cell.get("id")).source.endswith("한 문장 더.")


def test_import_records_the_current_english_version(translate, tmp_path):
    en, ko = pair(english_notebooks()[0])
    cell = next(c for c in ko.cells if c.cell_type == "markdown" and not c.metadata.get("tags"))
    assert cell.metadata["translation"]["sha"] == translate.sha(
        next(c for c in en.cells if c.get("id") == cell.get("id")).source
    )
    bad = tmp_path / "bad.json"
    bad.write_text('[{"notebook": "01", "id": "no-such-cell", "korean": "x"}]', encoding="utf-8")
    with pytest.raises(SystemExit, match="no translatable markdown cell"):
        translate.import_translations(bad)
    with pytest.raises(SystemExit, match="^error: cannot read translations from"):
        translate.import_translations(tmp_path / "missing.json")
    bad.write_text('{"id": "x"}', encoding="utf-8")
    with pytest.raises(SystemExit, match="must hold a JSON list"):
        translate.import_translations(bad)


@pytest.mark.parametrize("path", english_notebooks(), ids=lambda p: p.stem[:2])
def test_links_and_badges_of_the_twin_resolve(path, translate):
    _, ko = pair(path)
    folder = ROOT / "notebooks" / "ko"
    for cell in ko.cells:
        if cell.cell_type != "markdown":
            continue
        for target in LINK.findall(cell.source):
            if target.startswith(("http://", "https://", "#")):
                continue
            file = target.split("#", 1)[0]
            assert (folder / file).resolve().is_file(), f"{path.name}: broken link {target}"
    header = next(c for c in ko.cells if "course:header" in c.metadata.get("tags", []))
    url = translate.course.repository_url().removeprefix("https://github.com/")
    assert (
        f"colab.research.google.com/github/{url}/blob/main/notebooks/ko/{path.name}"
        in header.source
    )
    setup = next(c for c in ko.cells if "course:setup" in c.metadata.get("tags", []))
    assert 'camutils.check.set_language("ko")' in setup.source
    assert 'os.chdir(f"{CLONE}/notebooks/ko")' in setup.source


def test_korean_readme_links_every_twin_with_its_badge(translate):
    text = (ROOT / "README.ko.md").read_text(encoding="utf-8")
    for path in english_notebooks():
        assert f"(notebooks/ko/{path.name})" in text
        assert f"/blob/main/notebooks/ko/{path.name})" in text
    for target in LINK.findall(text):
        if not target.startswith(("http://", "https://", "#")):
            assert (ROOT / target.split("#", 1)[0]).is_file(), f"broken link {target}"


@pytest.mark.parametrize("path", english_notebooks()[:1], ids=lambda p: p.stem[:2])
def test_twin_renders_with_its_outputs(path):
    from nbconvert import HTMLExporter

    en, ko = pair(path)
    html, _ = HTMLExporter().from_notebook_node(ko)
    images = sum(
        1
        for c in en.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {}) or "image/jpeg" in o.get("data", {})
    )
    assert html.count("data:image/") >= images
    assert HANGUL.search(html)


def test_korean_slides(tmp_path):
    spec = importlib.util.spec_from_file_location("slides", ROOT / "tools" / "slides.py")
    slides = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(slides)
    out = slides.export(ROOT / "notebooks" / "ko" / "01_toy_cam.ipynb", tmp_path)
    html = out.read_text(encoding="utf-8")
    assert HANGUL.search(html) and "reveal" in html
