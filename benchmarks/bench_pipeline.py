"""Throughput of the ILSVRC localization pipeline on an ILSVRC-shaped synthetic set.

Builds, in a temporary folder, a validation set in the devkit layout: JPEGs of ImageNet's
typical sizes (500x375, 375x500, 500x333, ..., a few larger), about 100 kB each, PASCAL-VOC XML
boxes (one in six images with 2-3 boxes), a grayscale JPEG, a CMYK JPEG, a PNG named .JPEG, a
corrupt (truncated) JPEG and an image without annotation. Then prints images per second for

  (a)  the model's forward pass alone, on ready-made input batches, with the pipeline's settings
       (channels-last; fp16 autocast on CUDA);
  (b)  the whole camutils pipeline, camutils.evaluate.evaluate: files -> decode -> resize ->
       forward -> top-5 + true-class CAMs -> boxes in original coordinates -> IoU -> meters ->
       results file (on a CPU its default reads each batch with a thread per core after the
       forward pass of the one before, alongside the box search: no worker processes);
  (b2) the same with a box searched for each of the top-5 guesses (by default the pipeline
       searches only the true class's map, which alone decides every error figure);
  (c)  a per-image reference pipeline of the kind written today: PIL decode + torchvision
       transforms in DataLoader workers, a plain fp32 forward with a hook on the last conv layer,
       features copied to NumPy, then per image and class: CAM in NumPy, cv2.resize to the
       original size, threshold, cv2.findContours, the largest contour's box, IoU in Python;
  (c0) on a CPU, the same with no workers (read in the main process, in turn with the
       network); the better of (c) and (c0) counts as (c);
  (c1) the same with one image per forward pass, as in single-image CAM scripts;

with the ratios b/a, b/c, b/c1 and b / min(a, d), the stages of (b) measured alone ((d) the
data path: read, decode, resize; CAM -> boxes -> IoU), on CUDA (d) and (b) with each JPEG
decoder present (camutils.decode.device_decoders), and how far (b) and (c) agree (same top-1 class, same top-1 localization verdict). On the
CPU, (b) and (c) run twice, alternating, and the best of each counts: other processes on the
machine disturb single runs (the load average is printed).

    python benchmarks/bench_pipeline.py                                  # CPU, ~2-3 minutes
    python benchmarks/bench_pipeline.py --device cuda --model efficientnet_lite0 \\
        --model resnet50 --full-50k                                      # CUDA, ~3-5 minutes

(b) runs all ``--n-images`` (10,000 on CUDA, so that start-up costs weigh as in a long run), (c)
the first ``--ref-images`` of them; 50,000 / rate(b) estimates the full validation set, and
``--full-50k`` then runs 50,000 images when that estimate is under ``--full-limit`` seconds. Models
other than the offline ``efficientnet_lite0`` get random weights (the speed does not depend on
them; ``--download-weights`` fetches the real ones). ``--json FILE`` writes every figure.
Goals: on CUDA b >= 0.9 min(a, d) and d >= a (ResNet-50); on a 2-core CPU b/a >= 0.9 and
b/c >= 1.5.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from camutils.boxes import box_backend
from camutils.decode import device_decoders
from camutils.evaluate import evaluate
from camutils.ilsvrc import open_ilsvrc
from camutils.loader import (
    ImageReader,
    background,
    batch_loader,
    default_workers,
    prepared_batches,
)
from camutils.models import CAMModel, load_model
from camutils.step import StepSettings, amp_dtype, forward_batch, topk_boxes
from camutils.synthetic import make_synthetic_val


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def log(*args) -> None:
    print(*args, flush=True)


DOWNLOAD_WEIGHTS = False


def get_model(name: str, device: torch.device) -> tuple[CAMModel, str]:
    """The offline model with its ImageNet weights; others with random weights (the speed does
    not depend on them) unless --download-weights: no network call can hang the run."""
    if name == "efficientnet_lite0" or DOWNLOAD_WEIGHTS:
        return load_model(name, device=device), "ImageNet weights"
    torch.manual_seed(0)  # the same random network for (b) and (c)
    return load_model(name, weights=False, device=device), "random weights"


# --------------------------------------------------------------------------- (a)
def forward_alone(model: CAMModel, st: StepSettings, batch_size: int, seconds: float) -> float:
    """Images/s of the forward pass on a ready uint8 batch on the device (normalisation,
    channels-last, autocast as in the pipeline)."""
    s = model.preprocess.size
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (batch_size, 3, s, s), dtype=torch.uint8, generator=g).to(st.device)
    if st.channels_last:
        model = model.to(memory_format=torch.channels_last)
    with torch.inference_mode():
        for _ in range(3):
            forward_batch(model, x, st)
        sync(st.device)
        n, t0 = 0, time.perf_counter()
        while True:
            forward_batch(model, x, st)
            n += batch_size
            if n >= 4 * batch_size and time.perf_counter() - t0 > seconds:
                break
        sync(st.device)
    return n / (time.perf_counter() - t0)


def plain_forward(model: CAMModel, device: torch.device, batch_size: int, seconds: float) -> float:
    """Images/s of ``model(x)`` in fp32, default memory layout (what (c) runs)."""
    model = model.to(memory_format=torch.contiguous_format)
    x = torch.randn(batch_size, 3, model.preprocess.size, model.preprocess.size, device=device)
    with torch.no_grad():
        model(x)
        sync(device)
        n, t0 = 0, time.perf_counter()
        while True:
            model(x)
            n += batch_size
            if n >= 2 * batch_size and time.perf_counter() - t0 > seconds:
                break
        sync(device)
    return n / (time.perf_counter() - t0)


# --------------------------------------------------------------------------- (b) stages
def data_path_alone(model, root: Path, device, batch_size: int, workers: int,
                    decoder: str = "torchvision", cpu_share: float = 0.0) -> float:  # fmt: skip
    """Images/s of reading + decoding + resizing alone (the pipeline's data path d, no model);
    on CUDA with the given device decoder."""
    val = open_ilsvrc(root)
    on_device = device.type == "cuda"
    reader = ImageReader(val.records, model.preprocess, on_device, cpu_share=cpu_share)
    batches = batch_loader(reader, batch_size, workers)  # workers start from the main thread
    prepared = prepared_batches(batches, device, model.preprocess, decoder=decoder)
    if on_device:
        prepared = background(prepared)
    t0 = time.perf_counter()
    n = 0
    for p in prepared:
        n += len(p.indices) + len(p.failed)
    sync(device)
    return n / (time.perf_counter() - t0)


def postprocess_alone(model: CAMModel, st: StepSettings, batch_size: int, seconds: float) -> float:
    """Images/s of top-5 + true-class CAMs -> boxes in original coordinates (random features)."""
    from camutils.metrics import LocalizationMeter

    g = torch.Generator().manual_seed(0)
    s = model.preprocess.size
    with torch.inference_mode():
        x = torch.randint(0, 256, (batch_size, 3, s, s), dtype=torch.uint8, generator=g).to(
            st.device
        )
        logits, feats = forward_batch(model.to(memory_format=torch.channels_last), x, st)
        sizes = torch.tensor([[375, 500]] * batch_size)
        labels = torch.randint(0, 1000, (batch_size,), device=st.device)
        gt = torch.tensor([[[50, 40, 300, 250]]] * batch_size, device=st.device)
        valid = torch.ones(batch_size, 1, dtype=torch.bool, device=st.device)
        meter = LocalizationMeter()

        def once():
            classes, _, boxes, gk = topk_boxes(model, logits, feats, sizes, labels, st)
            meter.update(classes, boxes, labels, gt, valid, gk)
            boxes.cpu()

        once()
        sync(st.device)
        n, t0 = 0, time.perf_counter()
        while True:
            once()
            n += batch_size
            if n >= 2 * batch_size and time.perf_counter() - t0 > seconds:
                break
        sync(st.device)
    return n / (time.perf_counter() - t0)


# --------------------------------------------------------------------------- (c)
class _PILDataset(torch.utils.data.Dataset):
    def __init__(self, records, preprocess):
        from torchvision import transforms as T

        interp = (T.InterpolationMode.BICUBIC if preprocess.interpolation == "bicubic"
                  else T.InterpolationMode.BILINEAR)  # fmt: skip
        self.records = [r for r in records if r.problem is None]
        self.tf = T.Compose([
            T.Resize((preprocess.size, preprocess.size), interpolation=interp),
            T.ToTensor(),
            T.Normalize(preprocess.mean, preprocess.std),
        ])  # fmt: skip

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        from PIL import Image

        r = self.records[i]
        try:
            with Image.open(r.image) as im:
                im = im.convert("RGB")
        except Exception:  # noqa: BLE001
            return None
        return self.tf(im), (im.height, im.width), i


def _collate_drop_none(items):
    items = [x for x in items if x is not None]
    if not items:
        return None
    return (torch.stack([x[0] for x in items]), [x[1] for x in items], [x[2] for x in items])


def reference_pipeline(name: str, root: Path, device, batch_size: int, workers: int,
                       threshold: float = 0.2, limit: int | None = None
                       ) -> tuple[float, dict[str, dict]]:  # fmt: skip
    """The per-image pipeline of (c). Returns images/s and per-image results. With
    ``batch_size=1`` the network too sees one image at a time (c1)."""
    import cv2

    model, _ = get_model(name, device)  # a fresh copy: default memory layout, fp32
    model.eval()
    val = open_ilsvrc(root, limit=limit)
    ds = _PILDataset(val.records, model.preprocess)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=workers,
                                         collate_fn=_collate_drop_none)  # fmt: skip
    features = []
    hook = model.body.register_forward_hook(
        lambda m, i, o: features.append(o.detach().cpu().numpy())
    )
    weight = model.weight.detach().cpu().numpy()
    out: dict[str, dict] = {}
    t0 = time.perf_counter()
    n = 0
    with torch.no_grad():
        for batch in loader:
            if batch is None:
                continue
            x, sizes, idx = batch
            features.clear()
            logits = model(x.to(device)).logits
            probs = torch.softmax(logits, dim=1).cpu().numpy()
            feats = features[0]
            for j in range(len(idx)):
                rec = ds.records[idx[j]]
                h, w = sizes[j]
                top5 = np.argsort(-probs[j])[:5]
                k, fh, fw = feats[j].shape
                correct = []
                for c in top5:
                    cam = (weight[c] @ feats[j].reshape(k, fh * fw)).reshape(fh, fw)
                    cam = cv2.resize(cam.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
                    mask = (cam >= threshold * cam.max()).astype(np.uint8)
                    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                    if contours:
                        bx, by, bw, bh = cv2.boundingRect(max(contours, key=cv2.contourArea))
                        box = (bx, by, bx + bw - 1, by + bh - 1)
                    else:
                        box = (0, 0, w - 1, h - 1)
                    best = 0.0
                    for g in rec.boxes:
                        iw = min(box[2], g[2]) - max(box[0], g[0]) + 1
                        ih = min(box[3], g[3]) - max(box[1], g[1]) + 1
                        inter = max(iw, 0) * max(ih, 0)
                        union = ((box[2] - box[0] + 1) * (box[3] - box[1] + 1)
                                 + (g[2] - g[0] + 1) * (g[3] - g[1] + 1) - inter)  # fmt: skip
                        best = max(best, inter / union)
                    correct.append(bool(c == rec.label and best >= 0.5))
                out[rec.stem] = {
                    "top1": int(top5[0]),
                    "top1_loc": correct[0],
                    "top5_loc": any(correct),
                }
                n += 1
    hook.remove()
    return n / (time.perf_counter() - t0), out


# --------------------------------------------------------------------------- driver
def build_set(root: Path, n: int, seed: int = 0) -> float:
    t0 = time.perf_counter()
    make_synthetic_val(root, n, layout="devkit", seed=seed, unique=min(n, 256))
    return time.perf_counter() - t0


def describe_set(root: Path) -> str:
    files = list((root / "ILSVRC2012_img_val").iterdir())
    mb = sum(f.stat().st_size for f in files) / 1e6
    return f"{len(files)} files, {mb:.0f} MB ({1000 * mb / len(files):.0f} kB per image)"


def run_pipeline(model, root, out, device, batch_size, workers, precision, limit=None,
                 guess_boxes="true-class", decoder="auto"):  # fmt: skip
    t0 = time.perf_counter()
    r = evaluate(model, root, out, batch_size=batch_size, num_workers=workers, device=device,
                 precision=precision, restart=True, progress=False, limit=limit,
                 guess_boxes=guess_boxes, decoder=decoder)  # fmt: skip
    return r, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n-images", type=int, default=None,
                    help="images of the synthetic set, run through (b) (default 10000 on CUDA, 160 on CPU)")  # fmt: skip
    ap.add_argument("--ref-images", type=int, default=None,
                    help="of which (c) runs this many (default 2000 on CUDA, all on CPU)")  # fmt: skip
    ap.add_argument("--batch-size", type=int, default=None, help="default 256 on CUDA, 32 on CPU")
    ap.add_argument("--workers", type=int, default=None,
                    help="DataLoader workers of (c) (default CPU cores - 1, at most 8) and of (b) "
                    "and (d) (default: the pipeline's own, camutils.loader.default_workers)")  # fmt: skip
    ap.add_argument("--model", action="append", default=None,
                    help="repeatable; default efficientnet_lite0")  # fmt: skip
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--download-weights", action="store_true",
                    help="ImageNet weights for torchvision/timm models (needs a network)")  # fmt: skip
    ap.add_argument("--repeat", type=int, default=None,
                    help="run (b) and (c) this many times, alternating, and keep the best of each "
                    "(default 2 on the CPU, where other work disturbs timings; 1 on CUDA)")  # fmt: skip
    ap.add_argument("--full-50k", action="store_true",
                    help="then run 50,000 images through (b) when the estimate allows")  # fmt: skip
    ap.add_argument("--full-limit", type=float, default=120.0,
                    help="longest estimated 50k run (s) that --full-50k starts")  # fmt: skip
    ap.add_argument("--full-n", type=int, default=50000, help="size of that run (a dry run: 100)")
    ap.add_argument("--seconds", type=float, default=None, help="time per forward measurement")
    ap.add_argument("--json", default=None, help="write all figures to this file")
    ap.add_argument(
        "--tmp", default=None, help="folder for the synthetic sets (default: a temp dir)"
    )
    args = ap.parse_args()

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    global DOWNLOAD_WEIGHTS
    DOWNLOAD_WEIGHTS = args.download_weights
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    if args.threads:
        torch.set_num_threads(args.threads)
    if gpu:
        torch.backends.cudnn.benchmark = True  # as evaluate() sets it: (a) and (b) alike
    n = args.n_images or (10000 if gpu else 160)
    n_ref = min(n, args.ref_images or (2000 if gpu else n))
    bs = args.batch_size or (256 if gpu else 32)
    workers = (  # (c)'s, as DataLoader scripts choose them
        args.workers if args.workers is not None else max(0, min(8, (os.cpu_count() or 1) - 1))
    )
    b_workers = args.workers if args.workers is not None else default_workers(device)
    seconds = args.seconds or (3.0 if gpu else 8.0)
    models = args.model or ["efficientnet_lite0"]
    report: dict = {"device": str(device), "n_images": n, "ref_images": n_ref, "batch_size": bs,
                    "workers": workers, "b_workers": b_workers, "torch": torch.__version__,
                    "python": platform.python_version(), "cpus": os.cpu_count(),
                    "threads": torch.get_num_threads(), "models": {}}  # fmt: skip
    if gpu:
        report["gpu"] = torch.cuda.get_device_name(device)
    report["loadavg_start"] = os.getloadavg()
    log(f"load average {os.getloadavg()[0]:.2f} (other processes compete for the CPU when > 0)")
    log(f"device {device}{' (' + report['gpu'] + ')' if gpu else ''}, torch {torch.__version__}, "
        f"{os.cpu_count()} CPUs, {torch.get_num_threads()} threads, batch {bs}, "
        f"workers: (c) {workers}, (b) and (d) {b_workers} (0: read in turn, on every thread)")  # fmt: skip

    tmp = Path(args.tmp or tempfile.mkdtemp(prefix="camutils-bench-"))
    root = tmp / "val"
    if root.exists():
        shutil.rmtree(root)
    secs = build_set(root, n)
    log(f"synthetic ILSVRC set: {describe_set(root)}, built in {secs:.1f} s")

    for name in models:
        row: dict = {}
        report["models"][name] = row
        log(f"\n== {name}")
        try:
            model, weights = get_model(name, device)
            row["weights"] = weights
            st = StepSettings(device, amp_dtype(args.precision, device), True, 0.2, 5,
                           2**26 if gpu else None)  # fmt: skip
            row["a_forward"] = forward_alone(model, st, bs, seconds)
            log(f"(a) forward alone:            {row['a_forward']:9.1f} images/s")
            row["a0_plain_fp32_forward"] = plain_forward(model, device, bs, seconds / 2)
            log(f"    plain fp32 forward (c's): {row['a0_plain_fp32_forward']:9.1f} images/s")
            decoders = device_decoders(device) if gpu else ["cpu"]
            row["decoders"] = {dec: {} for dec in decoders}
            for dec in decoders:  # (d) with each decoder present (the CPU's workers on a CPU)
                d = data_path_alone(model, root, device, bs, b_workers, decoder=dec)
                row["decoders"][dec]["d"] = d
                log(f"(d) data path alone ({dec}):{d:12.1f} images/s")
            best_dec = max(decoders, key=lambda k: row["decoders"][k]["d"])
            row["data_path"] = row["decoders"][best_dec]["d"]
            row["best_decoder"] = best_dec
            row["postprocess"] = postprocess_alone(model, st, bs, seconds / 2)
            log(f"    CAM -> boxes -> IoU alone: {row['postprocess']:8.1f} images/s "
                f"(box search: {box_backend(device)})")  # fmt: skip
            if gpu:  # warm-up: cuDNN autotuning, nvJPEG, allocator
                run_pipeline(
                    model, root, tmp / "warm", device, bs, b_workers, args.precision, 2 * bs
                )
            repeat = args.repeat or (1 if gpu else 3)
            n1 = min(n_ref, 300 if gpu else 32)
            b_rates, b2_rates, c_rates, c0_rates, c1_rates, ref = [], [], [], [], [], None
            a_rates = [row["a_forward"]]
            for k in range(repeat):  # alternate, so that all see the same machine
                if k:  # (a) again in each round: best of alternating runs, as for (b) and (c)
                    a_rates.append(forward_alone(model, st, bs, seconds / 2))
                    log(f"(a) forward alone:            {a_rates[-1]:9.1f} images/s")
                r, wall = run_pipeline(
                    model, root, tmp / "out", device, bs, b_workers, args.precision
                )
                b_rates.append(r.processed / wall)
                row["b_processing_only"] = r.processed / r.seconds
                log(f"(b) camutils pipeline:        {b_rates[-1]:9.1f} images/s  ({r.processed} "
                    f"images in {wall:.1f} s, {r.precision}; {r.counts['skipped']} skipped; "
                    f"{row['b_processing_only']:.1f} images/s after start-up)")  # fmt: skip
                r_all, wall_all = run_pipeline(model, root, tmp / "out_all", device, bs, b_workers,
                                               args.precision, guess_boxes="all")  # fmt: skip
                b2_rates.append(r_all.processed / wall_all)
                log(f"(b2) camutils, a box for all 5 guesses: {b2_rates[-1]:6.1f} images/s "
                    f"(same errors as (b): {r_all.metrics == r.metrics})")  # fmt: skip
                if not args.skip_reference:
                    rate, ref = reference_pipeline(name, root, device, bs, workers, limit=n_ref)
                    c_rates.append(rate)
                    log(f"(c) per-image reference:      {rate:9.1f} images/s ({n_ref} images)")
                    if workers and not gpu:  # and reading in turn, as (b) does on a CPU
                        rate0, _ = reference_pipeline(name, root, device, bs, 0, limit=n_ref)
                        c0_rates.append(rate0)
                        log(f"(c0) the same, no workers:    {rate0:9.1f} images/s")
                    rate1, _ = reference_pipeline(name, root, device, 1, workers, limit=n1)
                    c1_rates.append(rate1)
                    log(f"(c1) per-image reference, batch 1: {rate1:6.1f} images/s ({n1} images)")
            row["a_forward"] = max(a_rates)
            row["a_runs"] = a_rates
            row["b_all_boxes"] = max(b2_rates)
            if c1_rates:
                row["c1_reference_batch1"] = max(c1_rates)
            row["b_pipeline"] = max(b_rates)
            row["b_runs"] = b_rates
            row["b_metrics"] = r.metrics
            row["b_counts"] = r.counts
            for dec in decoders[1:] if gpu else []:  # (b) with the other decoders too
                rd, wall_d = run_pipeline(model, root, tmp / f"out_{dec}", device, bs, b_workers,
                                          args.precision, decoder=dec)  # fmt: skip
                row["decoders"][dec]["b"] = rd.processed / wall_d
                row["decoders"][dec]["same_metrics"] = rd.metrics == r.metrics
                log(f"(b) camutils, decoder {dec}: {rd.processed / wall_d:9.1f} images/s "
                    f"(metrics equal to the first decoder's: {rd.metrics == r.metrics})")  # fmt: skip
            row["decoders"][decoders[0]]["b"] = max(b_rates)
            row["b_over_a"] = row["b_pipeline"] / row["a_forward"]
            row["b_over_min_ad"] = row["b_pipeline"] / min(row["a_forward"], row["data_path"])
            # (b) cannot outrun its data path: while decoding is slower than the forward pass,
            # b/a stays below data path / a
            row["b_over_a_ceiling"] = row["data_path"] / row["a_forward"]
            row["est_50k_seconds"] = args.full_n / row["b_pipeline"]
            best = " (best runs)" if repeat > 1 else ""
            log(f"    b/a = {row['b_over_a']:.2f}{best} (data path / a = "
                f"{row['b_over_a_ceiling']:.2f}); {args.full_n:,} images at this rate: "
                f"{row['est_50k_seconds']:.0f} s")  # fmt: skip
            if repeat > 1:  # each round's (b) over the (a) measured just before it
                paired = [b / a for a, b in zip(a_rates, b_rates, strict=True)]
                row["b_over_a_rounds"] = paired
                log("    b/a round by round: " + " ".join(f"{v:.2f}" for v in paired)
                    + f" (median {float(np.median(paired)):.2f}): the machine's speed drifts "
                    "between rounds, and a pair of neighbouring runs shares it")  # fmt: skip
            if ref is not None:
                # the reference's better setting counts: its DataLoader workers, or none
                row["c_reference"] = max(c_rates + c0_rates)
                row["c_runs"] = c_rates
                row["c0_runs_no_workers"] = c0_rates
                row["b_over_c"] = row["b_pipeline"] / row["c_reference"]
                row["b_over_c1"] = row["b_pipeline"] / row["c1_reference_batch1"]
                log(f"    b/c = {row['b_over_c']:.2f}{best}, b/c1 = {row['b_over_c1']:.2f}")
                mine = {ln["stem"]: ln for ln in r.lines() if ln["status"] == "ok"}
                both = sorted(set(mine) & set(ref))
                same_cls = sum(mine[s]["classes"][0] == ref[s]["top1"] for s in both)
                same_loc = sum(mine[s]["top1_loc"] == ref[s]["top1_loc"] for s in both)
                row["agreement"] = {"images": len(both), "same_top1_class": same_cls,
                                    "same_top1_loc_verdict": same_loc}  # fmt: skip
                log(f"    (b) vs (c) on {len(both)} images: same top-1 class {same_cls}, "
                    f"same top-1 localization verdict {same_loc}")  # fmt: skip
            del model
            if gpu:
                torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001 - keep the other figures
            row["error"] = traceback.format_exc()
            log(row["error"])

    first = report["models"].get(models[0], {})
    if args.full_50k and "b_pipeline" in first:
        shutil.rmtree(root, ignore_errors=True)
        est = first["est_50k_seconds"]
        if est > args.full_limit:
            log(
                f"\n{args.full_n:,}-image run skipped: estimated {est:.0f} s > --full-limit {args.full_limit:.0f} s"
            )
        else:
            try:
                big = tmp / "val50k"
                secs = build_set(big, args.full_n, seed=2)
                log(f"\n{args.full_n:,}-image set: {describe_set(big)}, built in {secs:.1f} s")
                model, _ = get_model(models[0], device)
                r, wall = run_pipeline(
                    model, big, tmp / "out50k", device, bs, b_workers, args.precision
                )
                first["full_50k"] = {"images": r.processed, "seconds": wall,
                                     "images_per_s": r.processed / wall,
                                     "processing_seconds": r.seconds, "counts": r.counts}  # fmt: skip
                log(f"(b) {models[0]}: {r.processed:,} images in {wall:.1f} s "
                    f"({r.processed / wall:.1f} images/s; {r.seconds:.1f} s after start-up)")  # fmt: skip
                shutil.rmtree(big, ignore_errors=True)
            except Exception:  # noqa: BLE001
                first["full_50k_error"] = traceback.format_exc()
                log(first["full_50k_error"])

    # ---- the table
    log("\nimages/s" + (f" on {report.get('gpu', device)}" if gpu else f" on {os.cpu_count()} CPU cores")
        + f", batch {bs}, workers (b) {b_workers} (c) {workers}, synthetic ILSVRC-shaped JPEGs")  # fmt: skip
    head = (f"{'model [decoder]':<32}{'(a) fwd':>9}{'(b) camutils':>13}{'(c) ref.':>10}"
            f"{'(d) data':>10}{'boxes':>9}{'b/a':>6}{'b/c':>6}{'b/min(a,d)':>11}")  # fmt: skip
    log(head)
    log("-" * len(head))
    for name, row in report["models"].items():
        for dec, fig in row.get("decoders", {"-": {}}).items():
            r2 = dict(row, b_pipeline=fig.get("b", row.get("b_pipeline")),
                      data_path=fig.get("d", row.get("data_path")))  # fmt: skip
            if "a_forward" in r2 and r2["b_pipeline"] and r2["data_path"]:
                r2["b_over_a"] = r2["b_pipeline"] / r2["a_forward"]
                r2["b_over_min_ad"] = r2["b_pipeline"] / min(r2["a_forward"], r2["data_path"])
                if "c_reference" in r2:
                    r2["b_over_c"] = r2["b_pipeline"] / r2["c_reference"]

            def f(k, w, fmt="{:.1f}", row=r2):
                return f"{(fmt.format(row[k]) if row.get(k) is not None else '-'):>{w}}"

            log(f"{(name + ' [' + dec + ']')[:31]:<32}{f('a_forward', 9)}{f('b_pipeline', 13)}"
                f"{f('c_reference', 10)}{f('data_path', 10)}{f('postprocess', 9)}"
                f"{f('b_over_a', 6, '{:.2f}')}{f('b_over_c', 6, '{:.2f}')}"
                f"{f('b_over_min_ad', 11, '{:.2f}')}")  # fmt: skip
    log("(a) forward alone, (b) the whole pipeline, (c) a per-image reference, (d) the data path "
        "alone (read, decode, resize), boxes: CAM -> boxes -> IoU alone; images/s, best of "
        "alternating runs; load average " + " ".join(f"{v:.2f}" for v in os.getloadavg()))  # fmt: skip
    if gpu:
        for name, row in report["models"].items():
            if "b_over_min_ad" in row:
                ok = "met" if row["b_over_min_ad"] >= 0.9 else "NOT met"
                log(f"goal b >= 0.9 min(a, d), {name}: {ok} ({row['b_over_min_ad']:.2f})")
                ok = "met" if row["data_path"] >= row["a_forward"] else "NOT met"
                log(f"goal d >= a, {name}: {ok} (d/a {row['b_over_a_ceiling']:.2f}, "
                    f"decoder {row['best_decoder']})")  # fmt: skip
        if "full_50k" in first:
            wall = first["full_50k"]["seconds"]
            wall *= 50000 / first["full_50k"]["images"]
            log(f"goal 50,000 images <= 10 s, {models[0]}: {'met' if wall <= 10 else 'NOT met'} "
                f"({wall:.0f} s, measured on {first['full_50k']['images']:,})")  # fmt: skip
        elif "est_50k_seconds" in first:
            est = first["est_50k_seconds"] * 50000 / args.full_n
            log(f"goal 50,000 images <= 10 s, {models[0]}: {'met' if est <= 10 else 'NOT met'} "
                f"({est:.0f} s, extrapolated from {n} images)")  # fmt: skip
    elif "b_over_c" in first:
        ok = "met" if first["b_over_c"] >= 1.5 else "NOT met"
        log(f"goal b/c >= 1.5: {ok} ({first['b_over_c']:.2f}; b/c1 {first['b_over_c1']:.2f})")
        ok = "met" if first["b_over_a"] >= 0.9 else "NOT met"
        log(f"goal b/a >= 0.9: {ok} ({first['b_over_a']:.2f})")
    report["loadavg_end"] = os.getloadavg()
    log(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
        log(f"figures written to {args.json}")
    if not args.tmp:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
