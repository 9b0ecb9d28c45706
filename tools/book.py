"""Build the course book, a static site of the committed notebooks: ``python tools/book.py``.

Sphinx with MyST-NB reads the notebooks as committed (nothing is executed): the English ones,
``notebooks/GLOSSARY.md`` and, when present, the Korean twins in ``notebooks/ko`` with
``README.ko.md``. The source tree is laid out beside the site (``book/_build/html-src``) as a copy
of those files in the repository's layout (``book/index.md`` is the landing page), so relative
links between README and notebooks work as on GitHub. The site lands in ``book/_build/html``
(open ``index.html``); ``--out`` puts it elsewhere. Warnings fail the build, so a broken
cross-reference is caught here.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
DEFAULT_OUT = BOOK / "_build" / "html"
SOURCES = [
    "README.md",
    "README.ko.md",
    "notebooks/*.ipynb",
    "notebooks/GLOSSARY.md",
    "notebooks/ko/*.ipynb",
]


def lay_out_sources(src: Path) -> Path:
    """Make ``src`` the book's source tree: ``index.md`` and copies of the course's files."""
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    shutil.copy2(BOOK / "index.md", src / "index.md")
    for pattern in SOURCES:  # a pattern that matches nothing (no Korean twins yet) adds nothing
        for path in sorted(ROOT.glob(pattern)):
            target = src / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return src


def build(out: Path = DEFAULT_OUT, strict: bool = True) -> Path:
    """Build the site into ``out`` and return the path of its landing page."""
    from sphinx.cmd.build import build_main

    src = lay_out_sources(out.parent / f"{out.name}-src")  # beside the site, never inside it
    args = ["-b", "html", "-c", str(BOOK), "-q", str(src), str(out)]
    if strict:
        args[:0] = ["-W", "--keep-going"]
    rc = build_main(args)
    if rc != 0:
        raise SystemExit(f"sphinx-build failed with exit status {rc}")
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--no-strict", action="store_true", help="warnings do not fail the build")
    args = parser.parse_args(argv)
    index = build(args.out.resolve(), strict=not args.no_strict)
    print(f"book: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
