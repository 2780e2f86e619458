#!/usr/bin/env bash
# The GPU proof, as one command, on a bare GPU machine (CI has no GPU; see DESIGN.md section 4).
# Installs nothing; what the machine lacks is skipped with a plain line. Within 8 minutes:
#   1. the environment: driver, CUDA, NVRTC, cuBLAS, GPU, torch (stops here when minicnn's CUDA
#      set cannot run, saying why);
#   2. every CUDA kernel through CuPy against the NumPy reference (benchmarks/gpu_check.py
#      kernels, no pytest needed), then tests/kernels/test_kernel_sets.py on the "gpu" kernel set
#      when pytest and hypothesis are installed, and the CPU emulation's run of every kernel when
#      g++ is;
#   3. one ResNet-20 SGD step on the GPU against the CPU (float64 within 1e-9, float32 2e-3);
#   4. ResNet-20, 200 steps: the GPU's loss curve against the CPU's;
#   5. ResNet-20 training images/s against PyTorch on the same GPU, TF32 off and on;
#   6. if time is left, the per-layer table against PyTorch (cuDNN).
# The CPU side runs on the C kernels when they are built (cffi), else on the NumPy reference.
#   bash benchmarks/gpu_check.sh            with OUT set, the output is also written to $OUT/log
set -uo pipefail
cd "$(dirname "$0")/.."
BUDGET=${GPU_CHECK_SECONDS:-470}     # a little under 8 minutes, for the last section's exit
PY=${PYTHON:-python3}

left() { echo $((BUDGET - SECONDS)); }

# section NAME SECONDS COMMAND...: run with at most SECONDS (and what is left of the budget)
section() {
    local name=$1 limit=$2
    shift 2
    local remaining
    remaining=$(left)
    [ "$remaining" -lt "$limit" ] && limit=$remaining
    echo
    echo "=== $name ($(date -u +%H:%M:%S), at most ${limit}s)"
    if [ "$limit" -lt 10 ]; then
        echo "skipped: the 8-minute budget is spent"
        return 0
    fi
    timeout --kill-after=5 "$limit" "$@"
    local status=$?
    if [ $status = 124 ] || [ $status = 137 ]; then
        echo "$name: stopped after ${limit}s"
    elif [ $status != 0 ]; then
        echo "$name: FAILED (exit $status)"
        failed=1
    fi
    return 0
}

has_module() { "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)"; }

run() {
    failed=0
    echo "gpu_check: $(date -u), budget ${BUDGET}s"
    if command -v nvidia-smi > /dev/null; then
        nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
    else
        echo "no nvidia-smi"
    fi
    section "environment" 60 "$PY" benchmarks/gpu_check.py env
    if ! "$PY" -c "from minicnn.backend import cuda; import sys; sys.exit(not cuda.available())"; then
        echo "no GPU that minicnn's CUDA set can run on: the GPU checks are skipped"
        echo "gpu_check: skipped (no GPU)"
        return 0
    fi
    export MINICNN_CUDA_SYNC=1          # a failing launch names its kernel (not for the speed)
    section "kernels against the reference (no pytest)" 90 "$PY" benchmarks/gpu_check.py kernels
    if has_module pytest && has_module hypothesis; then
        section "tests/kernels/test_kernel_sets.py on the gpu set" 120 env MINICNN_KERNEL_SETS=gpu \
            "$PY" -m pytest -q -p no:cacheprovider tests/kernels/test_kernel_sets.py
    else
        echo
        echo "no pytest or hypothesis: tests/kernels/test_kernel_sets.py is skipped (the kernel check above ran)"
    fi
    if command -v g++ > /dev/null; then
        section "the CPU emulation of every kernel" 60 "$PY" tests/cuda_emulation.py
    else
        echo
        echo "no g++: the CPU emulation is skipped (CI runs it)"
    fi
    section "ResNet-20 step, GPU against CPU" 60 "$PY" benchmarks/gpu_check.py step
    section "ResNet-20 200-step loss curve" 150 "$PY" benchmarks/gpu_resnet20_curve.py
    unset MINICNN_CUDA_SYNC
    section "ResNet-20 img/s, TF32 off" 40 env CUPY_TF32=0 "$PY" benchmarks/gpu_check.py speed
    section "ResNet-20 img/s, TF32 on" 40 env CUPY_TF32=1 "$PY" benchmarks/gpu_check.py speed
    section "per-layer table against PyTorch (cuDNN)" 120 \
        "$PY" benchmarks/bench_layers.py --device cuda --sets cuda --repeat 3
    echo
    echo "gpu_check: $([ $failed = 0 ] && echo passed || echo FAILED) in ${SECONDS}s"
    return $failed
}

if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    run 2>&1 | tee "$OUT/log"
    exit "${PIPESTATUS[0]}"
fi
run
