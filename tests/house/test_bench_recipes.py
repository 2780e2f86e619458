"""benchmarks/bench_recipes.py's arithmetic floor: a recipe's flops, against a count by hand."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_recipes  # noqa: E402
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
