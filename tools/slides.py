"""Lecture mode: turn a notebook of the course into reveal.js slides.

    python tools/slides.py notebooks/01_toy_cam.ipynb            # -> slides/01_toy_cam.slides.html
    python tools/slides.py notebooks/*.ipynb --out-dir /tmp/deck

Slides come from the cells' ``slideshow`` metadata (written by ``tools/course.py``): every
heading starts a slide, the text under it follows as sub-slides, pictures and printed results
stay with their code, and code cells tagged ``fold-code`` show only their output. The notebook's
committed outputs are used as they are (nothing is re-run). Open the HTML file in a browser;
press ``S`` for speaker view, ``Esc`` for the overview. reveal.js is loaded from a CDN; pass
``--reveal-prefix`` with a local copy to present offline.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter
from traitlets.config import Config

FOLD_TAG = "fold-code"


def export(notebook: Path, out_dir: Path, reveal_prefix: str | None = None) -> Path:
    """Write ``<out_dir>/<name>.slides.html`` and return its path."""
    nb = nbformat.read(notebook, as_version=4)
    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_input_tags = {FOLD_TAG}
    config.TagRemovePreprocessor.remove_cell_tags = {"course:header", "course:footer"}
    exporter = SlidesExporter(config=config)
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    if reveal_prefix:
        exporter.reveal_url_prefix = reveal_prefix
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": notebook.stem}})
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{notebook.stem}.slides.html"
    out.write_text(body, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Turn course notebooks into reveal.js slides.")
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out-dir", type=Path, default=Path("slides"))
    parser.add_argument("--reveal-prefix", default=None, help="where reveal.js is served from")
    args = parser.parse_args(argv)
    for nb in args.notebooks:
        if not nb.is_file():
            parser.error(f"no such notebook: {nb}")
        print(export(nb, args.out_dir, args.reveal_prefix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
