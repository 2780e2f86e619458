"""The training loop: epochs with a progress bar, evaluation, checkpoints, an exact resume.

    trainer = Trainer(model, train_loader, test_loader, optimizer, scheduler, out_dir="runs/lenet")
    trainer.fit(10)                  # trains until 10 epochs are done
    ...
    trainer = Trainer(...same objects, freshly built...)
    trainer.resume("runs/lenet/last.npz")
    trainer.fit(20)                  # continues from epoch 10, exactly as if never stopped

Each epoch trains over ``train_loader`` (progress on stderr: loss, accuracy, images/s, ETA),
steps the learning-rate schedule, evaluates top-1 / top-5 on ``test_loader`` (every
``eval_every``-th epoch and the last; every epoch by default), appends a record
to the history and writes, each atomically, ``best.npz`` (when the test top-1 improved), the JSON
log ``log.json`` and, last, ``last.npz``: ``last.npz`` is the commit point, so a run killed
between the files resumes from the previous epoch and writes them all again, and ``fit`` on a
finished run writes whatever of ``best.npz``, ``log.json`` and ``last.npz`` it lacks (a run
killed during epoch 1's files, after ``best.npz`` landed, resumes from ``best.npz``, which holds
the same state). ``fit`` removes the
part-written ``.NAME.*.tmp`` files a killed write leaves, and refuses to start a new run in a
folder that holds one (see ``unused_run_folder``).
A checkpoint holds everything the next epoch depends on: the
model, the optimizer and the schedule, the epoch, minicnn's default random generator (dropout,
initialisation) and the training loader's state (``DataLoader.state_dict()``: its seed and
position, from which its shuffling and augmentation follow), so a resumed run repeats the
uninterrupted one bit for bit.

Ctrl-C (SIGINT) during ``fit`` finishes the batch in progress, writes ``last.npz`` at that point
(the loader's position inside the epoch and the epoch's running sums included) and raises
TrainingInterrupted; resuming from it continues with the next batch. A second Ctrl-C stops at
once, without a checkpoint.

A loss that becomes NaN or infinite stops the run with TrainingDiverged; checkpoints are only
written after a finite step, so the last one on disk is good.

Data-parallel (``mpiexec -n N``, see ``minicnn.distributed``): give every rank the model wrapped
in ``nn.parallel.DistributedDataParallel``, a training loader over its ``DistributedSampler``
shard and a test loader over its own disjoint part of the test set. Each step then sums the
loss, the correct answers, the images and any stop request over the ranks (one small
Allreduce), so the progress, the divergence check and a Ctrl-C stop are the same on every rank;
the evaluation is summed likewise. Only rank 0 prints and writes files; every rank resumes
from its checkpoint, which holds the unwrapped model (as a single process writes it). With the
same number of ranks, a resumed run repeats the uninterrupted one exactly.
"""

import json
import math
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

import numpy as np

from minicnn import distributed
from minicnn.backend.validate import check_int
from minicnn.evaluate import as_batch, evaluate, topk_correct
from minicnn.nn.functional import cross_entropy
from minicnn.nn.parallel import DistributedDataParallel
from minicnn.random import get_rng_state, set_rng_state
from minicnn.training_state import check_state, named
from minicnn.utils import plotting
from minicnn.utils.checkpoint import atomic_write, load_checkpoint, save_checkpoint

__all__ = ["Trainer", "TrainingDiverged", "TrainingInterrupted", "ProgressBar", "RUN_FILES",
           "holds_run", "logged_epochs", "unused_run_folder", "plural"]

RUN_FILES = ("last.npz", "best.npz", "log.json")
PLOT_FILES = ("loss.png", "accuracy.png", "confusion.png", "filters.png")


def plural(count, noun):
    """'1 epoch', '2 epochs'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def holds_run(folder):
    """The names of RUN_FILES that ``folder`` holds (empty when it holds no run). A log.json
    that records no epoch is no run: it is all that a kill between the files of a stop inside
    epoch 1 leaves."""
    return [name for name in RUN_FILES if os.path.exists(os.path.join(folder, name))
            and (name != "log.json" or logged_epochs(os.path.join(folder, name)) != 0)]


def logged_epochs(path):
    """How many epochs the log.json at ``path`` records; None when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as file:
            return len(json.load(file)["epochs"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def unused_run_folder(folder):
    """``folder`` if it holds no run, else the first of ``folder-1``, ``folder-2``, ... that
    holds none: where a new run goes without overwriting a finished one."""
    candidate, number = folder, 0
    while holds_run(candidate):
        number += 1
        candidate = f"{folder}-{number}"
    return candidate


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class TrainingInterrupted(KeyboardInterrupt):
    """Stopped on request (Ctrl-C) after a batch; ``last.npz`` holds that point."""


# ----- progress ---------------------------------------------------------------------------------
def _clock(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return (f"{hours}:" if hours else "") + f"{rest // 60:02d}:{rest % 60:02d}"


class ProgressBar:
    """A one-line progress bar: redrawn in place with carriage returns on a terminal, printed as
    plain lines (at most one every ``plain_interval`` seconds, and the last) otherwise."""

    def __init__(self, total, description="", stream=None, width=24, plain_interval=10.0,
                 initial=0):
        self.total, self.description, self.width = total, description, width
        self.initial = initial          # steps already done before this bar started (resumed)
        self.stream = sys.stderr if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = 0.1 if self.tty else plain_interval
        self.start = self.last_draw = time.perf_counter()
        self.line_length = 0

    def update(self, done, images, **metrics):
        """Show ``done`` of ``total`` steps, ``images`` of them since the bar started, with
        metrics (name: text)."""
        now = time.perf_counter()
        if done < self.total and now - self.last_draw < self.interval:
            return
        self.last_draw = now
        elapsed = max(now - self.start, 1e-9)
        filled = int(self.width * done / self.total) if self.total else self.width
        parts = [self.description, "[" + "#" * filled + "." * (self.width - filled) + "]",
                 f"{done}/{self.total}"]
        parts += [f"{name} {value}" for name, value in metrics.items()]
        parts.append(f"{images / elapsed:.0f} img/s")
        if done < self.total:
            steps = max(done - self.initial, 1)
            parts.append(f"ETA {_clock(elapsed * (self.total - done) / steps)}")
        else:
            parts.append(f"in {_clock(elapsed)}")
        line = " ".join(part for part in parts if part)
        if self.tty:
            self.stream.write("\r" + line.ljust(self.line_length))
            self.line_length = len(line)
            if done >= self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _loader_state(loader):
    """The loader's position and seed (minicnn's DataLoader: its shuffling and augmentation are
    functions of seed, epoch and batch); None for a loader without state, e.g. a list."""
    return loader.state_dict() if hasattr(loader, "state_dict") else None


class _Silent:
    """Where the ranks other than 0 send their progress and summaries."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


def _sum_over_ranks(evaluation):
    """An ``evaluate`` result of this rank's test shard -> the result over every rank's shard."""
    if distributed.world_size() == 1:
        return evaluation
    images = evaluation["images"]
    confusion = evaluation["confusion"]
    sums = distributed.all_reduce(np.concatenate([
        [evaluation["loss"] * images, evaluation["top1"] * images,
         evaluation["top5"] * images, images], confusion.ravel()]).astype(np.float64))
    images = int(sums[3])
    return {"loss": float(sums[0]) / images, "top1": round(float(sums[1])) / images,
            "top5": round(float(sums[2])) / images,
            "confusion": np.rint(sums[4:]).astype(np.int64).reshape(confusion.shape),
            "images": images}


# ----- the trainer ------------------------------------------------------------------------------
class Trainer:
    """Trains ``model`` with ``optimizer`` on ``train_loader`` (an iterable of (images, labels)
    batches) for a number of epochs; see the module docstring.

    scheduler: a learning-rate schedule, stepped once per epoch (``scheduler_interval="epoch"``)
        or after every batch (``"step"``, e.g. OneCycleLR).
    out_dir: where ``last.npz``, ``best.npz``, ``log.json`` and the plots go (None: nowhere).
    config: JSON-able description of the run, stored in checkpoints and the log.
    loss_fn: ``loss_fn(logits, labels)`` -> 0-d Tensor (cross-entropy by default).
    lookahead: an ``optim.Lookahead`` over the model, stepped after every optimizer step and
        finished (its slow weights copied in) at the end of the last epoch's training.
    tta: the test-time augmentation of the evaluation after the last epoch
        (``evaluate.TTA_MODES``); the other epochs are evaluated without.
    eval_every: evaluate on ``test_loader`` after every ``eval_every``-th epoch and after the
        last (PyTorch Lightning's ``check_val_every_n_epoch``); the records of the others have no
        test figures, and only evaluated epochs can be the best. TypeError unless an int,
        ValueError below 1.
    """

    def __init__(self, model, train_loader, test_loader=None, optimizer=None, scheduler=None, *,
                 out_dir=None, config=None, loss_fn=cross_entropy, scheduler_interval="epoch",
                 device="cpu", plots=True, class_names=None, stream=None, out=None,
                 lookahead=None, tta=None, eval_every=1):
        if optimizer is None:
            raise ValueError("Trainer: an optimizer is required")
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', "
                             f"got {scheduler_interval!r}")
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.train_loader, self.test_loader = train_loader, test_loader
        self.out_dir = None if out_dir is None else os.fspath(out_dir)
        self.config = dict(config or {})
        self.loss_fn, self.scheduler_interval, self.device = loss_fn, scheduler_interval, device
        self.plots, self.class_names = plots, class_names
        self.eval_every = check_int(eval_every, "eval_every", "Trainer", 1)
        self.lookahead, self.tta = lookahead, tta
        self.stream = sys.stderr if stream is None else stream   # progress and notices
        self.out = sys.stdout if out is None else out            # one summary line per epoch
        if not distributed.is_main():
            self.stream = self.out = _Silent()
        self.epoch = 0                  # epochs completed
        self.history = []               # one dict per completed epoch
        self.best_metric = None         # best test top-1 so far (train accuracy without a test set)
        self.partial_epoch = None       # running sums of an epoch stopped part-way, to resume it
        self.last_evaluation = None
        self._stop_requested = False

    @property
    def network(self):
        """The model inside a DistributedDataParallel wrapper (or the model): what checkpoints,
        plots and the parameter check see, so that they do not depend on the wrapping."""
        model = self.model
        return model.module if isinstance(model, DistributedDataParallel) else model

    # ----- paths --------------------------------------------------------------------------------
    def _path(self, name):
        return None if self.out_dir is None else os.path.join(self.out_dir, name)

    @property
    def last_checkpoint(self):
        return self._path("last.npz")

    @property
    def best_checkpoint(self):
        return self._path("best.npz")

    # ----- state --------------------------------------------------------------------------------
    def state_dict(self):
        return {
            "epoch": self.epoch,
            "model": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "rng": get_rng_state(),
            "loader": _loader_state(self.train_loader),
            "best_metric": self.best_metric,
            "history": self.history,
            "partial_epoch": self.partial_epoch,
            "config": self.config,
            **({} if self.lookahead is None else {"lookahead": self.lookahead.state_dict()}),
        }

    def load_state_dict(self, state):
        """Continue from ``state``; StateError (a ValueError) naming the first field that this
        trainer cannot resume from (see ``minicnn.training_state``)."""
        check_state(state, self)
        with named("model"):
            self.network.load_state_dict(state["model"])
        with named("optimizer"):
            self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            with named("scheduler"):
                self.scheduler.load_state_dict(state["scheduler"])
        with named("rng"):
            set_rng_state(state["rng"])
        if hasattr(self.train_loader, "load_state_dict"):
            with named("loader"):
                self.train_loader.load_state_dict(state["loader"])
        self.epoch = int(state["epoch"])
        self.best_metric = state["best_metric"]
        self.history = list(state["history"])
        self.partial_epoch = state["partial_epoch"]
        if self.lookahead is not None:
            with named("lookahead"):
                self.lookahead.load_state_dict(state["lookahead"])

    def resume(self, path):
        """Continue from a checkpoint written by this trainer (same model, optimizer, schedule
        and loaders, built the same way). Returns the number of completed epochs."""
        self.load_state_dict(load_checkpoint(path))
        return self.epoch

    def request_stop(self):
        """Stop after the batch in progress, with a checkpoint (what Ctrl-C does in ``fit``)."""
        self._stop_requested = True

    @contextmanager
    def _stop_on_interrupt(self):
        """While training: the first SIGINT requests a stop after the batch, a second one
        interrupts at once. Signal handlers exist only in the main thread."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self._stop_requested:
                raise KeyboardInterrupt
            self.request_stop()
            self.stream.write("\nstopping after this batch (Ctrl-C again to stop at once)\n")

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
            self._stop_requested = False

    # ----- one epoch ----------------------------------------------------------------------------
    def _diverged(self, what, batch):
        where = f"epoch {self.epoch + 1}" + (f", batch {batch}" if batch is not None else "")
        if self.last_checkpoint is not None and os.path.exists(self.last_checkpoint):
            kept = (f"the last good checkpoint ({plural(self.epoch, 'epoch')}) is "
                    f"{self.last_checkpoint}")
        else:
            kept = "no checkpoint was written before it"
        return TrainingDiverged(f"training diverged: {what} at {where}; stopped. {kept}. "
                                "Try a smaller learning rate.")

    def train_epoch(self):
        """One pass over the training data (or the rest of it, for an epoch resumed part-way);
        returns {"loss", "accuracy", "images", "seconds", "lr"} over the whole epoch."""
        self.model.train()
        sums = self.partial_epoch or {"batches": 0, "loss_sum": 0.0, "correct": 0, "images": 0,
                                      "seconds": 0.0,
                                      "lr": self.optimizer.param_groups[0]["lr"]}
        total = len(self.train_loader) if hasattr(self.train_loader, "__len__") else 0
        bar = ProgressBar(total, f"epoch {self.epoch + 1}", self.stream, initial=sums["batches"])
        loss_sum, correct, images = sums["loss_sum"], sums["correct"], sums["images"]
        start = time.perf_counter() - sums["seconds"]
        for batch, (batch_images, batch_labels) in enumerate(self.train_loader,
                                                             sums["batches"] + 1):
            inputs, labels = as_batch(batch_images, batch_labels, self.device)
            self.optimizer.zero_grad()
            logits = self.model(inputs)
            loss = self.loss_fn(logits, labels)
            loss.backward()
            self.optimizer.step()
            if self.lookahead is not None:
                self.lookahead.step()
            # the step over every rank: loss sum, correct answers, images, stop requests
            step = distributed.all_reduce(np.array(
                [loss.item() * len(labels), topk_correct(logits.numpy(), labels, 1).sum(),
                 len(labels), self._stop_requested], dtype=np.float64))
            if not math.isfinite(step[0]):
                raise self._diverged(f"the loss is {step[0] / step[2]}", batch)
            if self.scheduler is not None and self.scheduler_interval == "step":
                self.scheduler.step()
            loss_sum += float(step[0])
            correct += int(step[1])
            images += int(step[2])
            stop = bool(step[3])          # every rank decides alike; a later request waits
            self._stop_requested |= stop  # for the next step
            bar.update(batch, images - sums["images"], loss=f"{loss_sum / images:.4f}",
                       acc=f"{100 * correct / images:.2f}%")
            if stop and batch < total:   # at the last batch, end the epoch
                self._stop_inside_epoch(batch, loss_sum, correct, images,
                                        time.perf_counter() - start, sums["lr"])
        seconds = time.perf_counter() - start
        self.partial_epoch = None
        if images == 0:
            raise ValueError("Trainer: the training loader gave no batches")
        return {"loss": loss_sum / images, "accuracy": correct / images, "images": images,
                "seconds": seconds, "lr": sums["lr"]}

    def _stop_inside_epoch(self, batch, loss_sum, correct, images, seconds, lr):
        self._check_parameters()
        self.partial_epoch = {"batches": batch, "loss_sum": loss_sum, "correct": correct,
                              "images": images, "seconds": seconds, "lr": lr}
        self._save(improved=False)
        saved = f"; checkpoint: {self.last_checkpoint}" if self.out_dir is not None else ""
        raise TrainingInterrupted(f"stopped after epoch {self.epoch + 1}, batch {batch}{saved}")

    def _check_parameters(self):
        for name, param in self.network.named_parameters():
            if not np.isfinite(param.numpy()).all():
                raise self._diverged(f"parameter {name} is not finite", None)

    # ----- the loop -----------------------------------------------------------------------------
    def fit(self, epochs):
        """Train until ``epochs`` epochs are complete (counting those of a resumed run); returns
        the history (one dict per epoch). Raises FileExistsError, before training, when a new
        run (no epoch done, nothing resumed) would overwrite the run ``out_dir`` holds."""
        if self.out_dir is not None and distributed.is_main():
            os.makedirs(self.out_dir, exist_ok=True)
            existing = holds_run(self.out_dir)
            if self.epoch == 0 and self.partial_epoch is None and existing:
                raise FileExistsError(
                    f"{self.out_dir} holds a run ({', '.join(existing)}) that a new run would "
                    "overwrite; resume it (Trainer.resume) or choose another out_dir")
            self._remove_partial_files()
        with self._stop_on_interrupt():
            self._fit(epochs)
        if self.out_dir is not None and distributed.is_main():
            self._complete_files()
            if self.plots:
                written = self.save_plots()
                if written:
                    self.stream.write(f"plots: {', '.join(map(os.path.basename, written))} in "
                                      f"{self.out_dir}\n")
                    self.stream.flush()
        return self.history

    def _remove_partial_files(self):
        """Remove the temporary files of writes that a killed run left part-done."""
        for entry in os.scandir(self.out_dir):
            if entry.name.endswith(".tmp") and any(entry.name.startswith(f".{name}.")
                                                   for name in RUN_FILES + PLOT_FILES):
                os.remove(entry.path)

    def missing_files(self):
        """Which of best.npz, log.json and last.npz a run killed between its files (or written
        by an older minicnn, which wrote last.npz first) lacks for its last completed epoch."""
        if self.out_dir is None or not self.history:
            return []
        missing = []
        metric = self._metric(self.history[-1])
        last_is_best = metric is not None and metric == self.best_metric
        if last_is_best and not os.path.exists(self.best_checkpoint):
            missing.append("best.npz")
        if logged_epochs(self._path("log.json")) != len(self.history):
            missing.append("log.json")
        if not os.path.exists(self.last_checkpoint):     # resumed from best.npz
            missing.append("last.npz")
        return missing

    def _complete_files(self):
        missing = self.missing_files()
        if "best.npz" in missing:
            save_checkpoint(self.best_checkpoint, self.state_dict())
        if "log.json" in missing:
            self._write_log()
        if "last.npz" in missing:
            save_checkpoint(self.last_checkpoint, self.state_dict())

    def _fit(self, epochs):
        while self.epoch < epochs:
            train = self.train_epoch()
            last = self.epoch + 1 == epochs
            if last and self.lookahead is not None:
                self.lookahead.finish()
            self._check_parameters()
            if self.scheduler is not None and self.scheduler_interval == "epoch":
                self.scheduler.step()
            record = {"epoch": self.epoch + 1, "lr": train["lr"], "train_loss": train["loss"],
                      "train_accuracy": train["accuracy"], "seconds": train["seconds"],
                      "images_per_second": train["images"] / max(train["seconds"], 1e-9)}
            if self.test_loader is not None and (last or (self.epoch + 1) % self.eval_every == 0):
                test = _sum_over_ranks(evaluate(self.model, self.test_loader, self.device,
                                                tta=self.tta if last else None))
                self.last_evaluation = test
                record.update(test_loss=test["loss"], test_top1=test["top1"],
                              test_top5=test["top5"])
                if last and self.tta is not None:
                    record["tta"] = self.tta
            self.epoch += 1
            self.history.append(record)
            metric = self._metric(record)
            improved = metric is not None and (self.best_metric is None
                                               or metric > self.best_metric)
            if improved:
                self.best_metric = metric
            self._save(improved)
            self.out.write(self._summary(record, epochs) + "\n")
            self.out.flush()
            if self._stop_agreed() and self.epoch < epochs:
                saved = f"; checkpoint: {self.last_checkpoint}" if self.out_dir is not None else ""
                raise TrainingInterrupted(f"stopped after epoch {self.epoch}{saved}")

    def _metric(self, record):
        """What makes an epoch the best: its test top-1, its training accuracy without a test
        set, None for an epoch left unevaluated (``eval_every``)."""
        if self.test_loader is None:
            return record["train_accuracy"]
        return record.get("test_top1")

    def _stop_agreed(self):
        """Whether any rank was asked to stop: all ranks must stop at the same point."""
        requests = distributed.all_reduce(np.array([self._stop_requested], dtype=np.float64))
        self._stop_requested = bool(requests[0])
        return self._stop_requested

    def _summary(self, record, epochs):
        width = len(str(epochs))
        line = (f"epoch {record['epoch']:{width}d}/{epochs}  train loss {record['train_loss']:.4f} "
                f"acc {100 * record['train_accuracy']:.2f}%")
        if "test_top1" in record:
            line += (f"  test loss {record['test_loss']:.4f} top-1 {100 * record['test_top1']:.2f}% "
                     f"top-5 {100 * record['test_top5']:.2f}%")
            if "tta" in record:
                line += f" (tta {record['tta']})"
        return line + (f"  lr {record['lr']:.4g}  {record['seconds']:.1f} s "
                       f"({record['images_per_second']:.0f} img/s)")

    def _save(self, improved):
        if self.out_dir is None or not distributed.is_main():
            return
        state = self.state_dict()
        if improved:
            save_checkpoint(self.best_checkpoint, state)
        self._write_log()
        save_checkpoint(self.last_checkpoint, state)     # the commit point: see the docstring

    def _write_log(self):
        log = json.dumps({"config": self.config, "epochs": self.history}, indent=1)
        atomic_write(self._path("log.json"), lambda file: file.write(log.encode("utf-8")))

    def save_plots(self):
        """Loss and accuracy curves, the last confusion matrix and the first layer's filters as
        PNG files in ``out_dir`` (skipped, with one notice, without matplotlib). Returns the
        paths written."""
        if not plotting.available():
            plotting.notice_skipped(self.stream)
            return []
        title = " on ".join(str(self.config[key]) for key in ("model", "data")
                            if key in self.config) or None
        written = plotting.plot_history(self.history, self.out_dir, title)
        if self.last_evaluation is not None:
            path = self._path("confusion.png")
            plotting.plot_confusion_matrix(self.last_evaluation["confusion"], path,
                                           self.class_names,
                                           f"test set after epoch {self.epoch}")
            written.append(path)
        weight = plotting.first_layer_filters(self.network)
        if weight is not None:
            path = self._path("filters.png")
            plotting.plot_filters(weight, path)
            written.append(path)
        return written
