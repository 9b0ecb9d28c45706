"""An ILSVRC-shaped validation set written to disk: random pictures in real file formats, in
any of the three layouts the readers of :mod:`camutils.ilsvrc` recognise, with the files a
reader must cope with (grayscale, CMYK, corrupt, a PNG named ``.JPEG``, a missing annotation).

The tests and the benchmarks run the whole pipeline on it where the real validation set is
not at hand.

Example:
    >>> import tempfile
    >>> from camutils.ilsvrc import open_ilsvrc
    >>> syn = make_synthetic_val(tempfile.mkdtemp(), 8, layout="devkit")
    >>> len(open_ilsvrc(syn.root)), syn.special["corrupt"]
    (8, 'ILSVRC2012_val_00000004')
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from camutils.ilsvrc import (
    BLACKLIST_NAMES,
    DEVKIT_IMAGES,
    KAGGLE_IMAGES,
    KAGGLE_SOLUTION,
    KAGGLE_SYNSETS,
    Box,
    Layout,
    val_stem,
)

__all__ = ["TYPICAL_SIZES", "SyntheticVal", "make_synthetic_val"]

# ImageNet validation images are mostly 500 pixels on the long side; these (width, height)
# pairs and weights follow the most common sizes, with a few larger photos.
TYPICAL_SIZES: tuple[tuple[tuple[int, int], float], ...] = (
    ((500, 375), 0.40),
    ((375, 500), 0.12),
    ((500, 333), 0.12),
    ((333, 500), 0.04),
    ((500, 334), 0.05),
    ((500, 500), 0.05),
    ((500, 400), 0.04),
    ((500, 281), 0.04),
    ((500, 356), 0.04),
    ((400, 500), 0.03),
    ((640, 480), 0.03),
    ((800, 600), 0.02),
    ((1024, 768), 0.02),
)


@dataclass
class SyntheticVal:
    """What :func:`make_synthetic_val` wrote: the root, its layout, and which stems are special."""

    root: Path
    layout: Layout
    n_images: int
    special: dict[str, str]  # kind -> stem: "multi_box", "grayscale", "cmyk", "corrupt", ...


def _synthetic_picture(rng, width: int, height: int, boxes: list[Box]):
    import numpy as np
    from PIL import Image, ImageDraw

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    chans = [
        (xx * rng.uniform(0.1, 0.5) + yy * rng.uniform(0.0, 0.4) + rng.uniform(0, 255)) % 256
        for _ in range(3)
    ]
    img = Image.fromarray(np.stack(chans, -1).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for x0, y0, x1, y1 in boxes:  # an "object" filling each box
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.ellipse([x0, y0, x1, y1], fill=color)
    arr = np.asarray(img).astype(np.int16)
    arr += rng.integers(-24, 25, size=arr.shape, dtype=np.int16)  # texture: realistic file sizes
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


def _voc_xml(stem: str, width: int, height: int, objects: list[tuple[str, Box]]) -> str:
    objs = "".join(
        f"<object><name>{w}</name><pose>Unspecified</pose><truncated>0</truncated>"
        f"<difficult>0</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for w, b in objects
    )
    return (
        f"<annotation><folder>val</folder><filename>{stem}</filename><source><database>ILSVRC_2012"
        f"</database></source><size><width>{width}</width><height>{height}</height><depth>3"
        f"</depth></size><segmented>0</segmented>{objs}</annotation>\n"
    )


def make_synthetic_val(
    root: str | os.PathLike,
    n_images: int = 32,
    layout: Layout = "devkit",
    seed: int = 0,
    classes: Sequence[str] | None = None,
    special: bool = True,
    unique: int | None = None,
    blacklist: Sequence[int] = (),
    quality: int = 90,
) -> SyntheticVal:
    """Write an ILSVRC-shaped validation set (random pictures, real file formats) under ``root``.

    Images take ImageNet's typical sizes (:data:`TYPICAL_SIZES`), are saved as JPEG (quality 90,
    about 100 kB for 500x375 like the real ones) with one "object" per ground-truth box;
    about one image in six has two or three boxes. With ``special`` (and ``n_images >= 8``)
    images 1-6 are the cases a reader must handle: 1 has three boxes, 2 is a grayscale JPEG, 3 a
    CMYK JPEG, 4 a corrupt (truncated) JPEG, 5 has no annotation, 6 is a PNG saved under a
    ``.JPEG`` name. ``unique`` distinct pictures are encoded and reused in turn (default all:
    set it to a few hundred to write thousands of images quickly). ``blacklist`` writes those
    1-based indices to ``ILSVRC2015_clsloc_validation_blacklist.txt`` in the root.

    Example:
        >>> import tempfile
        >>> syn = make_synthetic_val(tempfile.mkdtemp(), 8, layout="kaggle")
        >>> syn.special["cmyk"]
        'ILSVRC2012_val_00000003'
    """
    import numpy as np

    root = Path(root)
    rng = np.random.default_rng(seed)
    if classes is None:
        from camutils.models import imagenet_classes

        classes = imagenet_classes()[0]
    unique = n_images if unique is None else max(1, min(unique, n_images))
    specials = {}
    if special and n_images >= 8:
        kinds = ("multi_box", "grayscale", "cmyk", "corrupt", "missing_annotation")
        specials = {k: val_stem(i) for i, k in enumerate((*kinds, "png_named_jpeg"), start=1)}
    kind_of = {v: k for k, v in specials.items()}
    img_dir, xml_dir = _folders(root, layout)
    pool: list[tuple[bytes, int, int, list[Box]]] = []
    solution_rows = []
    for i in range(1, n_images + 1):
        stem = val_stem(i)
        kind = kind_of.get(stem)
        wnid = classes[int(rng.integers(len(classes)))]
        if kind is None and len(pool) >= unique:
            data, width, height, boxes = pool[(i - 1) % unique]
        else:
            data, width, height, boxes = _synthetic_image(rng, kind, quality)
            if kind is None:
                pool.append((data, width, height, boxes))
        folder = img_dir / wnid if layout == "torchvision" else img_dir
        folder.mkdir(exist_ok=True)
        (folder / f"{stem}.JPEG").write_bytes(data)
        objects = [(wnid, b) for b in boxes]
        if kind == "missing_annotation":
            continue
        if layout == "kaggle":
            pred = " ".join(f"{w} {b[0]} {b[1]} {b[2]} {b[3]}" for w, b in objects)
            solution_rows.append(f"{stem},{pred}")
        else:
            xml = _voc_xml(stem, width, height, objects)
            ((xml_dir or folder) / f"{stem}.xml").write_text(xml)
    if layout == "kaggle":
        (root / KAGGLE_SOLUTION).write_text(
            "ImageId,PredictionString\n" + "\n".join(solution_rows) + "\n"
        )
        (root / KAGGLE_SYNSETS).write_text("".join(f"{w} class {w}\n" for w in classes))
    if blacklist:
        (root / BLACKLIST_NAMES[0]).write_text("".join(f"{int(i)}\n" for i in blacklist))
    return SyntheticVal(root, layout, n_images, specials)


def _folders(root: Path, layout: Layout) -> tuple[Path, Path | None]:
    """The image folder of a layout, and its annotation folder (``None``: beside the images
    for the torchvision layout, or the solution CSV for Kaggle's)."""
    xml_dir = None
    if layout == "devkit":
        img_dir = root / DEVKIT_IMAGES
        xml_dir = root / "ILSVRC2012_bbox_val_v3" / "val"
        xml_dir.mkdir(parents=True, exist_ok=True)
    elif layout == "kaggle":
        img_dir = root / KAGGLE_IMAGES
    elif layout == "torchvision":
        img_dir = root / "val"
    else:
        raise ValueError(f"layout must be 'devkit', 'kaggle' or 'torchvision'; found {layout!r}")
    img_dir.mkdir(parents=True, exist_ok=True)
    return img_dir, xml_dir


def _synthetic_image(rng, kind: str | None, quality: int) -> tuple[bytes, int, int, list[Box]]:  # noqa: ANN001 - a NumPy Generator
    """One picture of a typical size with its boxes, encoded as the special ``kind`` asks."""
    import numpy as np

    sizes = [s for s, _ in TYPICAL_SIZES]
    weights = np.array([w for _, w in TYPICAL_SIZES])
    width, height = sizes[int(rng.choice(len(sizes), p=weights / weights.sum()))]
    n_boxes = 3 if kind == "multi_box" else (int(rng.integers(2, 4)) if rng.random() < 1 / 6 else 1)
    boxes = []
    for _ in range(n_boxes):
        bw = int(width * rng.uniform(0.2, 0.8 if n_boxes == 1 else 0.45))
        bh = int(height * rng.uniform(0.2, 0.8 if n_boxes == 1 else 0.45))
        x0 = int(rng.integers(0, width - bw))
        y0 = int(rng.integers(0, height - bh))
        boxes.append((x0, y0, x0 + bw - 1, y0 + bh - 1))
    picture = _synthetic_picture(rng, width, height, boxes)
    buf = io.BytesIO()
    if kind == "grayscale":
        picture.convert("L").save(buf, "JPEG", quality=quality)
    elif kind == "cmyk":
        picture.convert("CMYK").save(buf, "JPEG", quality=quality)
    elif kind == "png_named_jpeg":
        picture.save(buf, "PNG")
    else:
        picture.save(buf, "JPEG", quality=quality)
    data = buf.getvalue()
    if kind == "corrupt":
        data = data[: len(data) // 3]
    return data, width, height, boxes
