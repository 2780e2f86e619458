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


def test_a_recipe_evaluated_every_third_epoch_passes_the_test_images_fewer_times():
    config = {**recipe_config("speedrun94"), "eval_every": 3}
    # epochs 3, 6 and 9 evaluated plainly, the last (10th) with its 6 test-time views
    assert bench_recipes.evaluated_views(config) == 3 + 6
    assert bench_recipes.evaluated_views({**config, "eval_every": 1}) == 9 + 6
