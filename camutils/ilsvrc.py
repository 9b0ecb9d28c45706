"""Readers for the ILSVRC 2012 validation set as users hold it, detected from one root folder.

Three layouts are recognised (see :func:`open_ilsvrc`):

- ``"devkit"``: the official download,
  ``ROOT/ILSVRC2012_img_val/ILSVRC2012_val_00000001.JPEG`` and the PASCAL-VOC XML boxes in
  ``ROOT/ILSVRC2012_bbox_val_v3/val/`` (or ``ROOT/ILSVRC2012_bbox_val_v3/``, or ``ROOT/val/``
  where the box tarball was unpacked into the root);
- ``"kaggle"``: the "ImageNet Object Localization Challenge" download,
  ``ROOT/ILSVRC/Data/CLS-LOC/val/*.JPEG``, ``ROOT/LOC_val_solution.csv`` (``ImageId,
  PredictionString`` with repeated ``wnid xmin ymin xmax ymax`` groups) and, optionally,
  ``ROOT/LOC_synset_mapping.txt`` (checked against the model's class order when present);
- ``"torchvision"``: ``torchvision.datasets.ImageNet``'s folder, ``ROOT/val/<wnid>/*.JPEG``
  (or ``ROOT/<wnid>/*.JPEG``), with each image's XML either beside it (``<stem>.xml``) or in
  ``ROOT/ILSVRC2012_bbox_val_v3/val/``.

Boxes are ILSVRC's inclusive pixel boxes ``(xmin, ymin, xmax, ymax)`` in the ORIGINAL image
(``width = xmax - xmin + 1``). The class index of an image is the position of its wnid in the
sorted wnid list of torchvision/timm models (:func:`camutils.models.imagenet_classes`), not the
devkit's own ILSVRC2012_ID order.

Nothing is dropped silently: an image without annotation, an annotation with an unknown class or
broken XML is kept in :attr:`ILSVRCVal.records` with its :attr:`Record.problem` set (the
pipeline writes it to the results file as skipped and counts it), and an image that cannot be
decoded is reported by the pipeline the same way. :func:`~camutils.decode.decode_image` turns grayscale, CMYK (and
anything else PIL can open, such as a PNG saved with a ``.JPEG`` name) into RGB.

Example:
    >>> from camutils.samples import data_dir
    >>> val = open_ilsvrc(data_dir() / "ilsvrc_sample" / "kaggle")       # doctest: +SKIP
    >>> val.layout, len(val), val.records[0].boxes                        # doctest: +SKIP
    ('kaggle', 9, ((22, 19, 449, 299),))
"""

from __future__ import annotations

import csv
import math
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, NamedTuple

import torch
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from torch import Tensor

from camutils.decode import (  # the decoding stage; imported here by its old path too
    MAX_PIXELS,
    ImageTooLarge,
    JpegInfo,
    UnreadableImage,
    check_pixels,
    decode_image,
    jpeg_info,
    read_image_bytes,
)

__all__ = [
    "Annotation",
    "PARALLEL_ANNOTATIONS",
    "BLACKLIST_NAMES",
    "MAX_PIXELS",
    "ILSVRCVal",
    "ImageTooLarge",
    "JpegInfo",
    "LayoutError",
    "Record",
    "Solution",
    "UnreadableImage",
    "box_problem",
    "boxes_tensor",
    "check_pixels",
    "decode_image",
    "detect_layout",
    "jpeg_info",
    "open_ilsvrc",
    "parse_solution_csv",
    "parse_annotations",
    "parse_voc_xml",
    "read_annotation_bytes",
    "read_blacklist",
    "read_image_bytes",
    "read_solution_csv",
    "read_synset_mapping",
    "val_stem",
]

Layout = Literal["devkit", "kaggle", "torchvision"]
Box = tuple[int, int, int, int]

IMAGE_SUFFIXES = (".jpeg", ".jpg")
DEVKIT_IMAGES = "ILSVRC2012_img_val"
DEVKIT_BOXES = ("ILSVRC2012_bbox_val_v3/val", "ILSVRC2012_bbox_val_v3", "val")
KAGGLE_IMAGES = "ILSVRC/Data/CLS-LOC/val"
KAGGLE_SOLUTION = "LOC_val_solution.csv"
KAGGLE_SYNSETS = "LOC_synset_mapping.txt"
TORCHVISION_BOXES = ("ILSVRC2012_bbox_val_v3/val", "ILSVRC2012_bbox_val_v3")
BLACKLIST_NAMES = (
    "ILSVRC2015_clsloc_validation_blacklist.txt",
    "ILSVRC2014_clsloc_validation_blacklist.txt",
)
_WNID = re.compile(r"^n\d{8}$")
# Annotation files larger than this are refused unread (a devkit XML is about 1 kB).
MAX_ANNOTATION_BYTES = 16 * 1024 * 1024
# Box coordinates at or beyond this are refused (they cannot be an image's pixels).
MAX_COORDINATE = 2**31 - 1


class LayoutError(FileNotFoundError):
    """The root folder is not (or not completely) one of the known ILSVRC layouts."""


# --------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Record:
    """One validation image and its annotation.

    Attributes:
        stem: the file name without extension, e.g. ``ILSVRC2012_val_00000001``.
        image: path of the image file.
        wnid: the image's class as a WordNet id (``None`` when unknown).
        label: the class index in the model's sorted-wnid order (``-1`` when unknown).
        boxes: the ground-truth boxes of that class, inclusive ``(xmin, ymin, xmax, ymax)`` in
            original-image pixels; several for some images.
        size: ``(height, width)`` written in the annotation (``None`` when it has none).
        blacklisted: listed in the blacklist file (kept; metrics are reported with and
            without these images).
        problem: why the image cannot be evaluated (``None`` when it can), e.g.
            ``"missing annotation: ..."``.
    """

    stem: str
    image: Path
    wnid: str | None
    label: int
    boxes: tuple[Box, ...]
    size: tuple[int, int] | None = None
    blacklisted: bool = False
    problem: str | None = None


@dataclass
class ILSVRCVal:
    """The validation images found under a root, with their annotations.

    ``records`` holds every image (sorted by stem), those with a problem included;
    ``orphans`` the annotations that have no image (a partial copy of the images, say).
    """

    root: Path
    layout: Layout
    records: list[Record]
    orphans: list[str] = field(default_factory=list)
    blacklist_file: Path | None = None
    blacklist: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> Record:
        return self.records[i]

    def __iter__(self):
        return iter(self.records)

    @property
    def problems(self) -> list[Record]:
        """The records that cannot be evaluated, with the reason in ``problem``."""
        return [r for r in self.records if r.problem is not None]

    @property
    def n_blacklisted(self) -> int:
        return sum(r.blacklisted for r in self.records)

    def subset(self, limit: int | None) -> ILSVRCVal:
        """The first ``limit`` images (in stem order), for a quick run."""
        if limit is None or limit >= len(self.records):
            return self
        if limit < 0:
            raise ValueError(f"limit must be >= 0; found {limit}")
        return replace(self, records=self.records[:limit])

    def summary(self) -> str:
        """A few lines saying what was found: layout, counts, problems, blacklist."""
        n_boxes = sum(len(r.boxes) for r in self.records)
        multi = sum(len(r.boxes) > 1 for r in self.records)
        lines = [
            f"ILSVRC val ({self.layout} layout) at {self.root}",
            f"  {len(self.records)} images, {n_boxes} boxes ({multi} images with several boxes)",
        ]
        problems = self.problems
        if problems:
            kinds: dict[str, int] = {}
            for r in problems:
                kind = (r.problem or "").split(":")[0]
                kinds[kind] = kinds.get(kind, 0) + 1
            lines.append(
                f"  {len(problems)} images cannot be evaluated: "
                + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            )
        if self.orphans:
            lines.append(f"  {len(self.orphans)} annotations have no image (not evaluated)")
        if self.blacklist_file is not None:
            lines.append(
                f"  blacklist {self.blacklist_file.name}: {self.n_blacklisted} of these images "
                f"listed ({len(self.blacklist)} in the file)"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# --------------------------------------------------------------------------- annotation files
def _box(xmin: str, ymin: str, xmax: str, ymax: str, where: str) -> Box:
    """One inclusive box from its four coordinates as written, checked: numbers, finite, in
    ``[0, MAX_COORDINATE]``, ``xmin <= xmax`` and ``ymin <= ymax`` (fractions are rounded)."""
    found = (xmin, ymin, xmax, ymax)
    try:
        values = [float(v) for v in found]
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: box coordinates must be numbers; found {found}") from e
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{where}: box coordinates must be finite numbers; found {found}")
    box = tuple(int(round(v)) for v in values)
    if min(box) < 0:
        raise ValueError(f"{where}: box {box} has a negative coordinate (pixels start at 0)")
    if max(box) > MAX_COORDINATE:
        raise ValueError(f"{where}: box {box} has a coordinate beyond {MAX_COORDINATE}")
    if box[2] < box[0] or box[3] < box[1]:
        raise ValueError(f"{where}: box {box} has xmax < xmin or ymax < ymin")
    return box  # type: ignore[return-value]


def box_problem(boxes: Iterable[Box], height: int, width: int) -> str | None:
    """Why these inclusive boxes cannot belong to a ``height x width`` image (a box that is not
    inside ``[0, width - 1] x [0, height - 1]``, or is flipped), or ``None`` when they can.

    Example:
        >>> box_problem([(0, 0, 499, 374)], 375, 500) is None
        True
        >>> box_problem([(0, 0, 500, 374)], 375, 500)
        'box (0, 0, 500, 374) lies outside the 500 x 375 image (x in 0..499, y in 0..374)'
    """
    for box in boxes:
        x0, y0, x1, y1 = box
        if not (0 <= x0 <= x1 < width and 0 <= y0 <= y1 < height):
            return (
                f"box {tuple(box)} lies outside the {width} x {height} image "
                f"(x in 0..{width - 1}, y in 0..{height - 1})"
            )
    return None


def _utf8(raw: bytes) -> tuple[str, str | None]:
    """``raw`` as text, and what is wrong with it when it is not UTF-8 (the text then holds
    surrogate escapes, as Python's file names do)."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as e:
        detail = f"not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})"
        return raw.decode("utf-8", "surrogateescape"), detail


def read_annotation_bytes(path: str | os.PathLike, max_bytes: int = MAX_ANNOTATION_BYTES) -> bytes:
    """The bytes of an annotation file; ``ValueError`` naming it when it cannot be read, is not
    a regular file (a FIFO, a device) or is larger than ``max_bytes``."""
    path = Path(path)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path}: cannot read the annotation (not a regular file)")
        if st.st_size > max_bytes:
            raise ValueError(
                f"{path}: annotation of {st.st_size:,} bytes, over the limit of {max_bytes:,}"
            )
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise ValueError(f"{path}: cannot read the annotation ({e.strerror or e})") from e
    if len(data) > max_bytes:
        raise ValueError(f"{path}: annotation over the limit of {max_bytes:,} bytes")
    return data


def _parse_xml(text: str | bytes, where: str):  # noqa: ANN202 - an ElementTree element
    """Untrusted XML: entity declarations and external references are refused (defusedxml)."""
    try:
        return SafeET.fromstring(text)
    except SafeET.ParseError as e:
        raise ValueError(f"{where}: not valid XML ({e})") from e
    except DefusedXmlException as e:
        raise ValueError(
            f"{where}: XML entities and external references are refused ({e!r})"
        ) from e


def parse_voc_xml(
    source: str | os.PathLike | bytes,
) -> tuple[tuple[int, int] | None, list[tuple[str, Box]]]:
    """Read one devkit PASCAL-VOC annotation: ``((height, width) or None, [(wnid, box), ...])``.

    Args:
        source: a path, or the XML text itself (``str`` starting with ``<`` or ``bytes``).

    Raises ``ValueError`` naming the file for an unreadable file, malformed XML, XML with entity
    declarations (parsed with ``defusedxml``: no entity expansion, no external references), a
    missing ``<name>``/``<bndbox>``, a ``<size>`` that is not two positive integers, or a box
    that is not finite, negative, or has ``xmax < xmin``.

    Example:
        >>> xml = ("<annotation><size><width>500</width><height>375</height></size>"
        ...        "<object><name>n01751748</name><bndbox><xmin>111</xmin><ymin>108</ymin>"
        ...        "<xmax>441</xmax><ymax>193</ymax></bndbox></object></annotation>")
        >>> parse_voc_xml(xml)
        ((375, 500), [('n01751748', (111, 108, 441, 193))])
    """
    if isinstance(source, bytes) or (isinstance(source, str) and source.lstrip().startswith("<")):
        where, text = "<xml text>", source
    else:
        where = str(source)
        text = read_annotation_bytes(source)
    root = _parse_xml(text, where)
    size = None
    w, h = root.findtext("size/width"), root.findtext("size/height")
    if w is not None and h is not None:
        try:
            size = (int(h), int(w))
        except ValueError as e:
            raise ValueError(f"{where}: <size> must hold integers; found {w!r} x {h!r}") from e
        if min(size) < 1:
            raise ValueError(f"{where}: <size> must be positive; found {w!r} x {h!r}")
    objects = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        bb = obj.find("bndbox")
        if not name or bb is None:
            raise ValueError(f"{where}: an <object> without <name> or <bndbox>")
        coords = [bb.findtext(k) for k in ("xmin", "ymin", "xmax", "ymax")]
        objects.append((name, _box(*coords, where=where)))  # type: ignore[arg-type]
    return size, objects


Annotation = tuple[tuple[int, int] | None, list[tuple[str, Box]]]

# Below this many files one process reads them (about 0.1 ms each); above, a process per core.
PARALLEL_ANNOTATIONS = 2048


def _annotation_or_problem(path: Path) -> Annotation | str:
    try:
        return parse_voc_xml(path)
    except ValueError as e:
        return str(e)


def parse_annotations(paths: Sequence[Path], workers: int | None = None) -> list[Annotation | str]:
    """:func:`parse_voc_xml` of each path, in order: the annotation, or the reason it cannot be
    read (the ``ValueError``'s message).

    The 50,000 files of the validation set take about 5 s in one process, half a 10-second
    GPU run; from :data:`PARALLEL_ANNOTATIONS` files on, processes forked from this one read
    them, one per core (``workers``: how many; 1 for this process alone), on Linux (elsewhere
    forking a process with threads is not safe; there one process reads). The forked readers
    only open files and parse them: no lock another thread may hold is needed there.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> p = Path(tempfile.mkdtemp()) / "a.xml"
        >>> _ = p.write_text("<annotation><object><name>n01440764</name><bndbox><xmin>1</xmin>"
        ...                  "<ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>")
        >>> parse_annotations([p, p.with_name("b.xml")])[0]
        (None, [('n01440764', (1, 2, 3, 4))])
    """
    import multiprocessing
    import sys

    paths = list(paths)
    if workers is None:
        big = len(paths) >= PARALLEL_ANNOTATIONS
        workers = min(os.cpu_count() or 1, 32) if big else 1
    if workers <= 1 or not sys.platform.startswith("linux"):
        return [_annotation_or_problem(p) for p in paths]
    import warnings
    from concurrent.futures import ProcessPoolExecutor

    chunk = max(1, min(512, len(paths) // (4 * workers)))
    ctx = multiprocessing.get_context("fork")
    with warnings.catch_warnings():  # Python 3.12+ warns of any fork with threads running
        warnings.filterwarnings("ignore", message=r".*fork\(\) may lead to deadlocks")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            return list(pool.map(_annotation_or_problem, paths, chunksize=chunk))


class Solution(NamedTuple):
    """Kaggle's ``LOC_val_solution.csv`` as read by :func:`read_solution_csv`."""

    boxes: dict[str, list[tuple[str, Box]]]  # ImageId -> [(wnid, box), ...]
    problems: dict[str, str]  # ImageId -> why its row cannot be used ("FILE:LINE: ...")


_CSV_HEADER = ["ImageId", "PredictionString"]


def _solution_row(text: str, where: str) -> tuple[str, list[tuple[str, Box]]]:
    """``(ImageId, [(wnid, box), ...])`` of one row; ``ValueError`` saying what is wrong."""
    try:
        row = next(csv.reader([text]))
    except csv.Error as e:
        raise ValueError(f"{where}: {e}") from e
    if len(row) < 2:
        raise ValueError(f"{where}: expected 'ImageId,PredictionString'; found {row!r}")
    tokens = row[1].split()
    if len(tokens) % 5:
        raise ValueError(
            f"{where}: PredictionString must be groups of 'wnid xmin ymin xmax ymax'; found "
            f"{len(tokens)} tokens"
        )
    objects = [
        (tokens[i], _box(*tokens[i + 1 : i + 5], where=where)) for i in range(0, len(tokens), 5)
    ]
    return row[0].strip(), objects


def read_solution_csv(path: str | os.PathLike) -> Solution:
    """Read Kaggle's ``LOC_val_solution.csv`` row by row: the boxes of each ``ImageId``, and
    for each image whose row cannot be used (not UTF-8, not CSV, a bad box, a second row for
    the same image) the reason, naming the file and line.

    Raises ``ValueError`` naming the file and line 1 when the file cannot be read or does not
    start with the header ``ImageId,PredictionString`` (a UTF-8 byte-order mark is accepted).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror or e})") from e
    lines = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    header, bad = _utf8(lines[0].removesuffix(b"\r"))
    if bad:
        raise ValueError(f"{path}:1: expected the header 'ImageId,PredictionString'; {bad}")
    found = next(csv.reader([header]), [])
    if [h.strip() for h in found[:2]] != _CSV_HEADER:
        raise ValueError(
            f"{path}:1: expected the header 'ImageId,PredictionString'; found {found!r}"
        )
    boxes: dict[str, list[tuple[str, Box]]] = {}
    problems: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line_no, raw in enumerate(lines[1:], start=2):
        raw = raw.removesuffix(b"\r")
        if not raw.strip():
            continue
        text, bad = _utf8(raw)
        where = f"{path}:{line_no}"
        stem = text.split(",", 1)[0].strip().strip('"')  # what the row is about, at least
        try:
            if bad:
                raise ValueError(f"{where}: {bad}")
            stem, objects = _solution_row(text, where)
        except ValueError as e:
            objects, problem = [], str(e)
        else:
            problem = None
        if stem in first_line:
            problems[stem] = (
                f"{where}: a second row for {stem} (the first is {path.name}:{first_line[stem]}); "
                "one row per image expected"
            )
            boxes.pop(stem, None)
            continue
        first_line[stem] = line_no
        if problem is not None:
            problems[stem] = problem
        else:
            boxes[stem] = objects
    return Solution(boxes, problems)


def parse_solution_csv(path: str | os.PathLike) -> dict[str, list[tuple[str, Box]]]:
    """Read Kaggle's ``LOC_val_solution.csv``: ``{ImageId: [(wnid, box), ...]}``.

    ``PredictionString`` holds repeated ``wnid xmin ymin xmax ymax`` groups (inclusive pixels).
    Raises ``ValueError`` naming the file and line of the first row that cannot be used
    (:func:`read_solution_csv` reads past them).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "sol.csv"
        >>> _ = p.write_text("ImageId,PredictionString\\n"
        ...                  "ILSVRC2012_val_00008726,n02119789 255 142 454 329 n02119789 44 21 322 295\\n")
        >>> parse_solution_csv(p)["ILSVRC2012_val_00008726"]
        [('n02119789', (255, 142, 454, 329)), ('n02119789', (44, 21, 322, 295))]
    """
    solution = read_solution_csv(path)
    if solution.problems:
        raise ValueError(min(solution.problems.values(), key=_line_of))
    return solution.boxes


def _line_of(problem: str) -> int:
    match = re.search(r":(\d+): ", problem)
    return int(match.group(1)) if match else 0


def _text_lines(path: Path) -> Iterable[tuple[int, str]]:
    """``(line number, text)`` of a small UTF-8 text file; ``ValueError`` naming the file (and
    the line) when it cannot be read or is not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror or e})") from e
    out = []
    for line_no, raw in enumerate(data.removeprefix(b"\xef\xbb\xbf").splitlines(), start=1):
        text, bad = _utf8(raw)
        if bad:
            raise ValueError(f"{path}:{line_no}: {bad}")
        out.append((line_no, text))
    return out


def read_synset_mapping(path: str | os.PathLike) -> list[str]:
    """Read ``LOC_synset_mapping.txt`` (``n01440764 tench, Tinca tinca``): the wnids, line i =
    class i. ``ValueError`` naming the file and line when it is not UTF-8 text."""
    return [text.split()[0] for _, text in _text_lines(Path(path)) if text.strip()]


def val_stem(index: int) -> str:
    """The file stem of validation image ``index`` (1-based, as the devkit counts).

    Example:
        >>> val_stem(8726)
        'ILSVRC2012_val_00008726'
    """
    return f"ILSVRC2012_val_{int(index):08d}"


def read_blacklist(path: str | os.PathLike) -> frozenset[str]:
    """Read a devkit blacklist (one 1-based validation index per line) as a set of file stems.

    Lines that already hold a stem (``ILSVRC2012_val_00000001``) are accepted as they are.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "bl.txt"
        >>> _ = p.write_text("36\\n50\\n")
        >>> sorted(read_blacklist(p))
        ['ILSVRC2012_val_00000036', 'ILSVRC2012_val_00000050']
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"blacklist file {path} not found")
    stems = set()
    for line_no, line in _text_lines(path):
        token = line.strip()
        if not token or token.startswith("#"):
            continue
        if token.isascii() and token.isdigit() and len(token) <= 12:
            stems.add(val_stem(int(token)))
        elif token.startswith("ILSVRC2012_val_"):
            stems.add(Path(token).stem)
        else:
            raise ValueError(
                f"{path}:{line_no}: expected a validation image index (e.g. 36); found {token!r}"
            )
    return frozenset(stems)


# --------------------------------------------------------------------------- images
# --------------------------------------------------------------------------- layouts
def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a symbolic link to itself, say: not a folder
        return False


def _files_by_stem(
    folder: Path, suffixes: tuple[str, ...]
) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """The files of ``folder`` whose names end with one of ``suffixes`` (any case), by stem:
    ``(stems with one file, stems with several files)`` (``X.JPEG`` beside ``X.jpg``). An entry
    that cannot be examined (a symbolic link to itself) counts as a file: reading it fails, and
    that is reported."""
    found: dict[str, list[Path]] = {}
    with os.scandir(folder) as it:
        for e in it:
            if e.name.lower().endswith(suffixes) and not _is_dir(e):
                found.setdefault(os.path.splitext(e.name)[0], []).append(Path(e.path))
    single = {stem: paths[0] for stem, paths in found.items() if len(paths) == 1}
    several = {stem: sorted(paths) for stem, paths in found.items() if len(paths) > 1}
    return single, several


def _duplicates(what: str, stem: str, paths: Sequence[Path], base: Path) -> str:
    names = ", ".join(str(p.relative_to(base)) for p in paths)
    return f"{what}: {len(paths)} files for {stem} ({names} in {base}); one expected"


def _count_suffix(folder: Path, suffix: str, stop: int = 1) -> int:
    n = 0
    try:
        with os.scandir(folder) as it:
            for e in it:
                if e.name.lower().endswith(suffix):
                    n += 1
                    if n >= stop:
                        break
    except OSError:
        return 0
    return n


def _wnid_dirs(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as it:
            return sorted(Path(e.path) for e in it if e.is_dir() and _WNID.match(e.name))
    except OSError:
        return []


def _listing(root: Path, limit: int = 12) -> str:
    try:
        entries = sorted(os.listdir(root))
    except OSError as e:
        return f"(cannot list: {e})"
    if not entries:
        return "(empty folder)"
    shown = [e + ("/" if (root / e).is_dir() else "") for e in entries[:limit]]
    more = f" ... and {len(entries) - limit} more" if len(entries) > limit else ""
    return ", ".join(shown) + more


EXPECTED = f"""expected one of these ILSVRC 2012 validation layouts under the root:
  devkit:      {DEVKIT_IMAGES}/*.JPEG  +  ILSVRC2012_bbox_val_v3/val/*.xml
  kaggle:      {KAGGLE_IMAGES}/*.JPEG  +  {KAGGLE_SOLUTION}  (+ {KAGGLE_SYNSETS})
  torchvision: val/<wnid>/*.JPEG  +  the XML boxes beside each image or in ILSVRC2012_bbox_val_v3/val/"""


def _devkit_boxes_dir(root: Path) -> Path | None:
    for rel in DEVKIT_BOXES:
        d = root / rel
        if d.is_dir() and _count_suffix(d, ".xml"):
            return d
    return None


def detect_layout(root: str | os.PathLike, _hint: bool = True) -> Layout:
    """Which layout ``root`` holds; :class:`LayoutError` listing what was expected and what was
    found when it is none of them, or when a layout is incomplete (images without their boxes).

    Example:
        >>> import tempfile
        >>> try:
        ...     detect_layout(tempfile.mkdtemp())
        ... except LayoutError as e:
        ...     print(str(e).splitlines()[-1])
        found: (empty folder)
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LayoutError(f"{root} does not exist or is not a folder.\n{EXPECTED}")
    found = _listing(root)
    # devkit
    if (root / DEVKIT_IMAGES).is_dir():
        if not _count_suffix(root / DEVKIT_IMAGES, ".jpeg"):
            raise LayoutError(
                f"{root}: incomplete devkit layout: {DEVKIT_IMAGES}/ holds no .JPEG images.\n"
                f"{EXPECTED}\nfound: {found}"
            )
        if _devkit_boxes_dir(root) is None:
            raise LayoutError(
                f"{root}: incomplete devkit layout: images in {DEVKIT_IMAGES}/ but no XML boxes in "
                f"any of {', '.join(d + '/' for d in DEVKIT_BOXES)} (unpack "
                f"ILSVRC2012_bbox_val_v3.tgz there).\nfound: {found}"
            )
        return "devkit"
    # kaggle
    kaggle_images = root / KAGGLE_IMAGES
    if kaggle_images.is_dir() or (root / KAGGLE_SOLUTION).is_file():
        missing = []
        if not kaggle_images.is_dir() or not _count_suffix(kaggle_images, ".jpeg"):
            missing.append(f"{KAGGLE_IMAGES}/*.JPEG")
        if not (root / KAGGLE_SOLUTION).is_file():
            missing.append(KAGGLE_SOLUTION)
        if missing:
            raise LayoutError(
                f"{root}: incomplete kaggle layout: missing {' and '.join(missing)}.\n"
                f"{EXPECTED}\nfound: {found}"
            )
        return "kaggle"
    # torchvision
    val = root / "val" if (root / "val").is_dir() else root
    dirs = _wnid_dirs(val)
    if dirs:
        with_images = [d for d in dirs if _count_suffix(d, ".jpeg")]
        if not with_images:
            raise LayoutError(
                f"{root}: incomplete torchvision layout: {len(dirs)} <wnid>/ folders but no .JPEG "
                f"images in them.\n{EXPECTED}\nfound: {found}"
            )
        has_xml = any(_count_suffix(d, ".xml") for d in with_images) or any(
            (root / rel).is_dir() and _count_suffix(root / rel, ".xml") for rel in TORCHVISION_BOXES
        )
        if not has_xml:
            raise LayoutError(
                f"{root}: incomplete torchvision layout: images in val/<wnid>/ but no XML boxes "
                "beside them nor in ILSVRC2012_bbox_val_v3/val/ (torchvision's ImageNet has no "
                f"boxes: unpack ILSVRC2012_bbox_val_v3.tgz into the root).\nfound: {found}"
            )
        return "torchvision"
    # none of them: a complete layout one level down gets a hint
    hint = ""
    subs = [p for p in sorted(root.iterdir()) if p.is_dir()] if _hint else []
    for sub in subs[:20]:  # one level down only
        try:
            detect_layout(sub, _hint=False)
        except LayoutError:
            continue
        hint = f"\nhint: {sub} holds a complete layout: pass that folder as the root."
        break
    raise LayoutError(
        f"{root} is not an ILSVRC 2012 validation folder: {EXPECTED}\nfound: {found}{hint}"
    )


def _class_index(classes: Sequence[str] | None) -> dict[str, int]:
    if classes is None:
        from camutils.models import imagenet_classes

        classes = imagenet_classes()[0]
    return {w: i for i, w in enumerate(classes)}


def _make_record(
    stem: str,
    image: Path,
    objects: list[tuple[str, Box]] | None,
    size: tuple[int, int] | None,
    index: Mapping[str, int],
    problem: str | None = None,
    wnid: str | None = None,
) -> Record:
    """Record from an annotation: the image's class is ``wnid`` (torchvision's folder) or the
    first object's; its boxes are all the boxes of that class."""
    if problem is not None:
        return Record(
            stem, image, wnid, index.get(wnid, -1) if wnid else -1, (), size, problem=problem
        )
    if not objects:
        return Record(stem, image, wnid, index.get(wnid, -1) if wnid else -1, (), size,
                      problem="bad annotation: no object boxes")  # fmt: skip
    names = [w for w, _ in objects]
    if wnid is not None and wnid not in names:
        return Record(
            stem, image, wnid, index.get(wnid, -1), (), size,
            problem=f"label conflict: folder {wnid} but boxes of {', '.join(sorted(set(names)))}",
        )  # fmt: skip
    wnid = wnid or names[0]
    if wnid not in index:
        return Record(stem, image, wnid, -1, (), size,
                      problem=f"unknown class: {wnid} is not one of the model's classes")  # fmt: skip
    boxes = tuple(b for w, b in objects if w == wnid)
    return Record(stem, image, wnid, index[wnid], boxes, size)


def _read_devkit(root: Path, index: Mapping[str, int]) -> tuple[list[Record], list[str]]:
    folder = root / DEVKIT_IMAGES
    images, several = _files_by_stem(folder, IMAGE_SUFFIXES)
    boxes_dir = _devkit_boxes_dir(root)
    assert boxes_dir is not None
    xmls, several_xmls = _files_by_stem(boxes_dir, (".xml",))
    entries: list[Record | _XmlJob] = []
    for stem in sorted(images.keys() | several.keys()):
        if stem in several:
            problem = _duplicates("duplicate image", stem, several[stem], folder)
            entries.append(_make_record(stem, several[stem][0], None, None, index, problem=problem))
            continue
        entries.append(
            _XmlJob(stem, images[stem], xmls.get(stem), several_xmls.get(stem),
                    missing=f"no {stem}.xml in {boxes_dir}", base=boxes_dir)
        )  # fmt: skip
    orphans = sorted((xmls.keys() | several_xmls.keys()) - images.keys() - several.keys())
    return _xml_records(entries, index), orphans


class _XmlJob(NamedTuple):
    """An image whose record comes from its XML annotation (see :func:`_xml_record`)."""

    stem: str
    image: Path
    xml: Path | None
    several_xmls: Sequence[Path] | None
    missing: str
    base: Path
    wnid: str | None = None


def _xml_records(entries: list[Record | _XmlJob], index: Mapping[str, int]) -> list[Record]:
    """The entries as records, in order: the annotations of all the jobs read at once by
    :func:`parse_annotations` (by several processes for a large set), then each job's record."""
    paths = [e.xml for e in entries if isinstance(e, _XmlJob) and e.xml and not e.several_xmls]
    parsed = dict(zip(paths, parse_annotations(paths), strict=True))
    return [
        e if isinstance(e, Record) else _xml_record(e, index, parsed.get(e.xml))  # type: ignore[arg-type]
        for e in entries
    ]


def _xml_record(job: _XmlJob, index: Mapping[str, int], parsed: Annotation | str | None) -> Record:
    """The record of an image from its XML annotation, ``parsed`` by :func:`parse_annotations`
    (a problem when there is none, several, or it cannot be read)."""
    if job.several_xmls:
        problem = _duplicates("bad annotation", job.stem, job.several_xmls, job.base)
    elif job.xml is None or parsed is None:
        problem = f"missing annotation: {job.missing}"
    elif isinstance(parsed, str):
        problem = f"bad annotation: {parsed}"
    else:
        size, objects = parsed
        return _make_record(job.stem, job.image, objects, size, index, wnid=job.wnid)
    return _make_record(job.stem, job.image, None, None, index, problem=problem, wnid=job.wnid)


def _read_kaggle(
    root: Path, index: Mapping[str, int], notes: list[str]
) -> tuple[list[Record], list[str]]:
    folder = root / KAGGLE_IMAGES
    images, several = _files_by_stem(folder, IMAGE_SUFFIXES)
    solution = read_solution_csv(root / KAGGLE_SOLUTION)
    _check_synset_mapping(root / KAGGLE_SYNSETS, index, notes)
    records = []
    for stem in sorted(images.keys() | several.keys()):
        if stem in several:
            problem = _duplicates("duplicate image", stem, several[stem], folder)
            records.append(_make_record(stem, several[stem][0], None, None, index, problem=problem))
        elif stem in solution.problems:
            problem = f"bad annotation: {solution.problems[stem]}"
            records.append(_make_record(stem, images[stem], None, None, index, problem=problem))
        elif stem in solution.boxes:
            records.append(_make_record(stem, images[stem], solution.boxes[stem], None, index))
        else:
            problem = f"missing annotation: no row {stem} in {KAGGLE_SOLUTION}"
            records.append(_make_record(stem, images[stem], None, None, index, problem=problem))
    annotated = solution.boxes.keys() | solution.problems.keys()
    orphans = sorted(annotated - images.keys() - several.keys())
    return records, orphans


def _check_synset_mapping(path: Path, index: Mapping[str, int], notes: list[str]) -> None:
    """A note when Kaggle's synset mapping lists the classes in another order (or is
    unreadable): class indices follow the model's order either way."""
    if not path.is_file():
        return
    try:
        wnids = read_synset_mapping(path)
    except ValueError as e:
        notes.append(f"{e}: the class order of {KAGGLE_SYNSETS} was not checked")
        return
    if wnids != sorted(index, key=index.__getitem__):
        notes.append(
            f"{KAGGLE_SYNSETS} lists {len(wnids)} classes in an order different from the "
            "model's; class indices follow the model's (sorted-wnid) order"
        )


def _read_torchvision(root: Path, index: Mapping[str, int]) -> tuple[list[Record], list[str]]:
    val = root / "val" if (root / "val").is_dir() else root
    xml_dirs = [root / rel for rel in TORCHVISION_BOXES if (root / rel).is_dir()]
    shared: dict[str, Path] = {}
    shared_several: dict[str, list[Path]] = {}
    if xml_dirs:
        shared, shared_several = _files_by_stem(xml_dirs[0], (".xml",))
    found: dict[str, list[Path]] = {}
    for d in _wnid_dirs(val):
        images, several = _files_by_stem(d, IMAGE_SUFFIXES)
        for stem, path in images.items():
            found.setdefault(stem, []).append(path)
        for stem, paths in several.items():
            found.setdefault(stem, []).extend(paths)
    elsewhere = f" nor in {xml_dirs[0]}" if xml_dirs else ""
    entries: list[Record | _XmlJob] = []
    for stem in sorted(found):
        paths = sorted(found[stem])
        if len(paths) > 1:  # in one folder under two names, or in several class folders
            problem = _duplicates("duplicate image", stem, paths, val)
            entries.append(_make_record(stem, paths[0], None, None, index, problem=problem))
            continue
        path = paths[0]
        beside = path.with_suffix(".xml")
        if beside.is_file():
            xml, several_xmls, base = beside, None, path.parent
        else:
            xml, several_xmls = shared.get(stem), shared_several.get(stem)
            base = xml_dirs[0] if xml_dirs else path.parent
        entries.append(
            _XmlJob(stem, path, xml, several_xmls, missing=f"no {stem}.xml beside the image{elsewhere}",
                    base=base, wnid=path.parent.name)
        )  # fmt: skip
    orphans = sorted((shared.keys() | shared_several.keys()) - found.keys())
    return _xml_records(entries, index), orphans


def _find_blacklist(root: Path) -> Path | None:
    for base in (
        root,
        root / "ILSVRC2012_devkit_t12" / "data",
        root / "devkit" / "data",
        root / "data",
    ):
        for name in BLACKLIST_NAMES:
            if (base / name).is_file():
                return base / name
    return None


def open_ilsvrc(
    root: str | os.PathLike,
    blacklist: str | os.PathLike | bool | None = None,
    classes: Sequence[str] | None = None,
    limit: int | None = None,
) -> ILSVRCVal:
    """Find the validation images and their boxes under ``root`` (layout detected).

    Args:
        root: the folder holding one of the layouts described in this module's docstring.
        blacklist: a devkit blacklist file (one 1-based validation index per line, e.g.
            ``ILSVRC2015_clsloc_validation_blacklist.txt``), ``None`` to use one found in the
            root (or its ``ILSVRC2012_devkit_t12/data``) if any, ``False`` for none. Blacklisted
            images stay in the records, flagged, so that metrics can be reported with and
            without them.
        classes: the model's wnids in class-index order (default: ImageNet's sorted wnids).
        limit: keep only the first ``limit`` images in stem order.

    Raises:
        LayoutError: the root is not a known layout, or is incomplete; the message lists the
            layouts expected and the entries found.
    """
    root = Path(root).expanduser()
    layout = detect_layout(root)
    index = _class_index(classes)
    notes: list[str] = []
    if layout == "devkit":
        records, orphans = _read_devkit(root, index)
    elif layout == "kaggle":
        records, orphans = _read_kaggle(root, index, notes)
    else:
        records, orphans = _read_torchvision(root, index)
    bl_file: Path | None = None
    if blacklist is None:
        bl_file = _find_blacklist(root)
    elif blacklist is not False and blacklist is not True:
        bl_file = Path(blacklist)
    elif blacklist is True:
        bl_file = _find_blacklist(root)
        if bl_file is None:
            raise FileNotFoundError(
                f"no blacklist file ({' or '.join(BLACKLIST_NAMES)}) found in {root}"
            )
    bl = read_blacklist(bl_file) if bl_file is not None else frozenset()
    if bl:
        records = [replace(r, blacklisted=r.stem in bl) for r in records]
    val = ILSVRCVal(root, layout, records, orphans, bl_file, bl, notes)
    return val.subset(limit)


def boxes_tensor(records: Iterable[Record], device=None) -> tuple[Tensor, Tensor]:
    """Pad the records' ground-truth boxes into ``(B, G, 4)`` long boxes and a ``(B, G)`` validity
    mask, ``G`` = the largest number of boxes of one image (at least 1).

    Example:
        >>> r1 = Record("a", Path("a.JPEG"), "n01440764", 0, ((0, 0, 9, 9),))
        >>> r2 = Record("b", Path("b.JPEG"), "n01440764", 0, ((1, 1, 5, 5), (2, 2, 8, 8)))
        >>> boxes, valid = boxes_tensor([r1, r2])
        >>> boxes.shape, valid.tolist()
        (torch.Size([2, 2, 4]), [[True, False], [True, True]])
    """
    records = list(records)
    g = max([len(r.boxes) for r in records] + [1])
    boxes = torch.zeros(len(records), g, 4, dtype=torch.long)
    valid = torch.zeros(len(records), g, dtype=torch.bool)
    for i, r in enumerate(records):
        if r.boxes:
            boxes[i, : len(r.boxes)] = torch.tensor(r.boxes, dtype=torch.long)
            valid[i, : len(r.boxes)] = True
    return boxes.to(device), valid.to(device)
