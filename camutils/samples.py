"""The bundled sample photos (``data/samples``), returned by name.

Example:
    >>> from camutils.samples import list_samples, load_sample
    >>> "chelsea" in list_samples()
    True
    >>> load_sample("chelsea").size
    (451, 300)
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from PIL import Image

__all__ = ["data_dir", "list_samples", "load_sample", "sample_info", "sample_path"]


def data_dir() -> Path:
    """The course's ``data/`` folder.

    ``$CAMUTILS_DATA`` if set, else the ``data/`` beside the package in a source checkout
    (``pip install -e .`` or a clone on Colab).
    """
    env = os.environ.get("CAMUTILS_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parent.parent / "data")
    for path in candidates:
        if (path / "samples" / "samples.json").is_file():
            return path
    raise FileNotFoundError(
        "the course data folder was not found; looked in "
        + ", ".join(str(p) for p in candidates)
        + ". Work from a clone of the course (pip install -e .) or set CAMUTILS_DATA."
    )


@lru_cache(maxsize=1)
def _manifest() -> dict[str, dict[str, str]]:
    with open(data_dir() / "samples" / "samples.json", encoding="utf-8") as f:
        return json.load(f)


def list_samples() -> list[str]:
    """Names of the bundled photos, sorted."""
    return sorted(_manifest())


def sample_info(name: str) -> dict[str, str]:
    """What a photo shows, where it comes from and its licence."""
    manifest = _manifest()
    if name not in manifest:
        raise KeyError(f"no sample photo {name!r}; available: {', '.join(sorted(manifest))}")
    return dict(manifest[name])


def sample_path(name: str) -> Path:
    """Path of a bundled photo."""
    return data_dir() / "samples" / sample_info(name)["file"]


def load_sample(name: str) -> Image.Image:
    """A bundled photo as an RGB PIL image (grayscale ones are converted)."""
    with Image.open(sample_path(name)) as im:
        return im.convert("RGB")
