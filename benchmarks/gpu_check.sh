#!/usr/bin/env bash
# The CUDA kernel set on a GPU, as one command (CI has no GPU; see DESIGN.md section 4):
#   1. the kernels through CuPy against the NumPy reference, gradients of a small network on
#      the CUDA set against the reference (tests/test_cuda_gpu.py), and the no-GPU checks
#      (NVRTC / nvcc compile, CPU emulation) for completeness;
#   2. ResNet-20, 200 steps on random data: the CUDA set's loss curve against the CPU's;
#   3. benchmarks/bench_layers.py --device cuda (with a PyTorch / cuDNN column when torch sees
#      the GPU).
# Needs CuPy for the machine's CUDA (pip install cupy-cuda12x or cupy-cuda13x, see README) and
# pytest + hypothesis; the C kernels are optional (the CPU curve then runs on the reference).
#   bash benchmarks/gpu_check.sh            MINICNN_CUDA_SYNC=1 is set, so a failing launch
#                                           names its kernel.
set -uo pipefail
cd "$(dirname "$0")/.."
export MINICNN_CUDA_SYNC=1
python3 -c "import minicnn; minicnn.info()"
status=0
python3 -m pytest -q -p no:cacheprovider tests/test_cuda_gpu.py tests/test_cuda_compile.py \
    tests/test_cuda_emulation.py || status=1
python3 benchmarks/gpu_resnet20_curve.py || status=1
python3 benchmarks/bench_layers.py --device cuda --repeat 3 || status=1
echo "gpu_check: $([ $status = 0 ] && echo passed || echo FAILED)"
exit $status
