"""Data-parallel training: the world of one (no launcher) here in the test process, and two ranks
started by the tests themselves with ``mpiexec -n 2`` (skipped where mpi4py is not installed):
DistributedDataParallel and SyncBatchNorm against one process with the whole batch, the
documented per-rank batch norm, a gradient check across the ranks, the sampler's shards, an
exact resume, the CLI, and a rank that raises."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
import minicnn.nn.functional as F
from minicnn import distributed
from minicnn.data import ArrayDataset, DataLoader, DistributedSampler
from minicnn.nn.functional.sync_batch_norm import SyncBatchNorm as SyncBatchNormFunction
from minicnn.nn.functional.sync_batch_norm import sync_batch_norm
from minicnn.nn.parallel import DistributedDataParallel
from checks import assert_gradcheck

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ----- the world of one ------------------------------------------------------------------------
@pytest.mark.parametrize("environ, expected", [
    ({}, None),
    ({"PMI_SIZE": "4", "PMI_RANK": "2"}, ("mpiexec (MPICH / Intel MPI)", 4, 2)),
    ({"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1"}, ("mpiexec (Open MPI)", 2, 1)),
    ({"SLURM_STEP_NUM_TASKS": "16", "SLURM_PROCID": "15"}, ("srun (Slurm)", 16, 15)),
    ({"SLURM_NTASKS": "16", "SLURM_PROCID": "0"}, None),     # sbatch's script, not a step
])
def test_launcher_is_read_from_the_environment(environ, expected):
    assert distributed.launcher(environ) == expected


def test_without_a_launcher_the_world_is_one_process():
    if distributed.launcher() is not None:
        pytest.skip("the tests themselves run under an MPI launcher")
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    values = np.arange(3.0)
    assert distributed.all_reduce(values) is values and values.tolist() == [0, 1, 2]
    assert distributed.all_gather(values).shape == (1, 3)
    distributed.barrier()
    with pytest.raises(ValueError, match="src must be a rank in \\[0, 0\\]"):
        distributed.broadcast(values, src=1)
    with pytest.raises(TypeError, match="NumPy array"):
        distributed.all_reduce([1.0, 2.0])


def test_a_launcher_of_another_mpi_is_refused():
    pytest.importorskip("mpi4py")
    # what Open MPI's mpiexec sets for an MPICH-built mpi4py, which then sees a world of one
    environ = {key: value for key, value in os.environ.items() if not key.startswith("PMI_")}
    environ.update(OMPI_COMM_WORLD_SIZE="2", OMPI_COMM_WORLD_RANK="0", PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-c", "from minicnn import distributed; "
                                                 "distributed.init()"],
                          env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "as one of 2 processes, but MPI sees 1" in done.stderr


def reference_indices(size, replicas, rank, drop_last):
    """PyTorch's DistributedSampler(shuffle=False), or its rules where PyTorch is absent."""
    torch = pytest.importorskip("torch")
    sampler = torch.utils.data.DistributedSampler(range(size), num_replicas=replicas, rank=rank,
                                                  shuffle=False, drop_last=drop_last)
    return list(sampler)


@pytest.mark.parametrize("size, replicas", [(10, 2), (11, 2), (3, 8), (7, 3), (1, 1)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_pads_and_strides_as_pytorch(size, replicas, drop_last):
    for rank in range(replicas):
        ours = DistributedSampler(range(size), replicas, rank, shuffle=False, drop_last=drop_last)
        expected = reference_indices(size, replicas, rank, drop_last)
        assert list(ours) == expected and len(ours) == len(expected)


@pytest.mark.parametrize("size, replicas", [(11, 2), (3, 8), (12, 4)])
def test_sampler_shuffles_from_seed_and_epoch_then_pads_with_the_order_itself(size, replicas):
    def interleaved(epoch, seed=5):
        shards = []
        for rank in range(replicas):
            sampler = DistributedSampler(range(size), replicas, rank, seed=seed)
            sampler.set_epoch(epoch)
            shards.append(sampler.indices())
        return np.stack(shards, axis=1).reshape(-1)     # global position i*replicas + rank

    order = interleaved(0)
    assert sorted(order[:size]) == list(range(size))
    np.testing.assert_array_equal(order[size:], np.resize(order[:size], len(order) - size))
    np.testing.assert_array_equal(interleaved(0), order)
    assert not np.array_equal(interleaved(1)[:size], order[:size]) or size < 4


def test_sampler_refuses_a_bad_rank():
    with pytest.raises(ValueError, match="Invalid rank 2, rank should be in the interval"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(TypeError, match="rank must be an int"):
        DistributedSampler(range(4), num_replicas=2, rank=0.5)


def test_loader_takes_the_sampler_order_and_sets_its_epoch():
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1)
    dataset = ArrayDataset(images, np.arange(10))
    sampler = DistributedSampler(dataset, num_replicas=2, rank=1, seed=3)
    loader = DataLoader(dataset, batch_size=2, sampler=sampler, prefetch=False)
    assert len(loader) == 3
    for epoch in range(2):
        labels = np.concatenate([batch_labels for _, batch_labels in loader])
        sampler.set_epoch(epoch)
        np.testing.assert_array_equal(labels, sampler.indices())
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(dataset, sampler=sampler, shuffle=True)


def small_net(batch_norm=False):
    mc.manual_seed(0)
    layers = [nn.Conv2d(2, 3, 3, padding=1)] + ([nn.BatchNorm2d(3)] if batch_norm else [])
    return nn.Sequential(*layers, nn.ReLU(), nn.Flatten(), nn.Linear(48, 4)).double()


def test_ddp_alone_gives_the_model_gradients_through_several_buckets():
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((4, 2, 4, 4)), rng.integers(0, 4, 4)
    plain, wrapped = small_net(), DistributedDataParallel(small_net(), bucket_cap_mb=200 / 2**20)
    assert len(wrapped._buckets) > 1 and wrapped.module is not None
    assert [p is q for p, q in zip(wrapped.parameters(), wrapped.module.parameters())] == [True] * 4
    for model in (plain, wrapped):
        F.cross_entropy(model(mc.tensor(x)), labels).backward()
    for p, q in zip(plain.parameters(), wrapped.parameters()):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    assert list(wrapped.state_dict()) == ["module." + key for key in plain.state_dict()]


def test_ddp_starts_reductions_during_the_backward_pass_and_ends_them_inside_it(monkeypatch):
    events = []
    real_all_reduce = distributed.all_reduce

    def logged_all_reduce(array, async_op=False):
        events.append(f"reduce {array.size}")
        return real_all_reduce(array, async_op)

    monkeypatch.setattr(distributed, "all_reduce", logged_all_reduce)
    model = DistributedDataParallel(small_net(), bucket_cap_mb=200 / 2**20)
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 2, 4, 4)), requires_grad=True)
    # x's gradient is complete only when the first layer's backward has run: the very end
    x.register_post_accumulate_grad_hook(lambda t: events.append("input gradient"))
    F.cross_entropy(model(x), np.array([0, 3])).backward()
    sizes = [len(bucket.buffer) for bucket in model._buckets]
    assert sizes == [4, 48 * 4, 3, 3 * 2 * 9]     # the parameters in reverse, 200 bytes a bucket
    # the linear layer's buckets go out before the convolution's backward has run; the
    # convolution's, when it has (it gives the input's gradient too)
    assert events == ["reduce 4", "reduce 192", "input gradient", "reduce 3", "reduce 54"]
    assert not model._reducing and all(b.work.request is None for b in model._buckets)


def test_ddp_unused_parameters_need_find_unused_parameters():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, x):
            return self.used(x)

    x = mc.tensor(np.ones((2, 3)))
    strict = DistributedDataParallel(TwoHeads().double())
    strict(x).sum().backward()
    with pytest.raises(RuntimeError, match="find_unused_parameters=True"):
        strict(x)
    lenient = DistributedDataParallel(TwoHeads().double(), find_unused_parameters=True)
    for _ in range(2):
        lenient.zero_grad()
        lenient(x).sum().backward()
        assert lenient.module.used.weight.grad is not None
        assert lenient.module.unused.weight.grad is None     # no rank used it: stays None


def test_sync_batch_norm_gradcheck_and_batch_norm_values_in_a_world_of_one():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 2, 3)) * 2 + 1
    weight, bias = rng.uniform(0.5, 1.5, 2), rng.standard_normal(2)

    def sync(x, w, b):
        return SyncBatchNormFunction.apply(x, w, b, running_mean=None, running_var=None,
                                           momentum=0.1, eps=1e-5)

    assert_gradcheck(sync, [mc.tensor(a, requires_grad=True) for a in (x, weight, bias)])
    expected = F.batch_norm(mc.tensor(x), None, None, mc.tensor(weight), mc.tensor(bias),
                            training=True)
    np.testing.assert_allclose(sync(*map(mc.tensor, (x, weight, bias))).numpy(),
                               expected.numpy(), rtol=1e-13, atol=1e-14)


def test_sync_batch_norm_on_several_ranks_checks_its_arguments_as_batch_norm(monkeypatch):
    """The checks run before the first collective, so two ranks are only pretended here."""
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="sync_batch_norm: eps must be positive"):
        sync_batch_norm(x, None, None, training=True, eps=float("nan"))
    with pytest.raises(TypeError, match="sync_batch_norm: weight dtype float32"):
        sync_batch_norm(x, None, None, weight=mc.ones(3), training=True)
    with pytest.raises(TypeError, match="momentum must be a number"):
        sync_batch_norm(x, mc.zeros(3).double(), mc.ones(3).double(), training=True,
                          momentum="fast")


def test_convert_sync_batchnorm_keeps_the_parameters_and_their_places():
    model = small_net(batch_norm=True)
    keys, weight = list(model.state_dict()), model[1].weight
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert isinstance(converted[1], nn.SyncBatchNorm) and converted[1].weight is weight
    assert list(converted.state_dict()) == keys
    bn = nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(5))
    assert isinstance(bn, nn.SyncBatchNorm) and bn.num_features == 5


# ----- two ranks -------------------------------------------------------------------------------
def mpiexec():
    """The mpiexec next to this Python (the mpich wheel's), else the one on PATH."""
    pytest.importorskip("mpi4py")
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = beside if os.path.exists(beside) else shutil.which("mpiexec")
    if found is None:
        pytest.skip("mpi4py is installed but no mpiexec was found")
    return found


def run_two_ranks(args, cwd, timeout=300):
    """``mpiexec -n 2 python ARGS``; the timeout only guards against a hung job."""
    environ = {key: value for key, value in os.environ.items()     # not a launched process's
               if not key.startswith(("PMI_", "PMIX_", "OMPI_", "MV2_", "SLURM_"))}
    environ["PYTHONPATH"] = ROOT + os.pathsep + environ.get("PYTHONPATH", "")
    return subprocess.run([mpiexec(), "-n", "2", sys.executable, *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Both ranks' results of tests/mpi_worker.py (one mpiexec for all the cases)."""
    out = tmp_path_factory.mktemp("mpi")
    done = run_two_ranks([os.path.join(ROOT, "tests", "mpi_worker.py"), str(out)], cwd=out)
    if done.returncode != 0:
        pytest.fail(f"mpiexec -n 2 tests/mpi_worker.py failed ({done.returncode}):\n"
                    f"{done.stdout}\n{done.stderr}")
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]


def test_two_ranks_find_each_other(two_ranks):
    assert [result["world"] for result in two_ranks] == [[0, 2], [1, 2]]


def test_ranks_on_one_machine_split_its_cores(two_ranks):
    chosen = {"MINICNN_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"} & set(os.environ)
    for result in two_ranks:
        machine = result["machine"]
        assert machine["local_ranks"] == 2
        if not chosen:
            assert machine["threads"] == max(1, machine["cores"] // 2)
            if mc.backend.ckernels.available():
                assert machine["c_threads"] == machine["threads"]


@pytest.mark.parametrize("case", ["equivalence_plain", "equivalence_sync_bn"])
def test_two_ranks_of_half_batches_equal_one_process_of_the_whole_batch(two_ranks, case):
    for result in two_ranks:
        assert result[case]["buckets"] > 1
        for name, error in result[case]["errors"].items():
            assert error <= 1e-12, (case, name, error)


def test_plain_batch_norm_normalises_each_rank_with_its_own_share(two_ranks):
    for rank, result in enumerate(two_ranks):
        plain = result["plain_batch_norm"]
        assert max(plain["param_errors"].values()) <= 1e-12
        assert plain["difference_from_global_batch_norm"] > 1e-6
    # the running statistics are rank 0's: broadcast before each forward
    assert two_ranks[0]["plain_batch_norm"]["running_mean_error"] <= 1e-12
    assert two_ranks[0]["plain_batch_norm"]["running_var_error"] <= 1e-12


def test_sync_batch_norm_gradcheck_across_two_ranks(two_ranks):
    for result in two_ranks:
        for name, error in result["sync_bn_gradcheck"].items():
            assert error <= 1e-6, (name, error)


def test_sampler_shards_are_disjoint_and_cover_the_dataset(two_ranks):
    for key, shards in two_ranks[0]["sampler"].items():
        size, drop_last, epoch = key.split("-")
        size, everything = int(size), np.concatenate(shards)
        assert len(shards[0]) == len(shards[1])
        if drop_last == "True":
            assert len(set(everything)) == len(everything) == size - size % 2
        else:
            assert set(everything) == set(range(size)) and len(everything) == size + size % 2
            if size % 2 == 0:
                assert not set(shards[0]) & set(shards[1])
    assert two_ranks[0]["sampler"]["11-False-0"] != two_ranks[0]["sampler"]["11-False-1"]


def test_a_stop_on_one_rank_stops_both_and_the_resumed_run_equals_the_straight_one(two_ranks):
    for result in two_ranks:
        resume = result["resume"]
        assert resume["stopped"].startswith("stopped after epoch 2, batch 1")
        assert resume["steps_before_stop"] == 5
        assert resume["max_difference"] == 0.0 and resume["histories_equal"]
        assert resume["test_images"] == 32     # the two test shards, summed


def test_cli_train_under_mpiexec_prints_and_writes_on_rank_0_only(tmp_path):
    done = run_two_ranks(["-m", "minicnn", "train", "--epochs", "1", "--train-subset", "256",
                          "--test-subset", "128", "--batch-size", "32", "--no-plots",
                          "--out", str(tmp_path / "run")], cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("test accuracy: ") == 1
    assert done.stdout.count("training lenet5") == 1       # the header goes with the epoch lines
    assert "on 2 ranks (16 images each of the global batch 32)" in done.stdout
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert log["epochs"][0]["epoch"] == 1
    assert sorted(os.listdir(tmp_path / "run")) == ["best.npz", "last.npz", "log.json"]


def test_a_rank_that_raises_ends_the_job_with_its_rank_and_error(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text(
        "from minicnn import distributed\n"
        "distributed.init()\n"
        "if distributed.rank() == 1:\n"
        "    raise ValueError('rank 1 cannot go on')\n"
        "distributed.barrier()   # rank 0 would wait here for ever\n")
    done = run_two_ranks([str(script)], cwd=tmp_path, timeout=60)
    assert done.returncode != 0
    assert "ValueError: rank 1 cannot go on" in done.stderr
    assert "minicnn: rank 1 of 2" in done.stderr and "MPI_Abort" in done.stderr


def test_a_collective_that_a_rank_never_joins_ends_the_job_at_the_timeout(tmp_path):
    script = tmp_path / "hang.py"
    script.write_text(
        "import time\n"
        "from minicnn import distributed\n"
        "distributed.init(timeout=1.0)\n"
        "if distributed.rank() == 0:\n"
        "    distributed.barrier()\n"
        "else:\n"
        "    time.sleep(120)   # stuck elsewhere: never reaches the barrier\n")
    done = run_two_ranks([str(script)], cwd=tmp_path, timeout=60)
    assert done.returncode != 0
    assert "minicnn: rank 0 of 2: barrier was not matched by every rank within 1 s" in done.stderr


def test_cli_usage_error_under_mpiexec_ends_every_rank_with_status_2(tmp_path):
    done = run_two_ranks(["-m", "minicnn", "train", "--batch-size", "33",
                          "--out", str(tmp_path / "run")], cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert "--batch-size 33 is the global batch; it must be a multiple of the 2 ranks" \
        in done.stderr


@pytest.mark.parametrize("exit_call, status, said", [
    ("sys.exit(3)", 3, "rank 1 of 2 exited with status 3"),
    ("exit(0)", 1, "rank 1 of 2 exited with status 0"),
    ("pass", 1, "rank 1 of 2 ended without sys.exit"),
    pytest.param("sys.exit(0)", 1, "rank 1 of 2 exited with status 0", marks=pytest.mark.slow),
    pytest.param("quit(5)", 5, "rank 1 of 2 exited with status 5", marks=pytest.mark.slow),
    pytest.param("sys.exit('no data')", 1, "rank 1 of 2 exited with status 1 (no data)",
                 marks=pytest.mark.slow),
    pytest.param("raise SystemExit(4)", 1, "rank 1 of 2 ended without sys.exit",
                 marks=pytest.mark.slow),
])
def test_a_rank_that_exits_ends_the_job_with_its_rank_and_status(tmp_path, exit_call, status,
                                                                 said):
    script = tmp_path / "leave.py"
    script.write_text(
        "import sys\n"
        "from minicnn import distributed\n"
        "distributed.init()     # the default timeout: 30 minutes\n"
        "if distributed.rank() == 1:\n"
        f"    {exit_call}\n"
        "else:\n"
        "    distributed.barrier()   # rank 1 never comes\n")
    done = run_two_ranks([str(script)], cwd=tmp_path, timeout=60)
    assert done.returncode == status, done.stderr
    assert f"minicnn: rank 0 of 2: barrier cannot complete: {said}" in done.stderr


def test_ranks_that_end_apart_after_their_last_collective_end_the_job_normally(tmp_path):
    script = tmp_path / "end.py"
    script.write_text(
        "import sys, time\n"
        "import numpy as np\n"
        "from minicnn import distributed\n"
        "distributed.init()\n"
        "for _ in range(100):\n"
        "    distributed.all_reduce(np.ones(3))\n"
        "if distributed.rank() == 0:\n"
        f"    time.sleep({distributed.EXIT_GRACE + 2})   # writing files while rank 1 has ended\n"
        "    print('rank 0 wrote its files')\n"
        "sys.exit(0)\n")
    done = run_two_ranks([str(script)], cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "rank 0 wrote its files" in done.stdout and "abort" not in done.stderr.lower()
