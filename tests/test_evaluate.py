"""The batched localization pipeline: every image accounted for, IoU against every box, resume,
boxes against direct upsampling, a per-image reference, and the command line."""

import json
import math
import os
import re
import shutil
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from PIL import Image

from camutils.__main__ import main
from camutils.boxes import largest_component_boxes
from camutils.cam import class_activation_maps, upsample_cams
from camutils.evaluate import (
    PAPER_TABLE2,
    EvaluationInterrupted,
    ResumeRefused,
    cam_boxes,
    evaluate,
    format_table,
    lock_out_dir,
    per_class,
    per_size,
    read_results,
    scan_results,
    worst_misses,
)
from camutils.ilsvrc import decode_image, open_ilsvrc
from camutils.loader import (
    ImageReader,
    ThreadedBatches,
    batch_loader,
    collate_items,
    default_workers,
    prepare_batch,
)
from camutils.metrics import box_iou
from camutils.models import CAMModel, Preprocess, imagenet_classes
from camutils.preprocess import boxes_to_original
from camutils.samples import data_dir
from camutils.step import StepSettings, topk_boxes
from camutils.synthetic import make_synthetic_val


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: the connected-component search makes many short parallel regions,
    which stall when the machine's cores are busy with other work (the CI runs tests alongside
    notebooks); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_model() -> CAMModel:
    """A random GAP network with 7x7 features and ImageNet's 1000 classes: fast, deterministic."""
    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(3, 16, 32, stride=32), nn.ReLU())
    head = nn.Linear(16, 1000)
    wnids, names = imagenet_classes()
    return CAMModel(body, head, "avg", names, wnids, Preprocess(224), name="tiny").eval()


@pytest.fixture(scope="module")
def model() -> CAMModel:
    return tiny_model()


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    root = tmp_path_factory.mktemp("val")
    return make_synthetic_val(root, 14, layout="devkit", seed=1, blacklist=[8, 11])


@pytest.fixture(scope="module")
def full_run(model, syn, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return evaluate(model, syn.root, out, batch_size=4, num_workers=0, device="cpu", progress=False)


@pytest.fixture(scope="module")
def all_run(model, syn, tmp_path_factory):
    """The same run with a box for each of the top-5 guesses."""
    out = tmp_path_factory.mktemp("all")
    return evaluate(model, syn.root, out, batch_size=4, num_workers=0, device="cpu",
                    progress=False, guess_boxes="all")  # fmt: skip


def _slow_iou(a, b) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    inter = max(iw, 0) * max(ih, 0)
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


# --------------------------------------------------------------------------- accounting
def test_every_image_has_one_line_and_problems_are_counted(full_run, syn):
    lines = full_run.lines()
    assert sorted(ln["stem"] for ln in lines) == [r.stem for r in open_ilsvrc(syn.root)]
    status = {ln["stem"]: ln["status"] for ln in lines}
    assert status[syn.special["corrupt"]] == "unreadable image"
    assert status[syn.special["missing_annotation"]] == "missing annotation"
    for kind in ("grayscale", "cmyk", "png_named_jpeg", "multi_box"):
        assert status[syn.special[kind]] == "ok"
    c = full_run.counts
    assert (c["found"], c["evaluated"], c["skipped"]) == (14, 12, 2)
    assert c["unreadable image"] == 1 and c["missing annotation"] == 1
    assert full_run.metrics["images"] == 12
    assert [s for s, _ in full_run.problems] == [
        syn.special["corrupt"],
        syn.special["missing_annotation"],
    ]


def test_iou_against_every_gt_box_matches_a_slow_loop(all_run, syn):
    records = {r.stem: r for r in open_ilsvrc(syn.root)}
    multi = 0
    for ln in all_run.lines():
        if ln["status"] != "ok":
            continue
        r = records[ln["stem"]]
        multi += len(r.boxes) > 1
        h, w = ln["size"]
        for box, iou in zip(ln["boxes"], ln["iou"], strict=True):
            assert 0 <= box[0] <= box[2] < w and 0 <= box[1] <= box[3] < h
            assert iou == pytest.approx(max(_slow_iou(box, g) for g in r.boxes), abs=1e-4)
        gk = max(_slow_iou(ln["gt_box"], g) for g in r.boxes)
        assert ln["gt_known_iou"] == pytest.approx(gk, abs=1e-4)
        assert ln["gt_known"] == (gk >= 0.5)
        correct = [c == r.label and i >= 0.5 for c, i in zip(ln["classes"], ln["iou"], strict=True)]
        assert ln["top1_loc"] == correct[0] and ln["top5_loc"] == any(correct)
        assert ln["top1_cls"] == (ln["classes"][0] == r.label)
        assert ln["top5_cls"] == (r.label in ln["classes"])
    assert multi >= 1


def test_true_class_box_alone_gives_the_same_errors_as_all_boxes(full_run, all_run):
    assert full_run.metrics == all_run.metrics
    assert full_run.metrics_clean == all_run.metrics_clean
    fast = {ln["stem"]: ln for ln in full_run.lines()}
    keys = ("status", "classes", "gt_box", "gt_known_iou", "gt_known", "top1_loc", "top5_loc",
            "top1_cls", "top5_cls")  # fmt: skip
    for ln in all_run.lines():
        assert {k: ln.get(k) for k in keys} == {k: fast[ln["stem"]].get(k) for k in keys}
        if ln["status"] == "ok":
            assert fast[ln["stem"]]["boxes"] is None and ln["boxes"] is not None
            for c, box in zip(ln["classes"], ln["boxes"], strict=True):
                if c == ln["label"]:  # the guess of the true class has the true class's box
                    assert box == ln["gt_box"]


def test_totals_are_the_per_image_flags_averaged(full_run):
    ok = [ln for ln in full_run.lines() if ln["status"] == "ok"]
    n = len(ok)
    m = full_run.metrics
    for key, flag in [("top1_loc_error", "top1_loc"), ("top5_loc_error", "top5_loc"),
                      ("top1_cls_error", "top1_cls"), ("top5_cls_error", "top5_cls")]:  # fmt: skip
        assert m[key] == pytest.approx(100.0 * sum(not x[flag] for x in ok) / n)
    assert m["gt_known_loc_acc"] == pytest.approx(100.0 * sum(x["gt_known"] for x in ok) / n)


def test_blacklist_reported_with_and_without(full_run):
    ok = [ln for ln in full_run.lines() if ln["status"] == "ok"]
    clean = [x for x in ok if not x["blacklisted"]]
    assert len(clean) == len(ok) - 2
    mc = full_run.metrics_clean
    assert mc["loc_images"] == len(clean) and mc["images"] == len(ok)
    assert mc["top1_loc_error"] == pytest.approx(
        100.0 * sum(not x["top1_loc"] for x in clean) / len(clean)
    )
    # classification counts every image, the devkit's rule
    assert mc["top1_cls_error"] == full_run.metrics["top1_cls_error"]
    table = format_table(full_run)
    assert "tiny, CAM (12 images)" in table and "tiny, CAM, blacklist out (10 images)" in table


# --------------------------------------------------------------------------- resume
def _same_lines(a, b):
    key = lambda ln: ln["stem"]  # noqa: E731
    assert sorted(a, key=key) == sorted(b, key=key)


def test_interrupted_run_resumes_to_the_same_totals(model, syn, full_run, tmp_path):
    out = tmp_path / "run"
    first = evaluate(model, syn.root, out, batch_size=4, num_workers=0, device="cpu",
                     progress=False, max_batches=2)  # fmt: skip
    assert first.processed == 8 and len(read_results(out)) == 8
    second = evaluate(
        model, syn.root, out, batch_size=4, num_workers=0, device="cpu", progress=False
    )
    assert second.resumed == 8 and second.processed == 6
    assert second.metrics == full_run.metrics
    assert second.metrics_clean == full_run.metrics_clean
    assert second.counts == full_run.counts
    _same_lines(read_results(out), full_run.lines())
    # nothing left: a third call only reads back
    third = evaluate(
        model, syn.root, out, batch_size=4, num_workers=0, device="cpu", progress=False
    )
    assert third.processed == 0 and third.metrics == full_run.metrics


def test_a_line_cut_by_the_interruption_is_redone(model, syn, full_run, tmp_path):
    out = tmp_path / "cut"
    shutil.copytree(full_run.out_dir, out)
    text = (out / "results.jsonl").read_text()
    lines = text.splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(lines[:5]) + lines[5][:30])  # killed mid-write
    again = evaluate(
        model, syn.root, out, batch_size=4, num_workers=0, device="cpu", progress=False
    )
    assert again.resumed == 5 and again.processed == 9
    assert again.metrics == full_run.metrics
    _same_lines(read_results(out), full_run.lines())


def test_resuming_with_other_settings_is_refused(model, syn, full_run, tmp_path):
    out = tmp_path / "other"
    shutil.copytree(full_run.out_dir, out)
    with pytest.raises(ValueError, match="threshold: 0.2 there, 0.3 now"):
        evaluate(model, syn.root, out, threshold=0.3, num_workers=0, device="cpu", progress=False)
    fresh = evaluate(model, syn.root, out, threshold=0.3, num_workers=0, device="cpu",
                     progress=False, restart=True)  # fmt: skip
    assert fresh.resumed == 0 and fresh.counts["evaluated"] == 12


def test_broken_lines_in_the_middle_are_set_aside_and_redone(model, syn, full_run, tmp_path):
    out = tmp_path / "broken"
    shutil.copytree(full_run.out_dir, out)
    results = out / "results.jsonl"
    lines = results.read_bytes().splitlines(keepends=True)
    lines[1] = b'{"stem": "ILSVRC2012_val_000\n'  # cut by a crash, then appended to
    lines[3] = b"\xff\xfe not even text\n"
    ok = next(i for i in range(4, len(lines)) if b'"status":"ok"' in lines[i])
    lines[ok] = lines[ok].replace(b'"classes":[', b'"classes":["x",')  # JSON, not a result
    results.write_bytes(b"".join(lines))
    scan = scan_results(out)
    assert [n for n, _ in scan.broken] == [2, 4] and len(scan.lines) == len(lines) - 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(read_results(out)) == len(lines) - 2
    said = [str(w.message) for w in caught]
    assert len(said) == 2 and said[0].startswith(f"{results}:2: not JSON (JSONDecodeError")
    assert said[1].startswith(f"{results}:4: not JSON (UnicodeDecodeError: 'utf-8' codec")
    again = evaluate(model, syn.root, out, batch_size=4, num_workers=0, device="cpu",
                     progress=False)  # fmt: skip
    assert again.resumed == len(lines) - 3 and again.processed == 3
    assert again.metrics == full_run.metrics and again.counts == full_run.counts
    notes = [n for n in again.notes if "moved to results.broken.jsonl" in n]
    assert [n.split(": ", 1)[0] for n in notes] == [f"{results}:{i}" for i in (2, 4, ok + 1)]
    assert len((out / "results.broken.jsonl").read_bytes().splitlines()) == 3
    assert not scan_results(out).broken  # set aside: not reported again
    _same_lines(read_results(out), full_run.lines())


def test_resuming_another_data_root_is_refused(model, syn, full_run, tmp_path):
    other = shutil.copytree(syn.root, tmp_path / "copy")
    with pytest.raises(ResumeRefused, match=f"data: '{syn.root.resolve()}' there, '{other}' now"):
        evaluate(model, other, full_run.out_dir, num_workers=0, device="cpu", progress=False)


def test_resuming_with_another_decoder_is_refused(model, syn, tmp_path):
    """Decoders agree within a tolerance, not bit for bit: a run decoded by the CPU readers is
    not carried on by a device decoder (nor with a CPU share), and the refusal says so."""
    out = tmp_path / "dec"
    kw = dict(batch_size=4, num_workers=0, device="cpu", progress=False)
    evaluate(model, syn.root, out, max_batches=1, **kw)
    with pytest.raises(ResumeRefused, match="decoding: 'cpu' there, 'torchvision' now"):
        evaluate(model, syn.root, out, decode_on_device=True, **kw)
    with pytest.raises(ResumeRefused, match="'torchvision \\+ cpu 0.5' now"):
        evaluate(model, syn.root, out, decode_on_device=True, cpu_decode_share=0.5, **kw)
    assert evaluate(model, syn.root, out, **kw).resumed == 4


def test_results_without_their_run_file_are_not_resumed(model, syn, full_run, tmp_path):
    out = tmp_path / "orphan"
    shutil.copytree(full_run.out_dir, out)
    (out / "run.json").unlink()
    with pytest.raises(ResumeRefused, match="without its run.json"):
        evaluate(model, syn.root, out, num_workers=0, device="cpu", progress=False)
    (out / "run.json").write_text("{not json")
    with pytest.raises(ResumeRefused, match="run.json that cannot be read"):
        evaluate(model, syn.root, out, num_workers=0, device="cpu", progress=False)


def test_the_out_lock_is_reentrant_within_a_process(tmp_path):
    with lock_out_dir(tmp_path / "o") as out, lock_out_dir(out):
        assert (out / "run.lock").read_text().strip() == str(os.getpid())
    with lock_out_dir(tmp_path / "o"):  # released
        pass


@pytest.mark.parametrize(("option", "value"), [("batch_size", 0), ("num_workers", -1),
                         ("threshold", float("nan")), ("max_pixels", 0)])  # fmt: skip
def test_settings_that_would_be_replaced_or_fail_later_are_refused(
    model, syn, tmp_path, option, value
):
    with pytest.raises(ValueError, match=option):
        evaluate(model, syn.root, tmp_path, device="cpu", progress=False, **{option: value})


class _InterruptAt(nn.Module):
    """A body that raises KeyboardInterrupt (as Ctrl-C does) at its n-th call."""

    def __init__(self, body: nn.Module, n: int) -> None:
        super().__init__()
        self.body, self.n, self.calls = body, n, 0

    def forward(self, x):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return self.body(x)


def test_ctrl_c_keeps_the_batches_written_and_resumes(syn, full_run, tmp_path):
    m = tiny_model()
    m.body = _InterruptAt(m.body, 3)
    out = tmp_path / "ctrl-c"
    with pytest.raises(EvaluationInterrupted) as e:
        evaluate(m, syn.root, out, batch_size=4, num_workers=0, device="cpu", progress=False)
    assert isinstance(e.value, KeyboardInterrupt)
    kept = len(read_results(out))
    assert e.value.kept == kept and e.value.results_file == out / "results.jsonl"
    assert kept == 4  # batch 1 written; batch 2 was computed when batch 3's forward stopped
    again = evaluate(tiny_model(), syn.root, out, batch_size=4, num_workers=0, device="cpu",
                     progress=False)  # fmt: skip
    assert again.resumed == kept and again.metrics == full_run.metrics
    with lock_out_dir(out):  # the interruption released the lock
        pass


@pytest.mark.parametrize("on_device", [False, True])
def test_images_over_max_pixels_are_unreadable_problems_on_both_paths(model, syn, full_run,
                                                                      tmp_path, on_device):  # fmt: skip
    limit = 500 * 334
    r = evaluate(model, syn.root, tmp_path / "px", batch_size=4, num_workers=0, device="cpu",
                 progress=False, decode_on_device=on_device, max_pixels=limit)  # fmt: skip
    big = {s for s, d in r.problems if "over the limit of 167,000" in d}
    declared = {}
    for rec in open_ilsvrc(syn.root):
        if rec.problem is None:
            with Image.open(rec.image) as im:  # the header only
                declared[rec.stem] = im.width * im.height
    assert big and big == {s for s, n in declared.items() if n > limit}
    assert r.counts["unreadable image"] == len(big | {syn.special["corrupt"]})
    assert r.counts["evaluated"] == full_run.counts["evaluated"] - len(
        big - {syn.special["corrupt"]}
    )


@pytest.mark.parametrize("on_device", [False, True])
def test_boxes_outside_the_image_are_bad_annotations_on_both_paths(model, syn, tmp_path,
                                                                   on_device):  # fmt: skip
    root = Path(shutil.copytree(syn.root, tmp_path / "val"))
    val = open_ilsvrc(root)
    ok = [r for r in val if r.problem is None]
    xml = root / "ILSVRC2012_bbox_val_v3" / "val" / f"{ok[0].stem}.xml"
    h, w = ok[0].size
    text = re.sub(r"<xmax>\d+</xmax>", f"<xmax>{w}</xmax>", xml.read_text(), count=1)
    xml.write_text(text)
    r = evaluate(model, root, tmp_path / "o", num_workers=0, device="cpu", progress=False,
                 decode_on_device=on_device)  # fmt: skip
    reason = dict(r.problems)[ok[0].stem]
    assert reason.startswith("bad annotation: box") and f"outside the {w} x {h} image" in reason
    assert r.counts["bad annotation"] == 1


def test_a_model_with_another_class_order_gets_its_own_indices(syn, tmp_path):
    m = tiny_model()
    m.wnids = m.wnids[::-1]
    r = evaluate(
        m, syn.root, tmp_path / "rev", num_workers=0, device="cpu", progress=False, limit=3
    )
    records = {x.stem: x for x in open_ilsvrc(syn.root)}
    for ln in r.lines():
        if ln["status"] == "ok":
            assert ln["label"] == 999 - records[ln["stem"]].label
            assert m.wnids[ln["label"]] == records[ln["stem"]].wnid


# --------------------------------------------------------------------------- data paths
def test_device_decode_path_and_workers_give_identical_lines(model, syn, full_run, tmp_path):
    """The GPU's data path (bytes from the workers, decode + per-size resize in the main
    process, a background thread) run here with libjpeg, and 2 worker processes."""
    r = evaluate(model, syn.root, tmp_path / "dev", batch_size=5, num_workers=2, device="cpu",
                 progress=False, decode_on_device=True)  # fmt: skip
    _same_lines(r.lines(), full_run.lines())
    assert r.metrics == full_run.metrics


def test_worker_processes_and_reading_threads_give_identical_lines(model, syn, full_run, tmp_path):
    """The CPU's default (images read by threads of this process, in turn with the network; one
    thread in this module) against one worker process and against three reading threads."""
    r = evaluate(model, syn.root, tmp_path / "w1", batch_size=5, num_workers=1, device="cpu",
                 progress=False)  # fmt: skip
    _same_lines(r.lines(), full_run.lines())
    torch.set_num_threads(3)
    try:
        r3 = evaluate(model, syn.root, tmp_path / "t3", batch_size=5, num_workers=0,
                      device="cpu", progress=False)  # fmt: skip
    finally:
        torch.set_num_threads(1)
    _same_lines(r3.lines(), full_run.lines())
    assert r.metrics == r3.metrics == full_run.metrics


def test_threaded_batches_keep_order_read_ahead_once_and_raise(model, syn):
    """Reading threads hand the images back in order, batch by batch; read_ahead twice reads
    the next batch once; an error in a thread reaches the caller, and the pool stops."""
    records = open_ilsvrc(syn.root).records
    reader = ImageReader(records, model.preprocess, on_device=False)
    batches = ThreadedBatches(reader, 4, threads=3)
    got = []
    for b in batches:
        got += [it.index for it in b.items]
        batches.read_ahead()
        batches.read_ahead()
    assert got == list(range(len(records)))
    assert [len(b.items) for b in batch_loader(reader, 4, 0, threads=2)] == [4, 4, 4, 2]
    assert list(batch_loader(ImageReader([], model.preprocess, False), 4, 0)) == []

    class Broken(ImageReader):
        def __getitem__(self, i):
            if i == 5:
                raise RuntimeError("disk gone")
            return super().__getitem__(i)

    broken = ThreadedBatches(Broken(records, model.preprocess, False), 4, threads=2)
    next(broken)
    with pytest.raises(RuntimeError, match="disk gone"):
        next(broken)
    with pytest.raises(RuntimeError, match="shutdown"):
        broken.pool.submit(print)
    assert default_workers("cpu") == 0


def test_reading_threads_leave_the_thread_count_as_it_was(model, syn):
    """The reading threads take one intra-op thread each; afterwards this thread, and threads
    started later, have the count from before."""
    import threading

    reader = ImageReader(open_ilsvrc(syn.root).records, model.preprocess, on_device=False)
    torch.set_num_threads(3)
    try:
        for _ in ThreadedBatches(reader, 4, threads=2):
            pass
        seen = []
        t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        t.start()
        t.join()
        assert torch.get_num_threads() == 3 and seen == [3]
    finally:
        torch.set_num_threads(1)
    assert default_workers("meta") == max(0, min(8, (os.cpu_count() or 1) - 1))


@pytest.mark.parametrize("decoder", ["torchvision", "torchcodec"])
def test_each_device_decoder_and_a_cpu_share_give_the_cpu_lines(
    model, syn, full_run, tmp_path, decoder
):
    """The device path with each decoder that runs on a CPU (libjpeg under both), half of the
    JPEGs decoded by the workers instead: the same lines as the CPU path."""
    from camutils.decode import device_decoder_works

    if not device_decoder_works(torch.device("cpu"), decoder):
        pytest.skip(f"{decoder} is not installed here")
    r = evaluate(model, syn.root, tmp_path / decoder, batch_size=5, num_workers=0, device="cpu",
                 progress=False, decode_on_device=True, decoder=decoder,
                 cpu_decode_share=0.5)  # fmt: skip
    _same_lines(r.lines(), full_run.lines())
    assert r.metrics == full_run.metrics
    reader = ImageReader(open_ilsvrc(syn.root).records, model.preprocess, True, cpu_share=0.5)
    kinds = [reader[i].kind for i in range(len(reader))]
    assert kinds.count("encoded") and kinds.count("decoded") >= kinds.count("encoded") - 1


def test_decoder_arguments_are_checked(model, syn, tmp_path):
    with pytest.raises(ValueError, match="decoder must be 'auto' or one of nvimgcodec, dali"):
        evaluate(model, syn.root, tmp_path / "x", device="cpu", decoder="nvjpeg", progress=False)
    with pytest.raises(ValueError, match="cpu_decode_share must lie between 0 and 1; found 2"):
        evaluate(model, syn.root, tmp_path / "y", device="cpu", cpu_decode_share=2, progress=False)
    with pytest.raises(ValueError, match="decoder 'dali' does not decode JPEGs on cpu here"):
        evaluate(model, syn.root, tmp_path / "z", device="cpu", decode_on_device=True,
                 decoder="dali", progress=False, num_workers=0)  # fmt: skip


def test_prepare_groups_sizes_and_matches_the_worker_resize(model, syn):
    val = open_ilsvrc(syn.root)
    recs = [x for x in val if x.problem is None]
    on_cpu = ImageReader(recs, model.preprocess, on_device=False)
    on_dev = ImageReader(recs, model.preprocess, on_device=True)
    kinds = {on_dev[i].kind for i in range(len(recs))}
    assert kinds == {"encoded", "decoded", "failed"}  # grayscale/CMYK/PNG decoded by workers
    cpu = torch.device("cpu")
    a = prepare_batch([on_cpu[i] for i in range(len(recs))], cpu, model.preprocess)
    b = prepare_batch([on_dev[i] for i in range(len(recs))], cpu, model.preprocess)
    # as it comes from a worker: bytes packed in one tensor, resized images stacked
    packed = collate_items([on_dev[i] for i in range(len(recs))])
    assert packed.packed is not None and all(
        it.data is None for it in packed.items if it.kind == "encoded"
    )
    c = prepare_batch(packed, cpu, model.preprocess)
    d = prepare_batch(collate_items([on_cpu[i] for i in range(len(recs))]), cpu, model.preprocess)
    for x in (b, c, d):
        assert a.indices == x.indices and a.sizes == x.sizes and a.failed == x.failed
        assert torch.equal(a.images, x.images)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_pipeline_agrees_with_the_cpu(model, syn, full_run, tmp_path):
    """nvJPEG decoding, GPU resize, side-stream forward, GPU boxes: same images accounted for,
    same classes (fp32 here), boxes as close as two JPEG decoders allow."""
    r = evaluate(tiny_model(), syn.root, tmp_path / "cuda", batch_size=4, num_workers=2,
                 device="cuda", precision="fp32", progress=False)  # fmt: skip
    cpu = {ln["stem"]: ln for ln in full_run.lines()}
    gpu = {ln["stem"]: ln for ln in r.lines()}
    assert gpu.keys() == cpu.keys()
    assert r.counts == full_run.counts
    ious, same = [], []
    for stem, ln in gpu.items():
        assert ln["status"] == cpu[stem]["status"]
        if ln["status"] == "ok":  # nvJPEG and libjpeg differ by a grey level here and there
            same.append(ln["classes"][0] == cpu[stem]["classes"][0])
            ious.append(
                float(box_iou(torch.tensor(ln["gt_box"]), torch.tensor(cpu[stem]["gt_box"])))
            )
    assert sum(same) >= 0.8 * len(same)
    assert sum(i >= 0.8 for i in ious) >= 0.8 * len(ious)


# --------------------------------------------------------------------------- boxes
def _blob_maps(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(7.0), torch.arange(7.0), indexing="ij")
    out = 0.1 * torch.randn(n, 7, 7, generator=g)
    for i in range(n):
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            cy, cx = (torch.rand(2, generator=g) * 6).tolist()
            s = 0.8 + 1.5 * float(torch.rand(1, generator=g))
            out[i] += float(torch.rand(1, generator=g)) * torch.exp(
                -((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s)
            )
    return out[:, None]


@pytest.mark.parametrize("size", [(375, 500), (500, 333), (281, 500), (768, 1024), (100, 150)])
def test_input_grid_boxes_agree_with_direct_upsampling(size):
    h, w = size
    cams = _blob_maps(40, seed=h + w)
    sizes = torch.tensor([[h, w]] * 40)
    fast = cam_boxes(cams, sizes, Preprocess(224))
    direct = largest_component_boxes(upsample_cams(cams, (h, w)))  # the definition
    assert torch.equal(cam_boxes(cams, sizes, Preprocess(224), boxes_at="original"), direct)
    tol = math.ceil(max(h, w) / 224) + 1
    close = (fast - direct).abs().amax(dim=-1) <= tol
    assert close.float().mean() >= 0.95  # rare misses: blobs that touch on one grid only
    iou = box_iou(fast, direct)
    assert iou.mean() >= 0.98
    assert ((iou >= 0.5) == (iou >= 0.5)).all()


def test_input_grid_is_exact_when_the_image_is_the_input_size():
    cams = _blob_maps(30, seed=0)
    sizes = torch.tensor([[224, 224]] * 30)
    direct = largest_component_boxes(upsample_cams(cams, (224, 224)))
    assert torch.equal(cam_boxes(cams, sizes, Preprocess(224)), direct)
    assert torch.equal(boxes_to_original(direct, sizes, Preprocess(224)), direct)


def test_original_grid_run_agrees_with_input_grid_run(model, syn, full_run, tmp_path):
    exact = evaluate(model, syn.root, tmp_path / "orig", batch_size=4, num_workers=0,
                     device="cpu", progress=False, boxes_at="original")  # fmt: skip
    fast = {ln["stem"]: ln for ln in full_run.lines() if ln["status"] == "ok"}
    ious = []
    for ln in exact.lines():
        if ln["status"] == "ok":
            f = fast[ln["stem"]]
            assert ln["classes"] == f["classes"]
            ious.append(float(box_iou(torch.tensor(ln["gt_box"]), torch.tensor(f["gt_box"]))))
    assert sum(i >= 0.9 for i in ious) >= 0.9 * len(ious)


def test_true_class_box_is_reused_from_the_top_k_or_searched(model):
    """topk_boxes reuses the top-k box when the true class is among the top k and searches its map
    otherwise: the same boxes as searching all k + 1 maps."""
    st = StepSettings(torch.device("cpu"), None, False, 0.2, 5, None, guess_boxes="all")
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (6, 3, 224, 224), dtype=torch.uint8, generator=g)
    with torch.no_grad():
        logits, feats = model(model.preprocess.normalize(x))
    top = logits.topk(5).indices
    labels = torch.tensor([top[0, 0], top[1, 3], 7, 8, top[4, 4], 9])  # hits and misses
    sizes = torch.tensor([[375, 500], [500, 375], [333, 500], [224, 224], [281, 500], [600, 800]])
    classes, probs, boxes, gk = topk_boxes(model, logits, feats, sizes, labels, st)
    wanted = torch.cat([classes, labels[:, None]], dim=1)
    full = cam_boxes(class_activation_maps(feats, model.weight, wanted), sizes, model.preprocess)
    assert torch.equal(classes, top) and torch.equal(boxes, full[:, :5])
    assert torch.equal(gk, full[:, 5])
    st.guess_boxes = "true-class"
    classes2, _, boxes2, gk2 = topk_boxes(model, logits, feats, sizes, labels, st)
    assert torch.equal(classes2, top) and torch.equal(gk2, full[:, 5])
    assert torch.equal(boxes2, gk2[:, None].expand(-1, 5, -1))


def test_pipeline_matches_a_per_image_reference(model, syn, all_run):
    """One image at a time, no batching, no channels-last: decode, resize, forward, CAM,
    upsample to the original size, box. Same classes and (boxes_at='original') same boxes."""
    records = {r.stem: r for r in open_ilsvrc(syn.root)}
    lines = [ln for ln in all_run.lines() if ln["status"] == "ok"][:5]
    for ln in lines:
        r = records[ln["stem"]]
        img = decode_image(r.image.read_bytes())
        x = model.preprocess(img)[None]
        with torch.no_grad():
            logits, feats = model(x)
        probs, classes = logits.softmax(-1).topk(5)
        assert classes[0].tolist() == ln["classes"]
        assert probs[0].tolist() == pytest.approx(ln["probs"], abs=1e-4)
        cams = class_activation_maps(feats, model.weight, classes)
        h, w = img.shape[1:]
        ref = largest_component_boxes(upsample_cams(cams, (h, w)))[0]
        fast = torch.tensor(ln["boxes"])
        assert (box_iou(ref, fast) >= 0.9).all()


# --------------------------------------------------------------------------- reports
def test_breakdowns_partition_the_images(full_run, model):
    lines = full_run.lines()
    ok = [ln for ln in lines if ln["status"] == "ok"]
    by_class = per_class(lines, model.class_names)
    assert sum(r["images"] for r in by_class) == len(ok)
    by_size = per_size(lines)
    assert sum(r["images"] for r in by_size) == len(ok)
    worst = worst_misses(lines, 3)
    assert [w["gt_known_iou"] for w in worst] == sorted(x["gt_known_iou"] for x in ok)[:3]


def test_table_has_the_papers_rows():
    from camutils.evaluate import EvalResult

    r = EvalResult("m", "d", "devkit", data_dir(), {}, None, {"found": 0, "evaluated": 0, "skipped": 0},
                   [], 0, 0, 0, 0.0, "cpu", "fp32")  # fmt: skip
    table = format_table(r)
    assert len(PAPER_TABLE2) == 10
    assert re.search(r"\nGoogLeNet-GAP \(paper\) +56\.40 +43\.00 +35\.00 +13\.20 +-\n", table)
    assert re.search(r"\nBackprop on VGGnet \(paper\) +61\.12 +51\.46 +- +- +-\n", table)


# --------------------------------------------------------------------------- command line
def test_command_line_prints_table_2_and_resumes(syn, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["evaluate", "--data", str(syn.root), "--out", str(out), "--limit", "6",
            "--workers", "0", "--device", "cpu", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "GoogLeNet-GAP (paper)" in text and "efficientnet_lite0, CAM (4 images)" in text
    assert (
        "6 images found, 4 evaluated, 2 skipped (1 missing annotation, 1 unreadable image)" in text
    )
    assert main(args) == 0
    again = capsys.readouterr().out
    assert "6 images read back from an earlier run" in again
    row = [ln for ln in text.splitlines() if ln.startswith("efficientnet_lite0, CAM (")]
    assert row and row[0] in again.splitlines()


def test_command_line_wrong_root_exits_with_the_layouts(tmp_path, capsys):
    assert main(["evaluate", "--data", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "expected one of these ILSVRC 2012 validation layouts" in err and "found:" in err


NOTEBOOK = data_dir().parent / "notebooks" / "06_ilsvrc_localization.ipynb"
SAMPLE = data_dir() / "ilsvrc_sample"


@pytest.mark.skipif(
    not (NOTEBOOK.is_file() and SAMPLE.is_dir()), reason="notebook 06 or sample absent"
)
def test_command_line_and_notebook_agree_on_the_bundled_sample(tmp_path, capsys):
    nb = json.loads(NOTEBOOK.read_text())
    checked = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "# NBVAL_CHECK_OUTPUT" in "".join(cell["source"]):
            for o in cell.get("outputs", []):
                checked += "".join(o.get("text", "")).splitlines()
    nb_rows = [ln for ln in checked if ", CAM (" in ln]
    assert nb_rows, "notebook 06 prints no measured Table 2 row in a checked cell"
    for fmt in ("devkit", "kaggle"):
        assert main(["evaluate", "--data", str(SAMPLE / fmt), "--out", str(tmp_path / fmt),
                     "--workers", "0", "--device", "cpu", "--no-progress"]) == 0  # fmt: skip
        cli_rows = [ln for ln in capsys.readouterr().out.splitlines() if ", CAM (" in ln]
        assert cli_rows == nb_rows
