"""Data-parallel scaling on paper: the Allreduce of ResNet-20's and VGG-16's gradients measured
over the MPI ranks this machine can start, a training step's compute time, and the speedup
projected for 2 to 64 nodes under a stated network model.

    python3 benchmarks/bench_distributed.py                       # 10 and 100 Gbit/s Ethernet
    python3 benchmarks/bench_distributed.py --bandwidth-gbit 25 --latency-us 20
    python3 benchmarks/bench_distributed.py --max-ranks 4         # oversubscribe the cores
    python3 benchmarks/bench_distributed.py --node-speedup 1 30   # also nodes 30x faster

The network model (printed with the table): a ring Allreduce of S bytes over n nodes takes
2 (n - 1) latency + 2 (n - 1) / n * S / bandwidth (Patarasuk and Yuan, "Bandwidth optimal
all-reduce algorithms for clusters of workstations", 2009; Thakur, Rabenseifner and Gropp, 2005),
once per bucket of DistributedDataParallel (25 MiB, the model's own split). One node holds one
process with the measured compute time per image and a fixed batch per node (weak scaling: the
global batch grows with the nodes). Step time = compute + the communication that the backward
pass does not hide: all of it ("no overlap"), or ("overlap") the last bucket (the first
layers' gradients, ready when the backward pass ends) plus what the other buckets need beyond
the backward pass, taken as 2/3 of the compute. Speedup = n * compute / step time. ``--node-speedup K``
divides the measured compute by K (nodes K times faster than this process, e.g. with a GPU),
which is where the network starts to matter. Not modelled:
stragglers, the network's other traffic, the host copies, the per-step loss Allreduce.
The machine's cores may be shared with other jobs: its timings are noisy.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import minicnn as mc  # noqa: E402
from minicnn.nn.parallel import DistributedDataParallel  # noqa: E402

MODELS = {  # name: (batch timed on this machine, batch per node in the projection)
    "resnet20": (32, 128),
    "vgg16": (1, 32),
}
BUCKET_BYTES = 25 * 2**20
NODES = (2, 4, 8, 16, 32, 64)
BACKWARD_SHARE = 2 / 3     # backward ~ 2 x forward: the part of a step that can hide traffic


# ----- on each rank: time the Allreduce -------------------------------------------------------
def allreduce_worker(sizes, repeat):
    """Time the Allreduce of float32 gradients of ``sizes`` elements, in 25 MiB buckets (as
    DistributedDataParallel sends them); rank 0 prints {size: fastest seconds} as JSON."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    results = {}
    for size in sizes:
        gradient = np.ones(size, dtype=np.float32)
        step = BUCKET_BYTES // 4
        buckets = [gradient[start:start + step] for start in range(0, size, step)]
        times = []
        for _ in range(repeat + 1):                  # the first one warms up
            comm.Barrier()
            start = time.perf_counter()
            for bucket in buckets:
                comm.Allreduce(MPI.IN_PLACE, bucket, op=MPI.SUM)
            times.append(comm.allreduce(time.perf_counter() - start, op=MPI.MAX))
        results[size] = min(times[1:])
    if comm.Get_rank() == 0:
        print(json.dumps(results))


def measure_allreduce(ranks, sizes, repeat):
    """{size: seconds} from ``mpiexec -n ranks`` of this script, or None if it cannot start."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    mpiexec = beside if os.path.exists(beside) else shutil.which("mpiexec")
    if mpiexec is None:
        return None
    command = [mpiexec, "-n", str(ranks), sys.executable, __file__, "--allreduce-worker",
               "--repeat", str(repeat)] + [str(size) for size in sizes]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(f"mpiexec -n {ranks} failed:\n{done.stderr}\n")
        return None
    return {int(size): seconds for size, seconds in json.loads(done.stdout).items()}


# ----- in this process: a step's compute time -------------------------------------------------
def step_seconds(name, batch, repeat):
    """Fastest forward + backward + SGD step of ``name`` on a float32 batch."""
    mc.manual_seed(0)
    model = mc.models.create(name)
    optimizer = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    images = mc.tensor(rng.standard_normal((batch,) + mc.models.input_size(name))
                       .astype(np.float32))
    labels = rng.integers(0, mc.models.default_num_classes(name), batch)
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        optimizer.zero_grad()
        mc.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    params = list(model.parameters())
    buckets = [bucket.buffer.nbytes
               for bucket in DistributedDataParallel._make_buckets(params, BUCKET_BYTES)]
    return min(times[1:]), sum(p.numel() for p in params), buckets


# ----- the projection --------------------------------------------------------------------------
def ring_allreduce_seconds(nodes, size_bytes, bandwidth, latency):
    return 2 * (nodes - 1) * latency + 2 * (nodes - 1) / nodes * size_bytes / bandwidth


def speedups(compute, buckets, nodes, bandwidth, latency):
    """(communication seconds, no-overlap speedup, overlap speedup) over one node; ``buckets``:
    the bytes of each bucket, in the order the backward pass fills them."""
    times = [ring_allreduce_seconds(nodes, size, bandwidth, latency) for size in buckets]
    communication = sum(times)
    exposed = times[-1] + max(0.0, communication - times[-1] - BACKWARD_SHARE * compute)
    return (communication, nodes * compute / (compute + communication),
            nodes * compute / (compute + exposed))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bandwidth-gbit", type=float, nargs="+", default=[10.0, 100.0],
                        help="network bandwidth per node, Gbit/s (default: 10 100)")
    parser.add_argument("--latency-us", type=float, nargs="+", default=[50.0, 10.0],
                        help="latency per message, microseconds, one per bandwidth "
                             "(default: 50 for 10 Gbit/s TCP, 10 for 100 Gbit/s)")
    parser.add_argument("--max-ranks", type=int, default=max(2, os.cpu_count() or 1),
                        help="most MPI ranks to start here (default: the cores, at least 2)")
    parser.add_argument("--node-speedup", type=float, nargs="+", default=[1.0, 100.0],
                        help="nodes this many times faster than this process (default: 1 100)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (fastest kept)")
    parser.add_argument("--allreduce-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("sizes", type=int, nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.allreduce_worker:
        allreduce_worker(args.sizes, args.repeat)
        return
    if len(args.latency_us) != len(args.bandwidth_gbit):
        parser.error("give one --latency-us per --bandwidth-gbit")

    print("compute of one step (forward + backward + SGD), float32, this process, "
          f"{mc.backend.kernels_for(np.empty(1, np.float32)).NAME} kernels:")
    measured = {}
    for name, (batch, per_node) in MODELS.items():
        seconds, parameters, buckets = step_seconds(name, batch, args.repeat)
        per_image = seconds / batch
        measured[name] = (per_image * per_node, parameters, buckets)
        print(f"  {name:9s} {parameters:>12,d} parameters ({parameters * 4 / 2**20:6.1f} MiB of "
              f"gradients)  batch {batch}: {seconds * 1000:8.0f} ms  -> {per_node} images per "
              f"node: {per_image * per_node:7.2f} s", flush=True)

    sizes = [parameters for _, parameters, _ in measured.values()]
    rank_counts = sorted({r for r in (2, 4, 8, args.max_ranks) if 2 <= r <= args.max_ranks})
    print("\nAllreduce of the float32 gradients in 25 MiB buckets on this machine (shared "
          "memory), fastest of", args.repeat)
    print(f"  {'ranks':>5s} " + " ".join(f"{name + ' ms':>12s} {'bus GB/s':>9s}"
                                         for name in MODELS))
    for ranks in rank_counts:
        times = measure_allreduce(ranks, sizes, args.repeat)
        if times is None:
            print(f"  {ranks:5d}  could not start (mpi4py and mpiexec needed)")
            continue
        cells = []
        for size in sizes:
            seconds = times[size]
            bus = 2 * (ranks - 1) / ranks * size * 4 / seconds / 1e9
            cells.append(f"{seconds * 1000:12.2f} {bus:9.2f}")
        print(f"  {ranks:5d} " + " ".join(cells), flush=True)

    print("\nprojected speedup over one node (weak scaling: the batch per node stays fixed)")
    print(f"  assumptions: ring Allreduce, 2(n-1) latency + 2(n-1)/n S / bandwidth per bucket of "
          f"S bytes (DDP's {BUCKET_BYTES // 2**20} MiB buckets: "
          + ", ".join(f"{name} {len(buckets)}" for name, (_, _, buckets) in measured.items())
          + f");\n  one process per node with the compute measured above; with overlap, all "
          f"buckets but the last hide behind the backward pass ({BACKWARD_SHARE:.2f} of the "
          "compute)")
    for bandwidth_gbit, latency_us in zip(args.bandwidth_gbit, args.latency_us):
        bandwidth, latency = bandwidth_gbit * 1e9 / 8, latency_us * 1e-6
        for node_speedup in args.node_speedup:
            print(f"\n  network: {bandwidth_gbit:g} Gbit/s ({bandwidth / 1e9:.2f} GB/s), latency "
                  f"{latency_us:g} us; nodes {node_speedup:g}x this process: step compute "
                  + ", ".join(f"{name} {compute / node_speedup:.3g} s"
                              for name, (compute, _, _) in measured.items()))
            print(f"  {'nodes':>5s} " + " ".join(
                f"{name + ' comm s':>15s} {'no overlap':>10s} {'overlap':>8s}" for name in MODELS))
            for nodes in NODES:
                cells = []
                for compute, _, buckets in measured.values():
                    communication, plain, overlapped = speedups(
                        compute / node_speedup, buckets, nodes, bandwidth, latency)
                    cells.append(f"{communication:15.3f} {plain:10.1f} {overlapped:8.1f}")
                print(f"  {nodes:5d} " + " ".join(cells))


if __name__ == "__main__":
    main()
