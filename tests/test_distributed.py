"""torchrun sharding: every image exactly once, the totals and the printed rows of 2 CPU
processes (gloo) equal a single process's exactly, resume shard by shard, meters summed
before their maximum."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from camutils.__main__ import main
from camutils.distributed import Shard, shard_dirs
from camutils.synthetic import make_synthetic_val

ROOT = Path(__file__).resolve().parent.parent


def torchrun(args: list[str], nproc: int = 2, timeout: int = 300) -> str:
    """Run ``torchrun --standalone --nproc-per-node nproc`` and return its stdout."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", *args]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def table_rows(text: str) -> list[str]:
    """The measured rows, the counts line and the skipped images of the command's report."""
    keep = re.compile(r"^(efficientnet_lite0, CAM|\d+ images found|  ILSVRC2012_val_)")
    return [ln for ln in text.splitlines() if keep.match(ln)]


def test_shards_take_every_image_exactly_once():
    for n in (0, 1, 5, 14):
        for world in (1, 2, 3, 7):
            parts = [Shard(r, world).take(list(range(n))) for r in range(world)]
            assert sorted(sum(parts, [])) == list(range(n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert [p.name for p in shard_dirs(Path("x"), 1)] == ["x"]
    with pytest.raises(ValueError, match=r"rank must lie in \[0, world_size\); found rank 2 of 2"):
        Shard(2, 2)


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    root = tmp_path_factory.mktemp("val")
    return make_synthetic_val(root, 14, layout="devkit", seed=1, blacklist=[8, 11])


def test_torchrun_two_processes_print_the_single_process_rows_and_resume_per_shard(
    syn, tmp_path, capsys
):
    common = ["evaluate", "--data", str(syn.root), "--workers", "0", "--device", "cpu",
              "--no-progress", "--batch-size", "4"]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    single = table_rows(capsys.readouterr().out)
    assert any("blacklist out" in ln for ln in single)  # both rows, and the skipped images
    assert "14 images found, 12 evaluated, 2 skipped" in "\n".join(single)

    out = tmp_path / "two"
    text = torchrun(["-m", "camutils", *common, "--out", str(out)])
    assert table_rows(text) == single
    assert text.count("GoogLeNet-GAP (paper)") == 1  # rank 0 alone prints
    files = [d / "results.jsonl" for d in shard_dirs(out, 2)]
    n_lines = [len(f.read_text().splitlines()) for f in files]
    assert n_lines == [7, 7]  # images 0, 2, 4, ... and 1, 3, 5, ...: each exactly once

    # an interruption that left shard 1 with two lines: that shard alone is done again
    lines = files[1].read_text().splitlines(keepends=True)
    files[1].write_text("".join(lines[:2]))
    again = torchrun(["-m", "camutils", *common, "--out", str(out)])
    assert table_rows(again) == single
    assert "9 images read back from an earlier run" in again
    assert [len(f.read_text().splitlines()) for f in files] == [7, 7]


METERS = """
import torch, torch.distributed as dist
from camutils.metrics import LocalizationMeter, MaxBoxAccMeter

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
g = torch.Generator().manual_seed(0)
n = 11
classes = torch.randint(0, 4, (n, 5), generator=g)
labels = torch.randint(0, 4, (n,), generator=g)
xy = torch.randint(0, 20, (n, 5, 2), generator=g)
boxes = torch.cat([xy, xy + torch.randint(1, 20, (n, 5, 2), generator=g)], dim=-1)
gt = boxes[:, :1] + torch.randint(-3, 4, (n, 1, 4), generator=g).clamp_min(0)
valid = torch.ones(n, 1, dtype=torch.bool)
black = torch.rand(n, generator=g) < 0.3
cams = torch.rand(n, 1, 12, 12, generator=g)
gt_maps = torch.tensor([[[2, 2, 8, 9]]]).expand(n, 1, 4)

def meters(idx):
    loc = LocalizationMeter()
    loc.update(classes[idx], boxes[idx], labels[idx], gt[idx], valid[idx], boxes[idx, 0], black[idx])
    mba = MaxBoxAccMeter(iou_thresholds=(0.3, 0.5, 0.7), box_rule="paper")
    mba.update(cams[idx], gt_maps[idx], valid[idx])
    return loc, mba

whole = meters(torch.arange(n))
part = meters(torch.arange(rank, n, world))
for m in part:
    m.all_reduce()
a, b = whole[0].compute(), part[0].compute()
ok = a == b
a, b = whole[1].compute(), part[1].compute()
ok = ok and torch.equal(a["accuracy"], b["accuracy"]) and a["best"] == b["best"]
ok = ok and a["best_threshold"] == b["best_threshold"]
if rank == 0:
    print("METERS EQUAL" if ok else f"METERS DIFFER {a} {b}")
dist.destroy_process_group()
"""


def test_meters_summed_over_processes_equal_one_meter(tmp_path):
    """LocalizationMeter's counts and MaxBoxAcc's curve, summed over 2 processes (the curve
    before its maximum is taken), equal one meter that saw every image."""
    script = tmp_path / "meters.py"
    script.write_text(textwrap.dedent(METERS))
    assert "METERS EQUAL" in torchrun([str(script)])


def test_meter_all_reduce_needs_a_process_group():
    from camutils.metrics import LocalizationMeter

    if torch.distributed.is_initialized():  # pragma: no cover
        pytest.skip("a process group is already initialised")
    with pytest.raises((RuntimeError, ValueError)):
        LocalizationMeter().all_reduce()
