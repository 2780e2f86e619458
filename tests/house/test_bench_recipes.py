"""benchmarks/bench_recipes.py's arithmetic floor: a recipe's flops, against a count by hand,
and the peaks benchmarks/fma_peak.c measures under it."""

import platform
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_recipes  # noqa: E402
from bench_train_step import fma_peak  # noqa: E402
from minicnn.recipes import recipe_config  # noqa: E402


def test_the_speedrun_s_flops_are_its_layers_multiply_adds_counted_by_hand():
    # (in channels * kernel area * out channels * output area) of each conv, then the linear
    forward = (3 * 4 * 24 * 31 * 31 + 24 * 9 * 64 * 31 * 31 + 64 * 9 * 64 * 15 * 15
               + 64 * 9 * 256 * 15 * 15 + 2 * 256 * 9 * 256 * 7 * 7 + 256 * 9 * 256 * 3 * 3
               + 256 * 10)
    per_image, total = bench_recipes.recipe_flops(recipe_config("speedrun94"))
    assert per_image == 3 * 2 * forward
    # 10 epochs of 50,000 trained images; 9 evaluations of 10,000, then 6 views at the last
    assert total == per_image * 10 * 50_000 + 2 * forward * (9 + 6) * 10_000


def test_a_recipe_evaluated_every_third_epoch_passes_the_test_images_fewer_times():
    config = {**recipe_config("speedrun94"), "eval_every": 3}
    # epochs 3, 6 and 9 evaluated plainly, the last (10th) with its 6 test-time views
    assert bench_recipes.evaluated_views(config) == 3 + 6
    assert bench_recipes.evaluated_views({**config, "eval_every": 1}) == 9 + 6


@pytest.mark.skipif(platform.machine() != "x86_64" or not Path("/proc/cpuinfo").exists()
                    or (shutil.which("cc") or shutil.which("gcc")) is None,
                    reason="fma_peak.c measures x86-64 CPUs; needs Linux and a C compiler")
def test_fma_peak_names_the_instruction_set_it_measured_or_reports_none_missing():
    native = fma_peak(1, "native", seconds=0.05)
    assert native is not None and native[1] in ("avx512", "avx2") and native[0] > 0
    avx2 = fma_peak(1, "avx2", seconds=0.05)
    assert avx2 is not None and avx2[1] == "avx2"
    tiles = fma_peak(1, "amx-bf16", seconds=0.05)   # None on a CPU or kernel without AMX
    with open("/proc/cpuinfo") as cpuinfo:
        has_amx = " amx_bf16" in cpuinfo.read()
    assert (tiles is not None) == has_amx
    if tiles is not None:
        assert tiles[1] == "amx-bf16" and tiles[0] > 0
