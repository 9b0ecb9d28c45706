"""Lecture mode: a notebook becomes reveal.js slides, long code folded, outputs kept."""

import importlib.util
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_export_folds_long_code_and_keeps_outputs(tmp_path):
    slides = _load("slides")
    notebook = ROOT / "notebooks" / "01_toy_cam.ipynb"
    html = slides.export(notebook, tmp_path / "folded").read_text()
    assert "reveal" in html.lower() and html.count("<section") >= 5
    assert "data:image/png" in html  # the pictures stay
    assert "git clone" not in html  # the setup cell is skipped

    nb = nbformat.read(notebook, as_version=4)
    folded = [c for c in nb.cells if slides.FOLD_TAG in c.metadata.get("tags", [])]
    assert folded, "notebook 01 has long code cells to fold"
    for cell in folded:
        cell.metadata["tags"].remove(slides.FOLD_TAG)
    unfolded_nb = tmp_path / notebook.name
    nbformat.write(nb, unfolded_nb)
    unfolded = slides.export(unfolded_nb, tmp_path / "unfolded").read_text()
    inputs = 'class="jp-InputArea jp-Cell-inputArea"'
    assert unfolded.count(inputs) - html.count(inputs) == len(folded)
    assert unfolded.count("data:image/png") == html.count("data:image/png")


def test_every_notebook_has_slide_metadata():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
        assert None not in kinds, path.name
        assert kinds.count("slide") >= 2, path.name
