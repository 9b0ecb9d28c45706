"""The same results on the GPU as on the CPU (skipped where there is no CUDA device)."""

from dataclasses import replace

import pytest
import torch

from camutils.boxes import connected_components, largest_component_boxes
from camutils.cam import class_activation_maps, normalize_cams, upsample_cams
from camutils.metrics import best_iou, box_iou
from camutils.models import load_model
from camutils.samples import load_sample

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


def test_cam_math_on_cuda_equals_cpu():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(8, 64, 7, 7, generator=g)
    w = torch.randn(100, 64, generator=g)
    classes = torch.randint(0, 100, (8, 5), generator=g)
    cpu = normalize_cams(upsample_cams(class_activation_maps(f, w, classes), (224, 300)))
    gpu = normalize_cams(
        upsample_cams(class_activation_maps(f.to(CUDA), w.to(CUDA), classes.to(CUDA)), (224, 300))
    )
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-4)


def test_boxes_on_cuda_equal_cpu():
    g = torch.Generator().manual_seed(1)
    masks = torch.rand(64, 56, 56, generator=g) > 0.55
    assert torch.equal(connected_components(masks.to(CUDA)).cpu(), connected_components(masks))
    cams = torch.rand(16, 5, 224, 224, generator=g)
    assert torch.equal(
        largest_component_boxes(cams.to(CUDA), 0.6).cpu(), largest_component_boxes(cams, 0.6)
    )


def test_offline_network_on_cuda_agrees_with_cpu():
    cpu_model = load_model(device="cpu")
    gpu_model = load_model(device=CUDA)
    photos = [load_sample(n) for n in ("chelsea", "coffee", "china", "camera")]
    x = cpu_model.preprocess.batch(photos)
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False  # exact fp32
    with torch.no_grad():
        cpu_logits, cpu_f = cpu_model(x)
        gpu_logits, gpu_f = gpu_model(x.to(CUDA))
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    with torch.no_grad():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            amp_logits, _ = gpu_model(x.to(CUDA).contiguous(memory_format=torch.channels_last))
    assert gpu_f.device.type == "cuda"
    assert torch.equal(gpu_logits.argmax(1).cpu(), cpu_logits.argmax(1))
    assert torch.equal(amp_logits.argmax(1).cpu(), cpu_logits.argmax(1))
    assert torch.allclose(gpu_logits.cpu(), cpu_logits, atol=1e-3)
    # S_c = mean M_c + b_c holds on the device too
    top = gpu_logits.topk(5).indices
    cams = gpu_model.cams(gpu_f, top)
    s = cams.mean(dim=(-2, -1)) + gpu_model.bias[top]
    assert torch.allclose(s, gpu_logits.gather(1, top), atol=1e-3)


def test_preprocess_uint8_on_cuda_equals_cpu():
    model = load_model(device="cpu")
    from camutils.models import to_uint8_tensor

    img = to_uint8_tensor(load_sample("chelsea"))
    assert torch.allclose(model.preprocess(img.to(CUDA)).cpu(), model.preprocess(img), atol=2e-2)


def test_best_iou_on_cuda():
    pred = torch.tensor([[[0, 0, 9, 9], [5, 5, 14, 14]]])
    gt = torch.tensor([[[0, 0, 9, 9], [100, 100, 120, 120]]])
    valid = torch.tensor([[True, True]])
    assert torch.allclose(
        best_iou(pred.to(CUDA), gt.to(CUDA), valid.to(CUDA)).cpu(), best_iou(pred, gt, valid)
    )


def test_ten_crop_cams_on_cuda_equal_cpu():
    from camutils.release import ten_crop_cams

    model = load_model(device="cpu")
    x = replace(model.preprocess, size=256).batch([load_sample(n) for n in ("coffee", "china")])
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False  # exact fp32
    try:
        cpu = ten_crop_cams(model, x, k=3)
        gpu = ten_crop_cams(model.to(CUDA), x.to(CUDA), k=3)  # the body follows the model
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    assert gpu.cams.device.type == "cuda"
    assert torch.equal(gpu.classes.cpu(), cpu.classes)
    assert torch.allclose(gpu.probs.cpu(), cpu.probs, atol=1e-4)
    assert torch.allclose(gpu.cams.cpu(), cpu.cams, rtol=1e-3, atol=1e-2)


@pytest.fixture(scope="module")
def syn_val(tmp_path_factory):
    from camutils.synthetic import make_synthetic_val

    return make_synthetic_val(tmp_path_factory.mktemp("val"), 64, layout="devkit", seed=4)


@pytest.fixture(scope="module")
def cpu_lines(syn_val, tmp_path_factory):
    from camutils.evaluate import evaluate

    out = tmp_path_factory.mktemp("cpu")
    r = evaluate("efficientnet_lite0", syn_val.root, out, device="cpu", precision="fp32",
                 num_workers=0, progress=False)  # fmt: skip
    return r, {ln["stem"]: ln for ln in r.lines() if ln["status"] == "ok"}


def test_every_gpu_decoder_gives_the_cpu_boxes_and_metrics(syn_val, cpu_lines, tmp_path):
    """Each decoder present (nvImageCodec, DALI, TorchCodec, torchvision), fp32 on the GPU,
    against the CPU run: the same top-1 class for 95% of the images, the true class's box at
    IoU >= 0.9 with the CPU's for 95%, and each error within 2 images of the CPU's (pixels
    differ by a few levels between JPEG decoders, and fp32 sums run in another order)."""
    from camutils.decode import device_decoders
    from camutils.evaluate import evaluate

    ref, lines = cpu_lines
    n = ref.metrics["images"]
    for decoder in device_decoders(CUDA):
        r = evaluate("efficientnet_lite0", syn_val.root, tmp_path / decoder, device="cuda",
                     precision="fp32", decoder=decoder, progress=False)  # fmt: skip
        assert r.counts == ref.counts, decoder
        got = {ln["stem"]: ln for ln in r.lines() if ln["status"] == "ok"}
        assert got.keys() == lines.keys()
        same_top1 = sum(got[s]["classes"][0] == lines[s]["classes"][0] for s in lines)
        ious = [
            float(box_iou(torch.tensor(got[s]["gt_box"]), torch.tensor(lines[s]["gt_box"])))
            for s in lines
        ]
        assert same_top1 >= 0.95 * n and sum(v >= 0.9 for v in ious) >= 0.95 * n, decoder
        for key in ("top1_loc_error", "top5_loc_error", "gt_known_loc_acc", "top1_cls_error"):
            assert abs(r.metrics[key] - ref.metrics[key]) <= 200 / n + 1e-9, (decoder, key)
