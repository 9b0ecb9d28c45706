"""Throughput of the paper's box rule: the batched search on a device, OpenCV's per-map
labelling on the CPU (camutils' default there) and a per-image SciPy loop.

Both compute, for each map, the bounding box of the largest 8-connected component of
``M >= 0.2 * max M`` (ties to the component first in raster order, empty mask -> whole map).
The maps are CAM-like: random 7 x 7 maps upsampled bilinearly to ``size x size`` (as a GAP
network's maps are), optionally with speckle noise (many small components, a harder case).

    python benchmarks/bench_boxes.py                     # CPU, 512 maps of 224 x 224
    python benchmarks/bench_boxes.py --device cuda --maps 4096
    python benchmarks/bench_boxes.py --kind noisy --threads 1

Prints maps per second for each and checks that every box agrees.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from camutils.boxes import box_backend, largest_component_boxes

STRUCT8 = np.ones((3, 3), dtype=bool)


def make_maps(n: int, size: int, kind: str, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    small = torch.randn(n, 1, 7, 7, generator=g)
    maps = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    if kind == "noisy":
        maps = maps + 0.3 * torch.randn(n, size, size, generator=g)
    return maps


def scipy_boxes(maps: np.ndarray, threshold: float) -> np.ndarray:
    out = np.empty((len(maps), 4), dtype=np.int64)
    for i, cam in enumerate(maps):
        peak = cam.max()
        mask = (cam >= threshold * peak) & (peak > 0)
        lab, n = ndimage.label(mask, structure=STRUCT8)
        if n == 0:
            out[i] = (0, 0, cam.shape[1] - 1, cam.shape[0] - 1)
            continue
        k = int(np.argmax(np.bincount(lab.ravel())[1:]))
        ys, xs = ndimage.find_objects(lab, max_label=k + 1)[k]
        out[i] = (xs.start, ys.start, xs.stop - 1, ys.stop - 1)
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--maps", type=int, default=512, help="number of maps")
    ap.add_argument("--size", type=int, default=224, help="maps are size x size")
    ap.add_argument("--batch", type=int, default=256, help="maps per batched call")
    ap.add_argument("--threshold", type=float, default=0.2)
    ap.add_argument("--kind", choices=["cam", "noisy"], default="cam")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many timed runs")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    maps = make_maps(args.maps, args.size, args.kind)
    maps_np = maps.numpy().astype(np.float32)
    maps_dev = maps.to(device)

    def boxes(backend: str) -> torch.Tensor:
        out = [
            largest_component_boxes(
                maps_dev[i : i + args.batch, None], args.threshold, backend=backend
            )[:, 0]
            for i in range(0, args.maps, args.batch)
        ]
        sync(device)
        return torch.cat(out)

    def best_of(fn, *a):  # noqa: ANN001, ANN202
        times, got = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            got = fn(*a)
            times.append(time.perf_counter() - t0)
        return got, min(times)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"{args.maps} {args.kind} maps of {args.size}x{args.size}, threshold {args.threshold}, "
        f"device {device} ({name}), torch threads {torch.get_num_threads()}, batch {args.batch}"
    )
    boxes("batched")  # warm-up (CUDA context, allocator)
    boxes("opencv")
    got, t_batched = best_of(boxes, "batched")
    got_cv, t_opencv = best_of(boxes, "opencv")
    scipy_boxes(maps_np[: min(16, args.maps)], args.threshold)  # warm-up
    ref, t_scipy = best_of(scipy_boxes, maps_np, args.threshold)

    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"batched ({device.type}):   {args.maps / t_batched:10.1f} maps/s  ({t_batched:.3f} s)")
    print(f"OpenCV per map (CPU): {args.maps / t_opencv:10.1f} maps/s  ({t_opencv:.3f} s)")
    print(f"SciPy loop (CPU):     {args.maps / t_scipy:10.1f} maps/s  ({t_scipy:.3f} s)")
    print(f"camutils' choice on {device.type}: {box_backend(device)}")
    for name, b in (("batched", got), ("OpenCV", got_cv)):
        agree = np.array_equal(b.cpu().numpy(), ref)
        print(f"{name} boxes agree with SciPy's on all {args.maps} maps: {agree}")
        if not agree:
            bad = np.nonzero((b.cpu().numpy() != ref).any(axis=1))[0]
            raise SystemExit(f"MISMATCH on {len(bad)} maps, first {bad[:10].tolist()}")


if __name__ == "__main__":
    main()
