"""Several processes training one model: the MPI world, through mpi4py.

    mpiexec -n 4 minicnn train ...              # one machine, or many with a host file
    srun -n 16 minicnn train ...                # under Slurm

Every process (a *rank*) runs the same program on its own shard of the data; collectives over
``MPI.COMM_WORLD`` keep them in step (``nn.parallel.DistributedDataParallel`` averages the
gradients, ``nn.SyncBatchNorm`` the batch statistics). ``init()`` looks at the environment to see
whether a launcher started this process: MPICH's and Intel MPI's ``mpiexec`` (``PMI_SIZE``),
Open MPI's (``OMPI_COMM_WORLD_SIZE``), MVAPICH's (``MV2_COMM_WORLD_SIZE``) and Slurm's ``srun``
(``SLURM_STEP_NUM_TASKS``). Without a launcher the world is this one process and nothing here
touches MPI (mpi4py need not be installed); every collective is then a no-op, so the same
script runs alone and under ``mpiexec``.

Failures: under a launcher, an exception that nobody catches prints its traceback and the rank,
then calls ``MPI_Abort``, which ends every rank (instead of leaving the others blocked in their
next collective). A rank that exits (``sys.exit``, ``exit()``, or the end of its program; Python
never shows SystemExit to the excepthook) tells the others, with its exit status: a rank left
waiting in a collective then aborts the job within EXIT_GRACE seconds, naming it. The collectives
here wait at most ``timeout`` seconds (30 minutes by default,
as PyTorch's process groups) and abort the job with a message when one is not matched in time.
MPI has no timeouts of its own; this one is kept by polling the non-blocking operation.
"""

import math
import os
import sys
import time
import traceback

import numpy as np

__all__ = ["init", "is_initialized", "rank", "world_size", "local_world_size", "is_main",
           "barrier", "all_reduce", "all_gather", "broadcast", "abort", "launcher", "local_rank",
           "share_cores", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 1800.0  # seconds a collective may wait for the other ranks

# (variable holding the number of processes, variable holding this process's rank, launcher)
_LAUNCH_VARIABLES = (
    ("PMI_SIZE", "PMI_RANK", "mpiexec (MPICH / Intel MPI)"),
    ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "mpiexec (Open MPI)"),
    ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK", "mpiexec (MVAPICH)"),
    ("SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "srun (Slurm)"),
)


class _World:
    def __init__(self, comm, rank, size, timeout, local_size=1, local_rank=0):
        self.comm, self.rank, self.size, self.timeout = comm, rank, size, timeout
        self.local_size = local_size     # ranks on this machine
        self.local_rank = local_rank     # this rank's index among them


_world = None


def launcher(environ=None):
    """(launcher name, number of processes, rank) when an MPI launcher started this process,
    read from its environment variables; None otherwise."""
    environ = os.environ if environ is None else environ
    for size_variable, rank_variable, name in _LAUNCH_VARIABLES:
        if size_variable in environ and rank_variable in environ:
            return name, int(environ[size_variable]), int(environ[rank_variable])
    return None


def init(timeout=DEFAULT_TIMEOUT):
    """Join the MPI world if a launcher started this process (see the module docstring), else
    make a world of one. ``timeout``: the seconds a collective waits before it aborts the job
    (None: forever). A second call only changes the timeout; the functions below call init()
    themselves (with the default timeout) if nobody did.

    Raises RuntimeError when a launcher started several processes but mpi4py is missing, or
    MPI sees another number of processes (a launcher of another MPI): each process would
    otherwise train alone, on the whole data, and write the same files."""
    global _world
    if _world is not None:
        _world.timeout = timeout
        return _world
    launch = launcher()
    if launch is None:
        _world = _World(None, 0, 1, timeout)
        return _world
    name, size, _ = launch
    try:
        from mpi4py import MPI
    except ImportError:
        if size > 1:
            raise RuntimeError(f"minicnn was started by {name} as one of {size} processes, but "
                               "mpi4py is not installed: pip install 'minicnn[mpi]' (or "
                               "mpi4py built against your MPI)") from None
        _world = _World(None, 0, 1, timeout)
        return _world
    comm = MPI.COMM_WORLD
    if comm.Get_size() != size:
        raise RuntimeError(f"minicnn was started by {name} as one of {size} processes, but MPI "
                           f"sees {comm.Get_size()}: that launcher belongs to another MPI than "
                           f"the one mpi4py uses ({MPI.Get_library_version().splitlines()[0]}); "
                           "start the job with that MPI's mpiexec")
    machine = comm.Split_type(MPI.COMM_TYPE_SHARED)
    _world = _World(comm, comm.Get_rank(), comm.Get_size(), timeout, machine.Get_size(),
                    machine.Get_rank())
    machine.Free()
    if _world.size > 1:
        _install_abort_on_exception(_world)
        _install_exit_notice(_world)
    return _world


def _current():
    """The world, joined on first use with the default timeout."""
    return _world if _world is not None else init()


def is_initialized():
    """Whether this process has joined the world (init() ran, explicitly or on first use)."""
    return _world is not None


def rank():
    """This process's index in the world, 0 .. world_size() - 1."""
    return _current().rank


def world_size():
    """The number of processes training together (1 without a launcher)."""
    return _current().size


def local_world_size():
    """The number of ranks on this machine (they share its cores and memory)."""
    return _current().local_size


def local_rank():
    """This rank's index among the ranks on its machine, 0 .. local_world_size() - 1."""
    return _current().local_rank


def share_cores():
    """Give this rank's compute threads its share of the machine's cores: cores // ranks on
    this machine for the C kernels' thread pool and, when threadpoolctl is installed, NumPy's
    BLAS (several ranks each running a thread per core slow each other down; torchrun sets
    OMP_NUM_THREADS=1 for the same reason). Nothing changes in a world of one, or when
    MINICNN_NUM_THREADS, OMP_NUM_THREADS or OPENBLAS_NUM_THREADS chose the counts. Returns the
    thread count set, or None."""
    world = _current()
    chosen = {"MINICNN_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"} & set(os.environ)
    if world.local_size == 1 or chosen:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, (cores or 1) // world.local_size)
    from minicnn.backend import ckernels
    ckernels.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return threads
    threadpool_limits(threads, user_api="blas")
    return threads


def is_main():
    """True on rank 0, the one that prints, logs and writes files."""
    return _current().rank == 0


def abort(message, code=1):
    """Print ``message`` (with this rank) on stderr and end every rank of the job with ``code``.
    In a world of one: exit with ``code``."""
    world = _current()
    sys.stderr.write(f"minicnn: rank {world.rank} of {world.size}: {message}\n")
    sys.stderr.flush()
    if world.comm is None:
        sys.exit(code)
    time.sleep(0.5)   # the launcher forwards our stderr asynchronously; Abort would cut it off
    world.comm.Abort(code)
    os._exit(code)   # MPICH's Abort can return while the launcher is still ending the job


def _install_abort_on_exception(world):
    def abort_on_exception(kind, value, trace):
        sys.stderr.write("".join(traceback.format_exception(kind, value, trace)))
        abort(f"{kind.__name__}: {value}; aborting all {world.size} ranks (MPI_Abort)")

    sys.excepthook = abort_on_exception


# ----- a rank that exits -------------------------------------------------------------------------
# SystemExit never reaches sys.excepthook, so a rank that calls sys.exit (or exit(), or whose
# program simply ends) would leave the others blocked in their next collective. So each rank,
# when it exits, sends every other rank a notice with its exit status; a rank that waits in a
# collective (_wait) watches for notices, and when one came and its collective still is not
# complete EXIT_GRACE seconds later, it aborts the job naming the rank that left. In the normal
# end every rank exits after its last collective, so no wait outlives the grace.
EXIT_GRACE = 3.0      # seconds a collective may still take to complete after a rank exited
_EXIT_TAG = 7


def _install_exit_notice(world):
    import atexit
    import builtins
    world.notices = world.comm.Dup()         # the notices never mix with a program's messages
    world.exit_status = None

    def recording(exit_function):
        def exit(status=None):
            world.exit_status = status
            exit_function(status)
        return exit

    sys.exit = recording(sys.exit)
    for name in ("exit", "quit"):
        if hasattr(builtins, name):
            setattr(builtins, name, recording(getattr(builtins, name)))
    atexit.register(_send_exit_notice, world)


def _send_exit_notice(world):
    status = world.exit_status
    code = 0 if status is None else status if isinstance(status, int) else 1
    if status is None:
        described = "ended without sys.exit (its program returned, or raised SystemExit)"
    else:
        described = f"exited with status {code}" + (
            "" if isinstance(status, int) else f" ({status})")
    message = np.frombuffer(f"{code} rank {world.rank} of {world.size} {described}".encode(),
                            np.uint8)
    requests = [world.notices.Isend(message, dest=rank, tag=_EXIT_TAG)
                for rank in range(world.size) if rank != world.rank]
    deadline = time.monotonic() + EXIT_GRACE
    while not all(request.Test() for request in requests) and time.monotonic() < deadline:
        time.sleep(1e-3)


def _exit_notice(world):
    """(exit status, description) of a rank that exited, if its notice came; else None."""
    from mpi4py import MPI
    status = MPI.Status()
    if not world.notices.Iprobe(source=MPI.ANY_SOURCE, tag=_EXIT_TAG, status=status):
        return None
    message = np.empty(status.Get_count(MPI.BYTE), np.uint8)
    world.notices.Recv(message, source=status.Get_source(), tag=_EXIT_TAG)
    code, description = message.tobytes().decode().split(" ", 1)
    return int(code), description


class Work:
    """A collective in progress (PyTorch's ``async_op=True`` result): ``wait()`` blocks until it
    is complete, at most the world's timeout, and returns the result array."""

    def __init__(self, request, result, what):
        self.request, self.result, self.what = request, result, what

    def is_completed(self):
        """Whether the collective is complete, without blocking (MPI_Test)."""
        return self.request is None or self.request.Test()

    def wait(self):
        if self.request is not None:
            _wait(self.request, self.what)
            self.request = None
        return self.result


def _wait(request, what):
    """Wait for ``request``; past the world's timeout, or EXIT_GRACE seconds after another rank
    exited, abort the job. Sleeps between polls (up to 1 ms) so that a rank waiting for a
    slower one leaves the core to it."""
    timeout = _world.timeout
    deadline = math.inf if timeout is None else time.monotonic() + timeout
    pause = 1e-6
    exited = None
    while not request.Test():
        if exited is None and (exited := _exit_notice(_world)) is not None:
            deadline = min(deadline, time.monotonic() + EXIT_GRACE)
        if time.monotonic() > deadline:
            if exited is not None:
                code, message = exited
                abort(f"{what} cannot complete: {message}; aborting the job", code or 1)
            abort(f"{what} was not matched by every rank within {timeout:g} s (a rank stopped, "
                  "hangs, or runs a different program); aborting the job")
        time.sleep(pause)
        pause = min(2 * pause, 1e-3)


def _host_buffer(array, name):
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name}: expected a NumPy array, got {type(array).__name__}")
    if not array.flags.c_contiguous:
        raise ValueError(f"{name}: the array must be C-contiguous")
    return array


def all_reduce(array, async_op=False):
    """Sum ``array`` (a C-contiguous NumPy array) over every rank, in place: afterwards each
    rank holds the same sum. Returns the array, or a Work with ``async_op=True``."""
    world = _current()
    array = _host_buffer(array, "all_reduce")
    if world.comm is None:
        work = Work(None, array, "all_reduce")
    else:
        from mpi4py import MPI
        work = Work(world.comm.Iallreduce(MPI.IN_PLACE, array, op=MPI.SUM), array,
                    f"all_reduce of {array.size} {array.dtype} values")
    return work if async_op else work.wait()


def all_gather(array):
    """(world_size, *array.shape): every rank's ``array``, in rank order, on every rank."""
    world = _current()
    if not isinstance(array, np.ndarray):
        raise TypeError(f"all_gather: expected a NumPy array, got {type(array).__name__}")
    array = np.ascontiguousarray(array)
    gathered = np.empty((world.size,) + array.shape, dtype=array.dtype)
    if world.comm is None:
        gathered[0] = array
        return gathered
    _wait(world.comm.Iallgather(array, gathered), f"all_gather of {array.size} values")
    return gathered


def broadcast(array, src=0):
    """Copy rank ``src``'s ``array`` into the same array of every other rank, in place."""
    world = _current()
    array = _host_buffer(array, "broadcast")
    if not 0 <= src < world.size:
        raise ValueError(f"broadcast: src must be a rank in [0, {world.size - 1}], got {src}")
    if world.comm is not None:
        _wait(world.comm.Ibcast(array, root=src), f"broadcast of {array.size} values")
    return array


def barrier():
    """Return once every rank has called barrier()."""
    world = _current()
    if world.comm is not None:
        _wait(world.comm.Ibarrier(), "barrier")
