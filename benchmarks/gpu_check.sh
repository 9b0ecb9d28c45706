#!/usr/bin/env bash
# The checks that need a CUDA device, in one command of at most 8 minutes:
#   1. the tests whose CUDA cases are skipped on a CPU-only machine: GPU results against the
#      CPU, each JPEG decoder present (nvImageCodec, DALI, TorchCodec, torchvision) against
#      libjpeg, and the boxes and metrics of a run with each decoder against the CPU's;
#   2. the pipeline benchmark on ILSVRC-shaped synthetic JPEGs for ResNet-50 and
#      EfficientNet-Lite0: (a) forward, (b) pipeline, (c) per-image reference, (d) data path
#      and the box stage, b/a, b/c, b / min(a, d), with each decoder present, and the time
#      of 50,000 images extrapolated from the run (FULL50K=1 runs them, a few minutes more);
#   3. the batched box search against OpenCV and SciPy.
# Each step has its own time limit; logs and the benchmark's JSON go to OUT_DIR (default
# gpu-check/). With --notebooks the notebooks run under nbval too (several minutes more).
#
#   bash benchmarks/gpu_check.sh [OUT_DIR] [--notebooks]
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-check}"
mkdir -p "$out"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device here'" || exit 2
python -c "import torch; print(torch.__version__, torch.cuda.get_device_name())" | tee "$out/device.txt"
python -c "import torch; from camutils.decode import device_decoders; \
print('JPEG decoders on this GPU:', ', '.join(device_decoders(torch.device('cuda'))))" \
    | tee -a "$out/device.txt"
status=0

timeout 150 pytest -q -p no:cacheprovider -o addopts="" tests/test_gpu.py tests/test_decode.py \
    "tests/test_boxes.py::test_boxes_on_gpu_equal_cpu" 2>&1 | tee "$out/pytest.log" || status=1

if [[ " $* " == *" --notebooks "* ]] && python -c "import nbval, nbconvert" 2>/dev/null; then
    pytest -q -p no:cacheprovider -o addopts="" --nbval-lax --nbval-current-env notebooks \
        2>&1 | tee "$out/nbval.log" || status=1
fi

timeout 270 python benchmarks/bench_pipeline.py --device cuda --model resnet50 \
    --model efficientnet_lite0 --n-images 6000 --ref-images 600 --seconds 2 \
    ${FULL50K:+--full-50k --full-limit 30} --json "$out/bench_pipeline.json" \
    2>&1 | tee "$out/bench_pipeline.log" || status=1
timeout 40 python benchmarks/bench_boxes.py --device cuda --maps 4096 --batch 4096 --repeats 2 \
    2>&1 | tee "$out/bench_boxes.log" || status=1
exit $status
