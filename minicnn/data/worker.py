"""DataLoader worker processes (``num_workers > 0``), as PyTorch's.

Each worker is a process with a task pipe in and a result pipe out, and runs the C kernels on
one thread (PyTorch sets one thread a worker too). The parent sends a task per
batch, round-robin over the workers, at most ``prefetch_factor`` batches ahead of each, and
yields the results in the order of the tasks. A worker:
- seeds Python's ``random``, NumPy's global generator and minicnn's default generator with
  ``base_seed + worker_id`` (PyTorch seeds ``random`` and torch the same way; seeding NumPy's
  global generator too keeps forked workers from repeating each other's draws), sets the
  ``WorkerInfo`` that ``get_worker_info()`` returns, then calls ``worker_init_fn(worker_id)``;
- sends back a batch, or the exception it raised with its traceback (``ExceptionWrapper``),
  which the parent raises as an exception of the same type;
- exits when the parent sends None or when the parent process is gone (checked every
  _PARENT_POLL_SECONDS while idle); it ignores Ctrl-C (SIGINT, which the terminal sends to every
  process of the group), so that the loader's process decides what an interrupt does (the
  Trainer finishes its batch and saves a checkpoint) and shuts the workers down.

The parent waits on the result pipes and on the workers' process sentinels together, so a worker
that dies (killed, or ``os._exit``) raises RuntimeError at once instead of hanging, and
``timeout`` seconds without a batch raises RuntimeError.
"""

import contextlib
import multiprocessing
import multiprocessing.connection
import pickle
import random
import signal
import sys
import time
import traceback

import numpy as np

from minicnn.backend import ckernels
from minicnn.random import manual_seed

__all__ = ["WorkerInfo", "get_worker_info", "ExceptionWrapper"]

_PARENT_POLL_SECONDS = 1.0     # how often an idle worker checks that its parent is alive
_SHUTDOWN_SECONDS = 5.0        # how long a worker may take to exit before it is terminated

_worker_info = None


class WorkerInfo:
    """What ``get_worker_info()`` gives inside a worker: ``id``, ``num_workers``, ``seed``
    (this worker's) and ``dataset`` (this worker's copy)."""

    def __init__(self, id, num_workers, seed, dataset):  # noqa: A002  (PyTorch's name)
        self.id, self.num_workers, self.seed, self.dataset = id, num_workers, seed, dataset

    def __repr__(self):
        return (f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, "
                f"dataset={type(self.dataset).__name__})")


def get_worker_info():
    """This worker's WorkerInfo inside a DataLoader worker process, None in the main process.
    An IterableDataset uses it to yield a different part of its data in each worker."""
    return _worker_info


class _KeyErrorMessage(str):
    """A KeyError prints the repr of its argument; this message prints as itself."""

    def __repr__(self):
        return self


class ExceptionWrapper:
    """The exception being handled, with its traceback as text, to raise in another process."""

    def __init__(self, where):
        exc_type, exc_value, exc_traceback = sys.exc_info()
        self.type_name = exc_type.__name__
        self.exc_msg = "".join(traceback.format_exception(exc_type, exc_value, exc_traceback))
        self.where = where
        try:
            pickle.dumps(exc_type)
            self.exc_type = exc_type
        except Exception:  # noqa: BLE001  (a class defined in a function: RuntimeError instead)
            self.exc_type = None

    def reraise(self):
        """Raise an exception of the original type (RuntimeError when that type cannot be
        built from one message) whose message holds the original traceback."""
        message = f"Caught {self.type_name} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            message = _KeyErrorMessage(message)
        try:
            exception = self.exc_type(message)
        except Exception:  # noqa: BLE001
            raise RuntimeError(message) from None
        raise exception


class IterableEnd:
    """A worker's answer once its copy of an IterableDataset is exhausted."""

    def __init__(self, worker_id):
        self.worker_id = worker_id


def _worker_loop(fetcher, tasks, results, worker_id, num_workers, seed, worker_init_fn):
    """The body of a worker process (see the module docstring). ``fetcher`` makes a batch:
    ``fetch(epoch, batch, indices)`` for a map-style dataset, ``next_batch(iterator)`` for an
    iterable one."""
    global _worker_info
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is the loader's process's to handle
    if hasattr(signal, "pthread_sigmask"):          # blocked while we started: now ignored
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    ckernels.set_num_threads(1)     # as PyTorch: workers side by side do not oversubscribe
    random.seed(seed)
    np.random.seed(seed % 2**32)
    manual_seed(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, fetcher.dataset)
    where = f"in DataLoader worker process {worker_id}"
    init_error = None
    try:
        if worker_init_fn is not None:
            worker_init_fn(worker_id)
    except Exception:  # noqa: BLE001  (raised in the parent at the first batch)
        init_error = ExceptionWrapper(where)
    iterator, iteration = None, None
    parent = multiprocessing.parent_process()     # the loader's process, whatever started us
    while True:
        try:
            if not tasks.poll(_PARENT_POLL_SECONDS):
                if not parent.is_alive():
                    return
                continue
            task = tasks.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        iteration_id, send_index, epoch, batch, indices = task
        try:
            if init_error is not None:
                data = init_error
            elif fetcher.iterable:
                if iteration_id != iteration:
                    iterator, iteration = iter(fetcher.dataset), iteration_id
                data = fetcher.next_batch(iterator)
            else:
                data = fetcher.fetch(epoch, batch, indices)
        except StopIteration:
            data = IterableEnd(worker_id)
        except Exception:  # noqa: BLE001  (handed to the parent)
            data = ExceptionWrapper(where)
        try:
            results.send((iteration_id, send_index, data))
        except (BrokenPipeError, EOFError):
            return
        except Exception:  # noqa: BLE001  (data that cannot be pickled)
            results.send((iteration_id, send_index, ExceptionWrapper(where)))


@contextlib.contextmanager
def _sigint_blocked():
    """SIGINT blocked in this thread, so that a worker inherits it blocked until it has set it
    to be ignored (a Ctrl-C while a worker starts would otherwise kill it)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class WorkerPool:
    """``num_workers`` worker processes serving one DataLoader (see the module docstring)."""

    def __init__(self, fetcher, num_workers, base_seed, worker_init_fn, context):
        if context is None:
            context = multiprocessing.get_context()
        elif isinstance(context, str):
            context = multiprocessing.get_context(context)
        self.iteration = 0
        self.task_pipes, self.result_pipes, self.processes = [], [], []
        with _sigint_blocked():
            self._start(fetcher, num_workers, base_seed, worker_init_fn, context)

    def _start(self, fetcher, num_workers, base_seed, worker_init_fn, context):
        for worker_id in range(num_workers):
            task_receiver, task_sender = context.Pipe(duplex=False)
            result_receiver, result_sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker_loop, name=f"minicnn-dataloader-{worker_id}", daemon=True,
                args=(fetcher, task_receiver, result_sender, worker_id, num_workers,
                      base_seed + worker_id, worker_init_fn))
            process.start()
            task_receiver.close()
            result_sender.close()
            self.task_pipes.append(task_sender)
            self.result_pipes.append(result_receiver)
            self.processes.append(process)

    def new_iteration(self):
        """A new id for the tasks of a pass; results of an earlier pass are dropped."""
        self.iteration += 1
        return self.iteration

    def send(self, worker_id, task):
        try:
            self.task_pipes[worker_id].send(task)
        except OSError:     # a closed pipe: the worker died, which _check_alive reports
            self._check_alive()
            raise

    def receive(self, timeout):
        """The next (iteration id, send index, data) of any worker. Raises RuntimeError when a
        worker died, or when ``timeout`` seconds (> 0) pass without a result."""
        deadline = time.monotonic() + timeout if timeout > 0 else None
        sentinels = {process.sentinel: process for process in self.processes}
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = multiprocessing.connection.wait(self.result_pipes + list(sentinels), wait)
            for pipe in self.result_pipes:
                if pipe in ready:
                    try:
                        return pipe.recv()
                    except EOFError:
                        pass   # the worker closed its end: it died, its sentinel says so
            self._check_alive()
            if deadline is not None and time.monotonic() >= deadline:
                raise RuntimeError(f"DataLoader timed out after {timeout} seconds")

    def _check_alive(self):
        """Raise RuntimeError naming the workers that have exited."""
        dead = [process for process in self.processes if not process.is_alive()]
        if dead:
            details = ", ".join(f"{process.pid} (exit code {process.exitcode})"
                                for process in dead)
            raise RuntimeError(f"DataLoader worker (pid(s) {details}) exited unexpectedly")

    def shutdown(self):
        """Ask every worker to exit, read and drop what they still send meanwhile, terminate
        those that have not exited after _SHUTDOWN_SECONDS, and close the pipes."""
        for pipe in self.task_pipes:
            try:
                pipe.send(None)
            except OSError:
                pass
        deadline, open_pipes = time.monotonic() + _SHUTDOWN_SECONDS, list(self.result_pipes)
        while any(process.is_alive() for process in self.processes):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready = multiprocessing.connection.wait(
                open_pipes + [process.sentinel for process in self.processes], left)
            for pipe in [pipe for pipe in open_pipes if pipe in ready]:
                try:
                    pipe.recv()
                except (EOFError, OSError):
                    open_pipes.remove(pipe)
        for process in self.processes:
            if process.is_alive():
                process.terminate()
            process.join()
        for pipe in self.task_pipes + self.result_pipes:
            pipe.close()
        self.processes = []
