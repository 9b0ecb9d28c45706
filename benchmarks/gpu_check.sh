#!/usr/bin/env bash
# The checks that need a CUDA device, in one command:
#   1. the tests whose CUDA cases are skipped on a CPU-only machine (GPU results against the CPU);
#   2. the notebooks under nbval, when Jupyter is installed;
#   3. the pipeline benchmark on 10,000 ILSVRC-shaped synthetic JPEGs (b/a, b/c, 50,000-image
#      estimate) and the batched box search against a SciPy loop.
# Logs and the benchmark's JSON go to OUT_DIR (default gpu-check/).
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-check}"
mkdir -p "$out"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device here'" || exit 2
python -c "import torch; print(torch.__version__, torch.cuda.get_device_name())" | tee "$out/device.txt"
status=0

pytest -q -p no:cacheprovider -o addopts="" tests/test_gpu.py tests/test_evaluate.py \
    tests/test_boxes.py tests/test_metrics.py tests/test_saliency.py tests/test_release.py \
    2>&1 | tee "$out/pytest.log" || status=1

if python -c "import nbval, nbconvert" 2>/dev/null; then
    pytest -q -p no:cacheprovider -o addopts="" --nbval-lax --nbval-current-env notebooks \
        2>&1 | tee "$out/nbval.log" || status=1
else
    echo "nbval or nbconvert missing: notebooks not run" | tee "$out/nbval.log"
fi

python benchmarks/bench_pipeline.py --device cuda --model efficientnet_lite0 --model resnet50 \
    --json "$out/bench_pipeline.json" 2>&1 | tee "$out/bench_pipeline.log" || status=1
python benchmarks/bench_boxes.py --device cuda --maps 4096 --batch 4096 \
    2>&1 | tee "$out/bench_boxes.log" || status=1
exit $status
