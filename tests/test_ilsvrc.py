"""ILSVRC readers: the three layouts, the bundled sample, and the bad inputs a real copy holds."""

import io
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from camutils.ilsvrc import (
    LayoutError,
    UnreadableImage,
    decode_image,
    detect_layout,
    jpeg_info,
    make_synthetic_val,
    open_ilsvrc,
    parse_solution_csv,
    parse_voc_xml,
    read_blacklist,
    val_stem,
)
from camutils.models import imagenet_classes
from camutils.samples import data_dir

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


def test_blacklist_indices_become_stems(tmp_path):
    p = tmp_path / "ILSVRC2015_clsloc_validation_blacklist.txt"
    p.write_text("36\n50\n\n49999\n")
    assert read_blacklist(p) == {val_stem(36), val_stem(50), val_stem(49999)}
    assert val_stem(36) == "ILSVRC2012_val_00000036"
    p.write_text("36\nfoo\n")
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
