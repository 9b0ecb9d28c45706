"""ILSVRC readers: the three layouts, the bundled sample, and the bad inputs a real copy holds."""

import io
import os
import shutil
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from camutils.ilsvrc import (
    MAX_PIXELS,
    ImageTooLarge,
    LayoutError,
    UnreadableImage,
    box_problem,
    decode_image,
    detect_layout,
    jpeg_info,
    open_ilsvrc,
    parse_annotations,
    parse_solution_csv,
    parse_voc_xml,
    read_blacklist,
    read_image_bytes,
    read_solution_csv,
    val_stem,
)
from camutils.models import imagenet_classes
from camutils.samples import data_dir
from camutils.synthetic import make_synthetic_val

WNIDS = imagenet_classes()[0]


def _encode(img: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    arr[:, :20] = (200, 30, 60)  # some flat colour so JPEG errors stay small
    return Image.fromarray(arr)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """The same 10-image set written in the three layouts."""
    out = {}
    for layout in ("devkit", "kaggle", "torchvision"):
        root = tmp_path_factory.mktemp(layout)
        out[layout] = make_synthetic_val(root, 10, layout=layout, seed=3, blacklist=[7, 9])
    return out


# --------------------------------------------------------------------------- images
def test_jpeg_info_reads_size_components_and_progressive(picture):
    info = jpeg_info(_encode(picture))
    assert (info.height, info.width, info.components, info.progressive) == (30, 40, 3, False)
    assert jpeg_info(_encode(picture.convert("L"))).components == 1
    assert jpeg_info(_encode(picture.convert("CMYK"))).components == 4
    assert jpeg_info(_encode(picture, progressive=True)).progressive
    assert jpeg_info(_encode(picture, "PNG")) is None
    assert jpeg_info(b"\xff\xd8\xff") is None
    assert jpeg_info(b"") is None


def test_grayscale_and_cmyk_jpegs_become_the_same_rgb_as_pil(picture):
    for mode in ("L", "CMYK"):
        data = _encode(picture.convert(mode), quality=95)
        got = decode_image(data)
        want = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        assert got.shape == (3, 30, 40) and got.dtype == torch.uint8
        assert np.abs(got.permute(1, 2, 0).numpy().astype(int) - want.astype(int)).max() <= 1
    gray = decode_image(_encode(picture.convert("L")))
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])


def test_png_saved_as_jpeg_is_decoded_by_the_fallback(picture):
    got = decode_image(_encode(picture, "PNG"))
    assert torch.equal(got, torch.from_numpy(np.array(picture)).permute(2, 0, 1))


def test_corrupt_and_empty_files_raise_unreadable_with_the_name(picture):
    data = _encode(picture)
    for bad in (data[: len(data) // 2], b"not an image at all", b""):
        with pytest.raises(UnreadableImage, match="photo_1"):
            decode_image(bad, name="photo_1")


def _declaring(data: bytes, height: int, width: int) -> bytes:
    """``data`` (a JPEG or a PNG) with its header patched to declare ``height x width``."""
    out = bytearray(data)
    if out.startswith(b"\xff\xd8"):
        sof = out.index(b"\xff\xc0")
        out[sof + 5 : sof + 9] = bytes([height >> 8, height & 255, width >> 8, width & 255])
    else:
        ihdr = out.index(b"IHDR")
        out[ihdr + 4 : ihdr + 12] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
        out[ihdr + 17 : ihdr + 21] = zlib.crc32(bytes(out[ihdr : ihdr + 17])).to_bytes(4, "big")
    return bytes(out)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_images_over_the_pixel_limit_are_refused_before_decoding(picture, fmt):
    assert MAX_PIXELS == Image.MAX_IMAGE_PIXELS  # PIL's convention
    data = _encode(picture, fmt)
    assert decode_image(data, max_pixels=30 * 40).shape == (3, 30, 40)
    with pytest.raises(
        ImageTooLarge, match=r"photo: 40 x 30 = 1,200 pixels, over the limit of 1,199"
    ):
        decode_image(data, "photo", max_pixels=30 * 40 - 1)
    bomb = _declaring(data, 20000, 20000)
    assert len(bomb) < 4000
    with pytest.raises(
        ImageTooLarge, match="20000 x 20000" if fmt == "JPEG" else "400000000 pixels"
    ):
        decode_image(bomb)  # the default limit; it would take 1.2 GB decoded
    assert issubclass(ImageTooLarge, UnreadableImage)


def test_image_files_that_cannot_be_read_raise_unreadable(tmp_path):
    loop = tmp_path / "loop.JPEG"
    os.symlink(loop.name, loop)
    with pytest.raises(UnreadableImage, match="loop.JPEG: cannot read"):
        read_image_bytes(loop)
    fifo = tmp_path / "fifo.JPEG"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableImage, match="fifo.JPEG: not a regular file"):
        read_image_bytes(fifo)  # would block for ever
    with pytest.raises(UnreadableImage, match="gone.JPEG: cannot read"):
        read_image_bytes(tmp_path / "gone.JPEG")


# --------------------------------------------------------------------------- annotation files
def test_voc_xml_with_several_objects():
    xml = (
        "<annotation><size><width>500</width><height>375</height><depth>3</depth></size>"
        "<object><name>n01751748</name><bndbox><xmin>111</xmin><ymin>108</ymin><xmax>441</xmax>"
        "<ymax>193</ymax></bndbox></object>"
        "<object><name>n01751748</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax>"
        "<ymax>4</ymax></bndbox></object></annotation>"
    )
    size, objects = parse_voc_xml(xml)
    assert size == (375, 500)
    assert objects == [("n01751748", (111, 108, 441, 193)), ("n01751748", (1, 2, 3, 4))]


def test_voc_xml_errors_name_the_file(tmp_path):
    bad = tmp_path / "ILSVRC2012_val_00000001.xml"
    bad.write_text("<annotation><object><name>n01751748</name>")
    with pytest.raises(ValueError, match="ILSVRC2012_val_00000001.xml: not valid XML"):
        parse_voc_xml(bad)
    flipped = (
        "<annotation><object><name>n1</name><bndbox><xmin>9</xmin><ymin>0</ymin><xmax>3</xmax>"
        "<ymax>4</ymax></bndbox></object></annotation>"
    )
    with pytest.raises(ValueError, match="xmax < xmin"):
        parse_voc_xml(flipped)


@pytest.mark.parametrize(
    ("coords", "message"),
    [
        (("1e999", "0", "5", "5"), "finite"),
        (("nan", "0", "5", "5"), "finite"),
        (("-1", "0", "5", "5"), "negative"),
        (("0", "0", "1e12", "5"), "beyond"),
        (("a", "0", "5", "5"), "must be numbers"),
        (("9", "0", "3", "5"), "xmax < xmin"),
    ],
)
def test_voc_xml_bad_coordinates_are_value_errors(coords, message):
    xml = (
        "<annotation><object><name>n1</name><bndbox>"
        + "".join(
            f"<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), coords, strict=True)
        )
        + "</bndbox></object></annotation>"
    )
    with pytest.raises(ValueError, match=message):
        parse_voc_xml(xml)


def test_voc_xml_entities_are_refused_not_expanded(tmp_path):
    body = "<annotation><object><name>&w;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>"
    for decl in ('<!ENTITY w "n01751748">', '<!ENTITY w SYSTEM "file:///etc/hostname">'):
        xml = tmp_path / "a.xml"
        xml.write_text(f"<!DOCTYPE annotation [{decl}]>" + body)
        with pytest.raises(ValueError, match=r"a\.xml: XML entities .* refused"):
            parse_voc_xml(xml)


def test_voc_xml_size_must_be_positive():
    with pytest.raises(ValueError, match="<size> must be positive"):
        parse_voc_xml("<annotation><size><width>0</width><height>5</height></size></annotation>")


def test_box_problem_needs_every_box_inside_the_image():
    assert box_problem([(0, 0, 499, 374), (10, 10, 20, 20)], 375, 500) is None
    for box in [(0, 0, 500, 374), (0, 0, 499, 375), (-1, 0, 5, 5), (9, 0, 3, 5)]:
        assert "outside the 500 x 375 image" in box_problem([(1, 1, 2, 2), box], 375, 500)


def test_kaggle_solution_csv(tmp_path):
    p = tmp_path / "LOC_val_solution.csv"
    p.write_text(
        "ImageId,PredictionString\n"
        "ILSVRC2012_val_00008726,n02119789 255 142 454 329 n02119789 44 21 322 295 \n"
        "ILSVRC2012_val_00000001,n01751748 111 108 441 193\n"
    )
    sol = parse_solution_csv(p)
    assert sol["ILSVRC2012_val_00008726"] == [
        ("n02119789", (255, 142, 454, 329)),
        ("n02119789", (44, 21, 322, 295)),
    ]
    assert sol["ILSVRC2012_val_00000001"] == [("n01751748", (111, 108, 441, 193))]
    p.write_text("ImageId,PredictionString\nILSVRC2012_val_00000001,n01751748 1 2 3\n")
    with pytest.raises(ValueError, match="groups of 'wnid xmin ymin xmax ymax'"):
        parse_solution_csv(p)
    p.write_text("id,boxes\n")
    with pytest.raises(ValueError, match="ImageId,PredictionString"):
        parse_solution_csv(p)


def test_kaggle_solution_rows_that_cannot_be_used_are_problems_of_their_image(tmp_path):
    p = tmp_path / "LOC_val_solution.csv"
    good = "n01751748 111 108 441 193"
    p.write_bytes(
        b"\xef\xbb\xbfImageId,PredictionString\r\n"  # a byte-order mark and CRLF
        + f"a,{good}\r\n".encode()
        + b"b,n01751748 1 2 3 \xff\r\n"
        + f"c,n01751748 1 2 inf 4\nd,{good} {good * 0}\n".encode()
        + f"e,{' '.join([good] * 6000)}\n".encode()  # over the csv module's field limit
        + f"d,{good}\nf,n01751748 1 2 3\n".encode()
    )
    sol = read_solution_csv(p)
    assert sol.boxes == {"a": [("n01751748", (111, 108, 441, 193))]}
    assert set(sol.problems) == {"b", "c", "d", "e", "f"}
    assert sol.problems["b"].startswith(f"{p}:3: not UTF-8 text (byte 0xff")
    assert sol.problems["c"].startswith(f"{p}:4: box coordinates must be finite")
    assert sol.problems["d"].startswith(
        f"{p}:7: a second row for d (the first is LOC_val_solution.csv:5)"
    )
    assert sol.problems["e"].startswith(f"{p}:6: field larger than field limit")
    assert sol.problems["f"].startswith(f"{p}:8: PredictionString must be groups")
    with pytest.raises(ValueError, match=":3: not UTF-8"):
        parse_solution_csv(p)  # the first row that cannot be used
    p.write_bytes("ImageId,PredictionString\n".encode("utf-16"))
    with pytest.raises(ValueError, match=r"LOC_val_solution.csv:1: .*not UTF-8"):
        read_solution_csv(p)


def test_kaggle_rows_become_problems_of_their_images(synthetic, tmp_path):
    kag = Path(shutil.copytree(synthetic["kaggle"].root, tmp_path / "kag"))
    csv = kag / "LOC_val_solution.csv"
    lines = csv.read_text().splitlines()
    lines[2] = lines[2].rsplit(" ", 1)[0] + " -3"
    csv.write_text("\n".join(lines + [lines[3]]) + "\n")
    by_stem = {r.stem: r for r in open_ilsvrc(kag)}
    assert (
        by_stem[val_stem(2)].problem.startswith("bad annotation: ")
        and "negative" in by_stem[val_stem(2)].problem
    )
    assert "a second row for " + val_stem(3) in by_stem[val_stem(3)].problem
    assert sum(r.problem is None for r in by_stem.values()) == 10 - 3  # + the missing one


def test_blacklist_indices_become_stems(tmp_path):
    p = tmp_path / "ILSVRC2015_clsloc_validation_blacklist.txt"
    p.write_text("36\n50\n\n49999\n")
    assert read_blacklist(p) == {val_stem(36), val_stem(50), val_stem(49999)}
    assert val_stem(36) == "ILSVRC2012_val_00000036"
    p.write_text("36\nfoo\n")
    with pytest.raises(ValueError, match=":2: expected a validation image index"):
        read_blacklist(p)

    p.write_bytes(b"36\n\xff50\n")
    with pytest.raises(ValueError, match=":2: not UTF-8 text"):
        read_blacklist(p)
    p.write_text("36\n\u00b2\n" + "9" * 5000 + "\n")  # a superscript two is a "digit"
    with pytest.raises(ValueError, match=":2: expected a validation image index"):
        read_blacklist(p)


# --------------------------------------------------------------------------- layouts
def test_each_layout_is_detected(synthetic):
    for layout, syn in synthetic.items():
        assert detect_layout(syn.root) == layout


def test_three_layouts_give_the_same_records(synthetic):
    sets = {k: open_ilsvrc(s.root) for k, s in synthetic.items()}
    ref = sets["devkit"]
    assert len(ref) == 10
    for layout, val in sets.items():
        assert val.layout == layout
        assert [r.stem for r in val] == [val_stem(i) for i in range(1, 11)]
        for a, b in zip(ref, val, strict=True):
            assert a.boxes == b.boxes, layout
            if a.problem is None:
                assert (a.wnid, a.label) == (b.wnid, b.label)
                # class index = position of the wnid in the sorted list
                assert a.label == sorted(WNIDS).index(a.wnid)


def test_several_boxes_and_problems_are_kept_not_dropped(synthetic):
    for syn in synthetic.values():
        val = open_ilsvrc(syn.root)
        by_stem = {r.stem: r for r in val}
        assert len(by_stem[syn.special["multi_box"]].boxes) == 3
        missing = by_stem[syn.special["missing_annotation"]]
        assert missing.problem.startswith("missing annotation") and missing.boxes == ()
        assert [r.stem for r in val.problems] == [missing.stem]
        assert "1 images cannot be evaluated: 1 missing annotation" in val.summary()
        # the odd files are readers' business only at decode time: still records
        for kind in ("grayscale", "cmyk", "corrupt", "png_named_jpeg"):
            assert by_stem[syn.special[kind]].problem is None


def test_special_images_decode_or_fail_as_expected(synthetic):
    syn = synthetic["devkit"]
    val = open_ilsvrc(syn.root)
    by_stem = {r.stem: r for r in val}
    for kind in ("grayscale", "cmyk", "png_named_jpeg"):
        r = by_stem[syn.special[kind]]
        img = decode_image(r.image.read_bytes())
        assert img.shape[0] == 3 and tuple(img.shape[1:]) == r.size
    with pytest.raises(UnreadableImage):
        decode_image(by_stem[syn.special["corrupt"]].image.read_bytes())


def test_blacklist_found_in_root_or_given_or_off(synthetic, tmp_path):
    root = synthetic["kaggle"].root
    val = open_ilsvrc(root)
    assert [r.stem for r in val if r.blacklisted] == [val_stem(7), val_stem(9)]
    assert open_ilsvrc(root, blacklist=False).n_blacklisted == 0
    other = tmp_path / "bl.txt"
    other.write_text("1\n")
    assert [r.stem for r in open_ilsvrc(root, blacklist=other) if r.blacklisted] == [val_stem(1)]


def test_limit_keeps_the_first_images(synthetic):
    val = open_ilsvrc(synthetic["devkit"].root, limit=3)
    assert [r.stem for r in val] == [val_stem(i) for i in (1, 2, 3)]


def test_wrong_root_lists_expected_and_found(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(LayoutError) as e:
        open_ilsvrc(tmp_path)
    msg = str(e.value)
    for expected in ("ILSVRC2012_img_val/*.JPEG", "LOC_val_solution.csv", "val/<wnid>/*.JPEG"):
        assert expected in msg
    assert "found: photos/, readme.txt" in msg
    with pytest.raises(LayoutError, match="does not exist"):
        open_ilsvrc(tmp_path / "nowhere")


def test_incomplete_layouts_say_what_is_missing(synthetic, tmp_path):
    dev = tmp_path / "dev"
    shutil.copytree(synthetic["devkit"].root, dev)
    shutil.rmtree(dev / "ILSVRC2012_bbox_val_v3")
    with pytest.raises(LayoutError, match="incomplete devkit layout.*no XML boxes"):
        detect_layout(dev)
    kag = tmp_path / "kag"
    shutil.copytree(synthetic["kaggle"].root, kag)
    (kag / "LOC_val_solution.csv").unlink()
    with pytest.raises(LayoutError, match="incomplete kaggle layout: missing LOC_val_solution.csv"):
        detect_layout(kag)
    tv = tmp_path / "tv"
    shutil.copytree(synthetic["torchvision"].root, tv)
    for xml in tv.rglob("*.xml"):
        xml.unlink()
    with pytest.raises(LayoutError, match="incomplete torchvision layout.*no XML boxes"):
        detect_layout(tv)


def test_parent_of_a_layout_gets_a_hint(synthetic, tmp_path):
    parent = tmp_path / "downloads"
    shutil.copytree(synthetic["kaggle"].root, parent / "imagenet-object-localization-challenge")
    with pytest.raises(LayoutError, match="hint: .*imagenet-object-localization-challenge holds"):
        detect_layout(parent)


def test_torchvision_folder_and_xml_disagree_is_a_problem(synthetic, tmp_path):
    tv = tmp_path / "tv"
    shutil.copytree(synthetic["torchvision"].root, tv)
    r = next(r for r in open_ilsvrc(tv) if r.problem is None)
    moved = tv / "val" / "n01440764"
    moved.mkdir(exist_ok=True)
    shutil.move(r.image, moved / r.image.name)
    shutil.move(r.image.with_suffix(".xml"), moved / (r.stem + ".xml"))
    rec = {x.stem: x for x in open_ilsvrc(tv)}[r.stem]
    assert rec.problem.startswith("label conflict: folder n01440764")


def test_unknown_class_is_a_problem(synthetic, tmp_path):
    kag = tmp_path / "kag"
    shutil.copytree(synthetic["kaggle"].root, kag)
    csv = kag / "LOC_val_solution.csv"
    lines = csv.read_text().splitlines()
    stem, rest = lines[1].split(",")
    lines[1] = stem + "," + " ".join(["n99999999"] + rest.split()[1:5])
    csv.write_text("\n".join(lines) + "\n")
    rec = {x.stem: x for x in open_ilsvrc(kag)}[stem]
    assert rec.problem.startswith("unknown class: n99999999") and rec.label == -1


@pytest.mark.parametrize("layout", ["devkit", "kaggle", "torchvision"])
def test_two_files_for_one_image_are_one_problem(synthetic, tmp_path, layout):
    root = Path(shutil.copytree(synthetic[layout].root, tmp_path / layout))
    first = open_ilsvrc(root).records[0]
    shutil.copy(first.image, first.image.with_suffix(".jpg"))
    val = open_ilsvrc(root)
    rec = {r.stem: r for r in val}[first.stem]
    assert len(val) == 10
    assert rec.problem.startswith(f"duplicate image: 2 files for {first.stem}")
    assert f"{first.stem}.JPEG" in rec.problem and f"{first.stem}.jpg" in rec.problem


def test_one_image_in_two_class_folders_is_one_problem(synthetic, tmp_path):
    tv = Path(shutil.copytree(synthetic["torchvision"].root, tmp_path / "tv"))
    first = open_ilsvrc(tv).records[0]
    other = tv / "val" / ("n01440764" if first.wnid != "n01440764" else "n01443537")
    other.mkdir(exist_ok=True)
    shutil.copy(first.image, other / first.image.name)
    shutil.copy(first.image.with_suffix(".xml"), other / (first.stem + ".xml"))
    rec = [r for r in open_ilsvrc(tv) if r.stem == first.stem]
    assert len(rec) == 1 and rec[0].problem.startswith("duplicate image: 2 files")
    assert other.name in rec[0].problem and first.wnid in rec[0].problem


def test_unreadable_entries_in_the_image_folder_are_records_not_crashes(synthetic, tmp_path):
    dev = Path(shutil.copytree(synthetic["devkit"].root, tmp_path / "dev"))
    images = dev / "ILSVRC2012_img_val"
    os.symlink(f"{val_stem(11)}.JPEG", images / f"{val_stem(11)}.JPEG")  # to itself
    os.symlink("nowhere", images / f"{val_stem(12)}.JPEG")
    (images / f"{val_stem(13)}.JPEG").mkdir()  # a folder is not an image
    stems = [r.stem for r in open_ilsvrc(dev)]
    assert stems == [val_stem(i) for i in range(1, 13)]
    xml = dev / "ILSVRC2012_bbox_val_v3" / "val" / f"{val_stem(2)}.xml"
    xml.unlink()
    os.symlink(xml.name, xml)
    rec = {r.stem: r for r in open_ilsvrc(dev)}[val_stem(2)]
    assert rec.problem.startswith(f"bad annotation: {xml}: cannot read the annotation")


# --------------------------------------------------------------------------- the bundled sample
SAMPLE = data_dir() / "ilsvrc_sample"


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="data/ilsvrc_sample is not in this checkout")
def test_bundled_sample_reads_the_same_in_both_formats():
    dev = open_ilsvrc(SAMPLE / "devkit")
    kag = open_ilsvrc(SAMPLE / "kaggle")
    assert (dev.layout, kag.layout) == ("devkit", "kaggle")
    assert len(dev) == 7 and not dev.problems and not kag.problems
    assert kag.notes == []  # LOC_synset_mapping.txt is in the model's class order
    assert [(r.stem, r.wnid, r.label, r.boxes) for r in dev] == [
        (r.stem, r.wnid, r.label, r.boxes) for r in kag
    ]
    for r in dev:
        img = decode_image(r.image.read_bytes())
        h, w = img.shape[1:]
        assert r.size == (h, w)
        for x0, y0, x1, y1 in r.boxes:
            assert 0 <= x0 <= x1 < w and 0 <= y0 <= y1 < h


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the readers fork on Linux only")
def test_annotations_read_by_several_processes_equal_one_process(tmp_path, monkeypatch):
    """The forked readers give each file's annotation, or its reason, in order, exactly as one
    process does; open_ilsvrc over them gives the same records."""
    import camutils.ilsvrc as ilsvrc

    syn = make_synthetic_val(tmp_path / "val", 40, layout="devkit", seed=3)
    boxes = sorted((syn.root / "ILSVRC2012_bbox_val_v3" / "val").glob("*.xml"))
    assert len(boxes) >= 30
    boxes[1].write_text("<annotation><object>")  # malformed
    boxes[2].write_text('<!DOCTYPE a [<!ENTITY w "n01751748">]><annotation/>')  # an entity
    paths = [*boxes, tmp_path / "missing.xml"]
    import concurrent.futures

    pools = []

    class Spy(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Spy)
    one = parse_annotations(paths, workers=1)
    assert not pools
    assert parse_annotations(paths, workers=3) == one
    assert [args[0] for args in pools] == [3]  # three processes read them
    assert "not valid XML" in one[1] and "entities" in one[2] and "cannot read" in one[-1]
    assert one[0] == parse_voc_xml(boxes[0])
    serial = open_ilsvrc(syn.root).records
    tv = make_synthetic_val(tmp_path / "tv", 40, layout="torchvision", seed=3)
    tv_serial = open_ilsvrc(tv.root).records
    monkeypatch.setattr(ilsvrc, "PARALLEL_ANNOTATIONS", 8)
    assert open_ilsvrc(syn.root).records == serial
    assert open_ilsvrc(tv.root).records == tv_serial  # the torchvision layout's XMLs too
    assert len(pools) == 3 or (os.cpu_count() or 1) == 1
