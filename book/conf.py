"""Sphinx configuration of the course book: the committed notebooks, never executed.

Built by ``python tools/book.py``, which lays out the source tree (this folder's ``index.md`` as
the landing page beside links to ``README.md``, ``README.ko.md`` and ``notebooks/``) and runs
Sphinx on it. Math is typeset in the browser by a copy of MathJax 3 that
ships in the ``sphinx-mathjax-offline`` package, so the site works without a network.
"""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPO = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]

project = "Class Activation Mapping, from the toy example to ILSVRC localization"
author = "the CAM course"
copyright = "the CAM course authors, MIT licence"

extensions = ["myst_nb", "sphinx-mathjax-offline"]
root_doc = "index"
include_patterns = [
    "index.md",
    "README.md",
    "README.ko.md",
    "notebooks/*.ipynb",
    "notebooks/GLOSSARY.md",
    "notebooks/ko/*.ipynb",
]
exclude_patterns = ["**/.ipynb_checkpoints"]

nb_execution_mode = "off"  # the committed outputs are the book; nothing runs at build time
nb_ipywidgets_js = {}  # the viewers need a kernel (JupyterLab, Colab): no widget scripts
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True  # $$...$$ inside a paragraph, as the notebooks write it
myst_heading_anchors = 3  # links such as ../README.md#the-course resolve to the heading
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_title = "CAM course"
html_theme_options = {
    "repository_url": REPO,
    "use_repository_button": True,
    "path_to_docs": "",
    "show_toc_level": 2,
    "use_download_button": False,  # the sources are not copied into the site (Colab has them)
}
html_context = {"default_mode": "light"}  # the theme's light/dark switch starts on light
html_copy_source = False
html_show_sourcelink = False
