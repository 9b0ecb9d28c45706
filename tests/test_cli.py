"""``python -m camutils evaluate`` under bad input: a user's mistake ends in one ``error:`` line
(exit code 2), a bad file or annotation is one reported, counted problem and the run goes on,
and nothing from another run is mixed in."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image

from camutils.__main__ import main
from camutils.ilsvrc import val_stem
from camutils.synthetic import make_synthetic_val

N = 6
KAGGLE_IMAGES = Path("ILSVRC/Data/CLS-LOC/val")
DEVKIT_IMAGES = Path("ILSVRC2012_img_val")
DEVKIT_XML = Path("ILSVRC2012_bbox_val_v3/val")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def threads():
    """The runs use one thread (``--threads 1``: steady on a CPU shared with other work); the
    setting is restored for the other test modules."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- data sets
@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict[str, Path]:
    """Two small sets (kaggle and devkit layouts), written once; tests copy the one they break."""
    root = tmp_path_factory.mktemp("base")
    return {
        layout: make_synthetic_val(root / layout, N, layout=layout, seed=2, special=False).root
        for layout in ("kaggle", "devkit")
    }


@pytest.fixture
def kaggle(base, tmp_path) -> Path:
    return Path(shutil.copytree(base["kaggle"], tmp_path / "kaggle"))


@pytest.fixture
def devkit(base, tmp_path) -> Path:
    return Path(shutil.copytree(base["devkit"], tmp_path / "devkit"))


def set_row(root: Path, i: int, text: str | bytes) -> None:
    """Replace the solution row of image ``i`` (``text`` after ``stem,``)."""
    csv = root / "LOC_val_solution.csv"
    stem = val_stem(i).encode()
    new = text.encode() if isinstance(text, str) else text
    rows = [
        stem + b"," + new if row.startswith(stem + b",") else row
        for row in csv.read_bytes().split(b"\n")
    ]
    csv.write_bytes(b"\n".join(rows))


def row_of(root: Path, i: int) -> str:
    for row in (root / "LOC_val_solution.csv").read_text().splitlines():
        if row.startswith(val_stem(i) + ","):
            return row.split(",", 1)[1]
    raise KeyError(i)


def image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size  # (width, height)


def big_jpeg(height: int, width: int) -> bytes:
    """A few hundred bytes of JPEG whose frame header declares ``height x width`` pixels."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 20, 200)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = bytes([height >> 8, height & 255, width >> 8, width & 255])
    return bytes(data)


def big_png(height: int, width: int) -> bytes:
    """A small PNG whose IHDR declares ``height x width`` pixels (with a valid CRC)."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = crc.to_bytes(4, "big")
    return bytes(data)


# --------------------------------------------------------------------------- running
def run(capsys, data: Path, out: Path | None, *extra: str) -> tuple[int, str, str]:
    args = ["evaluate", "--data", str(data), "--workers", "0", "--device", "cpu", "--threads",
            "1", "--no-progress", "--problems", *extra]  # fmt: skip
    if out is not None:
        args += ["--out", str(out)]
    code = main(args)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def refused(code: int, out: str, err: str, *needles: str) -> str:
    """Exit code 2, exactly one ``error:`` line on stderr holding each needle, no traceback."""
    assert code == 2, (out, err)
    assert "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def completed(code: int, out: str, err: str, found: int, evaluated: int) -> str:
    """The run finished, accounting for every image."""
    assert code == 0, (out, err)
    assert "Traceback" not in err + out
    skipped = found - evaluated
    assert f"{found} images found, {evaluated} evaluated, {skipped} skipped" in out, out
    return out


def problem_line(out: str, stem: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.startswith(f"  {stem}: ")]
    assert len(lines) == 1, out
    return lines[0]


# --------------------------------------------------------------------------- 1. options
@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--batch-size", "-1", "positive integer"),
        ("--batch-size", "0", "positive integer"),
        ("--workers", "-1", "integer >= 0"),
        ("--threads", "-1", "positive integer"),
        ("--threads", "0", "positive integer"),
        ("--threads", "100000", "4 per CPU core"),
        ("--workers", "100000", "4 per CPU core"),
        ("--limit", "0", "positive integer"),
        ("--limit", "-2", "positive integer"),
        ("--max-pixels", "0", "positive integer"),
        ("--batch-size", "many", "positive integer"),
        ("--threshold", "nan", "between 0 and 1"),
        ("--threshold", "1.5", "fraction of the map's maximum, between 0 and 1"),
        ("--cpu-decode-share", "2", "fraction of the JPEGs, between 0 and 1"),
        ("--decoder", "bogus", "invalid choice"),
        ("--device", "gpu0", "device"),
    ],
)
def test_bad_numbers_are_refused_in_one_line(base, tmp_path, capsys, option, value, expected):
    code, out, err = run(capsys, base["kaggle"], tmp_path / "o", option, value)
    line = refused(code, out, err, option, repr(value), expected)
    assert "usage" not in err
    assert not (tmp_path / "o").exists(), line  # refused before anything was written


@pytest.mark.parametrize("model", ["foo", "timm:foo", "timm:", "resnet"])
def test_unknown_model_is_refused_before_the_data_is_read(base, tmp_path, capsys, model):
    code, out, err = run(capsys, base["kaggle"], tmp_path / "o", "--model", model)
    refused(code, out, err, "--model", repr(model), "efficientnet_lite0")
    assert "ILSVRC val" not in out  # the data set was not scanned


def test_out_that_is_a_file_is_refused(base, tmp_path, capsys):
    f = tmp_path / "results.txt"
    f.write_text("mine\n")
    code, out, err = run(capsys, base["kaggle"], f)
    refused(code, out, err, "--out", str(f), "not a folder")
    assert f.read_text() == "mine\n"
    code, out, err = run(capsys, base["kaggle"], f / "run")
    refused(code, out, err, "--out", str(f / "run"))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere")
def test_out_that_cannot_be_written_is_refused(base, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code, out, err = run(capsys, base["kaggle"], ro / "run")
        refused(code, out, err, "--out", "ermission")
    finally:
        ro.chmod(0o700)


def test_resume_refusal_names_the_restart_option(kaggle, tmp_path, capsys):
    out_dir = tmp_path / "o"
    completed(*run(capsys, kaggle, out_dir), found=N, evaluated=N)
    code, out, err = run(capsys, kaggle, out_dir, "--threshold", "0.3")
    line = refused(code, out, err, "threshold: 0.2 there, 0.3 now", "--restart", "--out")
    assert "restart=True" not in line
    completed(*run(capsys, kaggle, out_dir, "--threshold", "0.3", "--restart"), N, N)


# --------------------------------------------------------------------------- 2. one bad entry
def test_overflowing_xml_coordinate_is_one_problem(devkit, tmp_path, capsys):
    xml = devkit / DEVKIT_XML / f"{val_stem(2)}.xml"
    xml.write_text(re.sub(r"<xmin>\d+</xmin>", "<xmin>1e999</xmin>", xml.read_text(), count=1))
    out = completed(*run(capsys, devkit, tmp_path / "o"), found=N, evaluated=N - 1)
    assert "(1 bad annotation)" in out
    line = problem_line(out, val_stem(2))
    assert "bad annotation" in line and xml.name in line and "1e999" in line


@pytest.mark.parametrize("value", ["inf", "nan", "1e999", "-inf"])
def test_non_finite_csv_coordinate_is_one_problem(kaggle, tmp_path, capsys, value):
    tokens = row_of(kaggle, 3).split()
    tokens[3] = value
    set_row(kaggle, 3, " ".join(tokens))
    out = completed(*run(capsys, kaggle, tmp_path / "o"), found=N, evaluated=N - 1)
    line = problem_line(out, val_stem(3))
    assert "bad annotation" in line and "LOC_val_solution.csv:4" in line


def test_self_looping_symlink_is_one_unreadable_image(kaggle, tmp_path, capsys):
    loop = kaggle / KAGGLE_IMAGES / f"{val_stem(7)}.JPEG"
    os.symlink(loop.name, loop)
    with open(kaggle / "LOC_val_solution.csv", "a") as f:
        f.write(f"{val_stem(7)},{row_of(kaggle, 1)}\n")
    out = completed(*run(capsys, kaggle, tmp_path / "o"), found=N + 1, evaluated=N)
    assert "(1 unreadable image)" in out
    assert "unreadable image" in problem_line(out, val_stem(7))


def test_csv_field_over_the_csv_module_limit_is_one_problem(kaggle, tmp_path, capsys):
    row = row_of(kaggle, 4)
    set_row(kaggle, 4, " ".join([row] * (140_000 // len(row) + 1)))
    out = completed(*run(capsys, kaggle, tmp_path / "o"), found=N, evaluated=N - 1)
    line = problem_line(out, val_stem(4))
    assert "bad annotation" in line and "LOC_val_solution.csv:5" in line


def test_non_utf8_csv_row_is_one_problem_naming_file_and_line(kaggle, tmp_path, capsys):
    set_row(kaggle, 2, row_of(kaggle, 2).encode() + b" \xff\xfe")
    out = completed(*run(capsys, kaggle, tmp_path / "o"), found=N, evaluated=N - 1)
    line = problem_line(out, val_stem(2))
    assert "LOC_val_solution.csv:3" in line and "UTF-8" in line


def test_non_utf8_csv_header_is_one_error_naming_file_and_line(kaggle, tmp_path, capsys):
    csv = kaggle / "LOC_val_solution.csv"
    csv.write_bytes(csv.read_text().encode("utf-16"))
    code, out, err = run(capsys, kaggle, tmp_path / "o")
    refused(code, out, err, "LOC_val_solution.csv:1", "UTF-8")


def test_csv_with_a_byte_order_mark_is_read(kaggle, tmp_path, capsys):
    csv = kaggle / "LOC_val_solution.csv"
    csv.write_bytes(b"\xef\xbb\xbf" + csv.read_bytes())
    completed(*run(capsys, kaggle, tmp_path / "o"), found=N, evaluated=N)


def test_non_utf8_blacklist_is_one_error_naming_file_and_line(base, tmp_path, capsys):
    bl = tmp_path / "blacklist.txt"
    bl.write_bytes(b"3\n\xff4\n")
    code, out, err = run(capsys, base["kaggle"], tmp_path / "o", "--blacklist", str(bl))
    refused(code, out, err, f"{bl}:2", "UTF-8")


# --------------------------------------------------------------------------- 3. no mixing
def test_another_root_into_the_same_out_is_refused(kaggle, base, tmp_path, capsys):
    out_dir = tmp_path / "o"
    completed(*run(capsys, kaggle, out_dir), found=N, evaluated=N)
    code, out, err = run(capsys, base["kaggle"], out_dir)
    refused(code, out, err, "data:", str(base["kaggle"].resolve()), "--restart", "--out")


OTHER_OPTIONS = [("--threshold", "0.25"), ("--precision", "bf16"), ("--boxes-at", "original"),
                 ("--guess-boxes", "all")]  # fmt: skip


@pytest.mark.parametrize("option", OTHER_OPTIONS)
def test_other_options_into_the_same_out_are_refused(base, tmp_path, capsys, option):
    out_dir = tmp_path / "o"
    completed(*run(capsys, base["kaggle"], out_dir, "--limit", "2"), found=2, evaluated=2)
    code, out, err = run(capsys, base["kaggle"], out_dir, "--limit", "2", *option)
    name = option[0].removeprefix("--").replace("-", "_")
    refused(code, out, err, f"{name}:", "--restart")


def test_default_out_differs_for_two_roots_with_the_same_name(base, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = Path(shutil.copytree(base["kaggle"], tmp_path / "a" / "val"))
    b = Path(shutil.copytree(base["kaggle"], tmp_path / "b" / "val"))
    set_row(b, 1, row_of(b, 2))  # b's first image has other boxes: its results differ
    first = completed(*run(capsys, a, None), found=N, evaluated=N)
    second = completed(*run(capsys, b, None), found=N, evaluated=N)
    assert "read back" not in second
    files = [re.search(r"per-image results: (\S+)", text).group(1) for text in (first, second)]
    assert files[0] != files[1]
    for f in files:
        assert (tmp_path / f).resolve().parent.parent == tmp_path / "camutils-runs"
    again = completed(*run(capsys, a, None), found=N, evaluated=N)
    assert f"{N} images read back" in again


def test_a_second_run_on_a_locked_out_fails_at_once_naming_the_holder(base, tmp_path, capsys):
    out_dir = tmp_path / "o"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom camutils.evaluate import lock_out_dir\n"
         "with lock_out_dir(sys.argv[1]):\n    print('locked', flush=True)\n    sys.stdin.read()\n",
         str(out_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.perf_counter()
        code, out, err = run(capsys, base["kaggle"], out_dir)
        refused(code, out, err, str(out_dir), f"pid {holder.pid}")
        assert time.perf_counter() - t0 < 5
        assert "ILSVRC val" not in out
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    completed(*run(capsys, base["kaggle"], out_dir), found=N, evaluated=N)  # free again


def test_duplicate_csv_row_is_a_problem(kaggle, tmp_path, capsys):
    with open(kaggle / "LOC_val_solution.csv", "a") as f:
        f.write(f"{val_stem(5)},{row_of(kaggle, 5)}\n")
    out = completed(*run(capsys, kaggle, tmp_path / "o"), found=N, evaluated=N - 1)
    line = problem_line(out, val_stem(5))
    assert "bad annotation" in line and "LOC_val_solution.csv:6" in line and "second row" in line


def test_two_files_for_one_image_are_a_problem(kaggle, tmp_path, capsys):
    folder = kaggle / KAGGLE_IMAGES
    shutil.copy(folder / f"{val_stem(2)}.JPEG", folder / f"{val_stem(2)}.jpg")
    out = completed(*run(capsys, kaggle, tmp_path / "o"), found=N, evaluated=N - 1)
    line = problem_line(out, val_stem(2))
    assert "duplicate image" in line and ".jpg" in line and ".JPEG" in line


@pytest.mark.parametrize("where", ["negative", "beyond width", "beyond height", "xmin > xmax"])
def test_box_outside_the_image_is_a_problem(kaggle, tmp_path, capsys, where):
    w, h = image_size(kaggle / KAGGLE_IMAGES / f"{val_stem(1)}.JPEG")
    wnid = row_of(kaggle, 1).split()[0]
    box = {"negative": (-5, 0, 10, 10), "beyond width": (0, 0, w, h - 1),
           "beyond height": (0, 0, w - 1, h), "xmin > xmax": (30, 0, 10, 10)}[where]  # fmt: skip
    set_row(kaggle, 1, f"{wnid} {' '.join(map(str, box))}")
    out = completed(*run(capsys, kaggle, tmp_path / "o"), found=N, evaluated=N - 1)
    assert "bad annotation" in problem_line(out, val_stem(1))


def test_box_on_the_last_pixel_is_fine(kaggle, tmp_path, capsys):
    w, h = image_size(kaggle / KAGGLE_IMAGES / f"{val_stem(1)}.JPEG")
    wnid = row_of(kaggle, 1).split()[0]
    set_row(kaggle, 1, f"{wnid} 0 0 {w - 1} {h - 1}")
    completed(*run(capsys, kaggle, tmp_path / "o"), found=N, evaluated=N)


# --------------------------------------------------------------------------- 4. pixel bombs
@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_image_over_the_pixel_limit_is_refused_before_decoding(kaggle, tmp_path, capsys, kind):
    path = kaggle / KAGGLE_IMAGES / f"{val_stem(3)}.JPEG"
    path.write_bytes(big_jpeg(4000, 3000) if kind == "jpeg" else big_png(4000, 3000))
    out = completed(
        *run(capsys, kaggle, tmp_path / "o", "--max-pixels", "1000000"), found=N, evaluated=N - 1
    )
    line = problem_line(out, val_stem(3))
    assert "unreadable image" in line and "3000 x 4000" in line and "1,000,000" in line


def test_default_pixel_limit_refuses_a_20000_square_jpeg(kaggle, tmp_path, capsys):
    path = kaggle / KAGGLE_IMAGES / f"{val_stem(3)}.JPEG"
    path.write_bytes(big_jpeg(20000, 20000))
    assert path.stat().st_size < 1000
    out = completed(*run(capsys, kaggle, tmp_path / "o"), found=N, evaluated=N - 1)
    assert "20000 x 20000" in problem_line(out, val_stem(3))


# --------------------------------------------------------------------------- 5. results file
def test_broken_line_in_results_is_reported_and_redone(kaggle, tmp_path, capsys):
    out_dir = tmp_path / "o"
    first = completed(*run(capsys, kaggle, out_dir), found=N, evaluated=N)
    results = out_dir / "results.jsonl"
    lines = results.read_text().splitlines(keepends=True)
    lines[2] = '{"stem": "ILSVRC2012_val_0000\n'
    lines[4] = "[1, 2]\n"  # valid JSON, not a result
    results.write_text("".join(lines))
    code, out, err = run(capsys, kaggle, out_dir)
    again = completed(code, out, err, found=N, evaluated=N)
    assert f"{results}:3" in out + err and f"{results}:5" in out + err
    assert f"{N - 2} images read back" in again
    row = [ln for ln in first.splitlines() if ", CAM (" in ln]
    assert row and row[0] in again.splitlines()
    stems = [json.loads(t)["stem"] for t in results.read_text().splitlines()]
    assert sorted(stems) == [val_stem(i) for i in range(1, N + 1)]


# --------------------------------------------------------------------------- 6. Ctrl-C
def test_ctrl_c_keeps_the_results_and_says_how_to_resume(tmp_path, capsys):
    root = make_synthetic_val(tmp_path / "big", 80, layout="kaggle", special=False, unique=2).root
    out_dir = tmp_path / "o"
    args = ["evaluate", "--data", str(root), "--out", str(out_dir), "--workers", "0",
            "--device", "cpu", "--no-progress", "--batch-size", "1", "--threads", "1"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "camutils", *args, "--restart"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    results = out_dir / "results.jsonl"
    deadline = time.monotonic() + 120
    while not (results.is_file() and results.stat().st_size) and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    kept = int(re.search(r"(\d+) images kept in (\S+);", lines[0]).group(1))
    assert f"kept in {results}" in lines[0]
    assert "python -m camutils evaluate" in lines[0] and "--restart" not in lines[0]
    assert 1 <= kept < 80 and len(results.read_text().splitlines()) == kept
    code = main(args)  # the same command again (without --restart)
    text = capsys.readouterr().out
    assert code == 0 and f"{kept} images read back" in text
    assert "80 images found, 80 evaluated, 0 skipped" in text


# --------------------------------------------------------------------------- 7. file names
def test_non_utf8_names_print_under_a_strict_utf8_terminal(base, tmp_path):
    root = Path(os.fsdecode(os.fsencode(tmp_path) + b"/val\xff"))
    shutil.copytree(base["kaggle"], root)
    odd = root / KAGGLE_IMAGES / os.fsdecode(b"ILSVRC2012_val_000000\xfe9.JPEG")
    shutil.copy(root / KAGGLE_IMAGES / f"{val_stem(1)}.JPEG", odd)
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict")
    proc = subprocess.run(
        [sys.executable, "-m", "camutils", "evaluate", "--data", str(root), "--out",
         str(tmp_path / "o"), "--workers", "0", "--device", "cpu", "--no-progress", "--problems"],
        capture_output=True, env=env, cwd=REPO, timeout=300,
    )  # fmt: skip
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "val\\xff" in out and "ILSVRC2012_val_000000\\xfe9: missing annotation" in out


# --------------------------------------------------------------------------- 8. XML entities
@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE annotation [<!ENTITY w "{wnid}">]>',
        '<!DOCTYPE annotation [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY w "&c;&c;&c;&c;&c;&c;&c;&c;">]>',
        '<!DOCTYPE annotation [<!ENTITY w SYSTEM "file:///etc/hostname">]>',
    ],
    ids=["internal", "laughs", "external"],
)
def test_xml_entities_are_refused_as_a_problem(devkit, tmp_path, capsys, doctype):
    xml = devkit / DEVKIT_XML / f"{val_stem(4)}.xml"
    text = xml.read_text()
    wnid = re.search(r"<name>(n\d+)</name>", text).group(1)
    xml.write_text(
        doctype.format(wnid=wnid) + text.replace(f"<name>{wnid}</name>", "<name>&w;</name>")
    )
    out = completed(*run(capsys, devkit, tmp_path / "o"), found=N, evaluated=N - 1)
    line = problem_line(out, val_stem(4))
    assert "bad annotation" in line and xml.name in line and "entit" in line.lower()


def test_readme_option_table_matches_the_command_line(capsys):
    """Every option in the README's table exists, and the defaults it quotes are the parser's."""
    from camutils.decode import MAX_PIXELS

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(--[a-z-]+)` \| ([^|]+) \|", readme, flags=re.M)
    assert len(rows) >= 8
    assert main(["evaluate", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    for option, _ in rows:
        assert option in help_text, option
    defaults = {option: default.strip() for option, default in rows}
    assert defaults["--threshold"] == "0.2"
    assert defaults["--max-pixels"] == f"{MAX_PIXELS:,}" and f"{MAX_PIXELS:,}" in help_text
    out_default = "camutils-runs/MODEL__DATA-HASH"  # argparse may wrap the help at its hyphens
    assert out_default in readme and out_default in help_text.replace("- ", "-")
