"""Throughput of ``camutils.explain`` against pytorch-grad-cam on the same batch, per method.

Both explain the same images of the offline EfficientNet-Lite0 (ImageNet weights) for their
top-1 class, at its last features. camutils computes batched on the batch's device from one
forward (and one backward through the head); pytorch-grad-cam hooks the network, runs the full
forward and backward, computes the weights in NumPy on the CPU and min-max normalises and
resizes every map with OpenCV. To time the same work, camutils' maps are also upsampled and
min-max normalised to the input size (``--no-post`` leaves that out). Score-CAM and
Ablation-CAM run ``K = 1280`` perturbed passes per image: give them a small ``--size`` or
``--images`` on a CPU.

    python benchmarks/bench_explain.py                          # CPU, 8 images of 224 x 224
    python benchmarks/bench_explain.py --device cuda --images 64
    python benchmarks/bench_explain.py --methods scorecam ablationcam --images 1 --size 96

Prints images per second for each method and library, the speed-up, and the largest
difference between pytorch-grad-cam's [0, 1] maps and camutils' raw maps given the same
post-processing (a sanity check; tests/test_explain.py holds the agreement tests and their
conventions; Eigen-CAM's sign is arbitrary, so no difference is printed for it).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from camutils import explain
from camutils.cam import normalize_cams, upsample_cams
from camutils.models import LogitsNetwork, Preprocess, load_model
from camutils.samples import list_samples, load_sample

PGC = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "xgradcam": "XGradCAM",
    "layercam": "LayerCAM",
    "scorecam": "ScoreCAM",
    "ablationcam": "AblationCAM",
    "eigencam": "EigenCAM",
}
OPTIONS = {"gradcam++": {"eps": 1e-6}, "scorecam": {"align_corners": True, "batch_size": 64}}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up (and the result)
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--methods", nargs="+", default=list(PGC), choices=list(PGC))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--no-post", action="store_true", help="camutils: raw maps only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.image import scale_cam_image
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    device = torch.device(args.device)
    model = load_model(device=device)
    p = model.preprocess
    pre = Preprocess(args.size, mean=p.mean, std=p.std, interpolation=p.interpolation)
    names = list_samples()
    photos = [load_sample(names[i % len(names)]) for i in range(args.images)]
    x = pre.batch(photos, device)
    with torch.no_grad():
        top = model(x).logits.argmax(dim=1)
    targets = [ClassifierOutputTarget(int(k)) for k in top]
    net = LogitsNetwork(model).eval()
    size = tuple(x.shape[-2:])

    print(
        f"EfficientNet-Lite0, {args.images} images of {args.size} x {args.size} on {device} "
        f"({torch.get_num_threads()} CPU threads), best of {args.repeats}"
    )
    print(f"{'method':12s} {'camutils img/s':>15s} {'pytorch-grad-cam img/s':>23s} "
          f"{'speed-up':>9s} {'max |diff|':>11s}")  # fmt: skip
    for name in args.methods:
        options = OPTIONS.get(name, {})

        def ours(name=name, options=options):
            m = explain(model, x, top, method=name, **options)
            return m if args.no_post else normalize_cams(upsample_cams(m, size))

        t_ours, m_ours = timed(ours, device, args.repeats)
        extractor = getattr(pgc, PGC[name])(model=net, target_layers=[model.body])
        if hasattr(extractor, "batch_size"):
            extractor.batch_size = 64
        t_pgc, m_pgc = timed(lambda ex=extractor: ex(x, targets=targets), device, args.repeats)
        extractor.activations_and_grads.release()
        raw = explain(model, x, top, method=name, **options)[:, 0].float().cpu().numpy()
        theirs_post = scale_cam_image(np.maximum(scale_cam_image(raw, size[::-1]), 0))
        diff = float(np.abs(theirs_post - m_pgc).max())  # our map, their post-processing
        if name == "eigencam":  # the sign of a singular vector is arbitrary
            diff = float("nan")
        n = args.images
        print(f"{name:12s} {n / t_ours:15.1f} {n / t_pgc:23.1f} {t_pgc / t_ours:8.1f}x "
              f"{diff:11.4f}")  # fmt: skip
        del m_ours


if __name__ == "__main__":
    main()
