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
    out = slides.export(notebook, tmp_path)
    html = out.read_text()
    assert "reveal" in html.lower() and html.count("<section") >= 5
    nb = nbformat.read(notebook, as_version=4)
    folded = [c for c in nb.cells if slides.FOLD_TAG in c.metadata.get("tags", [])]
    assert folded, "notebook 01 has long code cells to fold"
    for cell in folded:
        first_line = next(ln for ln in cell.source.splitlines() if ln.strip())
        assert first_line not in html  # the input is folded away ...
    assert "image/png" in html or "data:image/png" in html  # ... the pictures stay
    assert "git clone" not in html  # the setup cell is skipped


def test_every_notebook_has_slide_metadata():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
        assert None not in kinds, path.name
        assert kinds.count("slide") >= 2, path.name
