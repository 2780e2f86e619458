"""The ``minicnn`` command.

    minicnn train                       # LeNet-5 on the embedded Fashion-MNIST subset
    minicnn train --model resnet20 --data cifar10 --data-path ~/data/cifar-10-binary.tar.gz
    minicnn train --resume runs/lenet5-fashion-mnist-embedded/last.npz
    mpiexec -n 4 minicnn train          # data-parallel over 4 processes (README: MPI)
    minicnn eval runs/a/best.npz runs/b/best.npz --tta flip
    minicnn summary resnet50 --input 3x224x224
    minicnn gradcheck conv2d --in-channels 2 --out-channels 3 --kernel-size 3 --stride 2 --padding 1
    minicnn models
    minicnn recipes                     # named configurations: minicnn train --recipe NAME
    minicnn train --recipe speedrun94 --data ~/data/cifar-10-binary.tar.gz
    minicnn info --trace resnet20

Every subcommand has ``--help``. Bad arguments, unknown models, missing data and refused files
(corrupt, crafted, or asking to be unpickled) end with a one-line message and exit status 2; a
diverged training run ends with exit status 1. Warnings are one plain line too.

A new run never overwrites a run: without --out it goes to runs/MODEL-DATA, or runs/MODEL-DATA-1,
-2, ... when that holds one (the user did not pick the folder, so a fresh one is as good);
an --out that holds a run is refused, naming --resume (the user picked it: writing elsewhere
would surprise a script that reads it afterwards), and so is --resume CHECKPOINT with an --out
that holds another run. Whatever a kill leaves in a run folder, one of the two works: --resume
continues from last.npz, or from best.npz when the kill came before the first last.npz; a
folder with no checkpoint holds no run, and --resume there says to start afresh.
"""

import argparse
import collections
import logging
import math
import os
import sys
import warnings
from contextlib import contextmanager

import numpy as np

import minicnn as mc
from minicnn import distributed
from minicnn.device import for_this_rank
from minicnn.recipes import (AUGMENTATIONS, DATASETS, MAX_BATCH_SIZE, MAX_COUNT,
                             NORMALIZATIONS, OPTIMIZERS, RECIPES,
                             SCHEDULES, TRAIN_DEFAULTS, TTA_MODES, UsageError, build_datasets,
                             build_loaders, build_model, build_run, check_config,
                             default_milestones, default_out, find_data, is_int, load_state,
                             model_options, new_run_folder, recipe_config, stored_config)
from minicnn.teach import cli as teach
from minicnn.train import TrainingDiverged, TrainingInterrupted
from minicnn.training_state import StateError, check_recipe, check_state


# ===================================================================================== train
# options that may change when a run is resumed (everything else must match the checkpoint)
RESUME_OVERRIDABLE = ("epochs",)


# argument types raise ArgumentTypeError with their own message: on a ValueError argparse would
# name the function ("invalid _positive_int value")
def _positive_int(text, high=MAX_COUNT):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= high:
        shown = repr(text) if len(text) <= 40 else f"{text[:20]!r}... ({len(text):,} characters)"
        raise argparse.ArgumentTypeError(f"expected a positive integer up to {high:,}, got "
                                         f"{shown}")
    return value


def _batch_size(text):
    return _positive_int(text, MAX_BATCH_SIZE)


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r:.40}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _milestones(text):
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected epochs separated by commas, e.g. 80,120; "
                                         f"got {text!r}") from None
    if not values or values != sorted(values) or values[0] < 1:
        raise argparse.ArgumentTypeError(f"milestones must be increasing positive epochs, "
                                         f"got {text!r}")
    return values


def _model_option(text):
    key, separator, value = text.partition("=")
    if not separator or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE such as modern=true, got {text!r}")
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    for convert in (int, float):
        try:
            return key, convert(value)
        except ValueError:
            pass
    return key, value


def _dataset_or_path(text):
    if text in DATASETS or os.path.exists(os.path.expanduser(text)):
        return text
    raise argparse.ArgumentTypeError(f"expected a dataset ({', '.join(DATASETS)}) or the path "
                                     f"of its archive or folder; no such file or folder: "
                                     f"{text!r}")


def _augmentations(text):
    names = [part.strip() for part in text.split(",") if part.strip()]
    if names == ["none"]:
        return "none"
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"augmentations are 'none' or a comma-separated list of "
                                         f"{', '.join(AUGMENTATIONS)}; got {text!r}")
    return ",".join(names)


def _add_train_parser(commands):
    parser = commands.add_parser(
        "train", help="train a model (no arguments: LeNet-5 on the embedded Fashion-MNIST)",
        description="Train a model with SGD-style optimizers and a learning-rate schedule. With no "
                    "arguments: LeNet-5 on the Fashion-MNIST subset shipped with minicnn. "
                    "Writes last.npz, best.npz, log.json (and PNG plots with matplotlib) to --out "
                    "and ends with the line 'test accuracy: NN.NN%'.")
    default = TRAIN_DEFAULTS
    data = parser.add_argument_group("model and data")
    data.add_argument("--model", help=f"model name, see `minicnn models` (default {default['model']})")
    data.add_argument("--model-option", type=_model_option, action="append", dest="model_options",
                      metavar="KEY=VALUE",
                      help="an option of the model's builder, e.g. modern=false for the paper's "
                           "LeNet-5 or dropout=0.3 for alexnet (repeatable; `minicnn models` "
                           "lists the models; default for lenet5: modern=true)")
    data.add_argument("--recipe", metavar="NAME",
                      help="start from a recipe, a named configuration (`minicnn recipes` lists "
                           "them); every option given beside it overrides the recipe's")
    data.add_argument("--data", type=_dataset_or_path, metavar="NAME|PATH",
                      help=f"dataset: {', '.join(DATASETS)} (default {default['data']}); or the "
                           "path of its archive or folder, the dataset being the recipe's")
    data.add_argument("--data-path", metavar="PATH",
                      help="the dataset's archive or folder (CIFAR: cifar-10-binary.tar.gz, "
                           "cifar-10-python.tar.gz or the extracted folder; MNIST: the folder of "
                           "IDX files); not needed for fashion-mnist-embedded")
    data.add_argument("--augment", type=_augmentations, metavar="LIST",
                      help="'none' or comma-separated: crop (random crop after zero padding), "
                           "translate (the same after reflect padding), flip (horizontal), "
                           "alternating-flip (each image mirrored every other epoch), cutout "
                           f"(default {default['augment']})")
    data.add_argument("--normalize", choices=NORMALIZATIONS,
                      help="channel (mean and std per channel) or pixel-mean (subtract the "
                           f"training images' mean image) (default {default['normalize']})")
    data.add_argument("--crop-padding", type=int, metavar="P",
                      help=f"padding of the random crop (default {default['crop_padding']}; "
                           "use 4 for CIFAR)")
    data.add_argument("--cutout-size", type=int, metavar="S",
                      help=f"side of the cutout square (default {default['cutout_size']})")
    data.add_argument("--train-subset", type=_positive_int, metavar="N",
                      help="train on the first N training images (quick trials)")
    data.add_argument("--test-subset", type=_positive_int, metavar="N",
                      help="test on the first N test images")
    opt = parser.add_argument_group("optimization")
    opt.add_argument("--epochs", type=_positive_int, help=f"default {default['epochs']}")
    opt.add_argument("--batch-size", type=_batch_size,
                     help=f"the global batch: under mpiexec -n N each rank takes 1/N of it "
                          f"(default {default['batch_size']})")
    opt.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default {default['optimizer']}")
    opt.add_argument("--lr", type=_non_negative_float,
                     help=f"(peak) learning rate (default {default['lr']})")
    opt.add_argument("--momentum", type=_non_negative_float,
                     help=f"SGD / RMSprop momentum (default {default['momentum']})")
    opt.add_argument("--nesterov", action=argparse.BooleanOptionalAction,
                     help=f"Nesterov momentum for SGD (default {default['nesterov']})")
    opt.add_argument("--weight-decay", type=_non_negative_float,
                     help=f"default {default['weight_decay']}")
    opt.add_argument("--schedule", choices=SCHEDULES,
                     help="learning-rate schedule: step (x gamma every --step-size epochs), "
                          "multistep (x gamma at --milestones), cosine (to 0), onecycle "
                          f"(warm-up then anneal, per batch) (default {default['schedule']})")
    opt.add_argument("--milestones", type=_milestones, metavar="E1,E2",
                     help="epochs where multistep multiplies the rate by gamma "
                          "(default: half and three quarters of the epochs)")
    opt.add_argument("--gamma", type=_non_negative_float, help=f"default {default['gamma']}")
    opt.add_argument("--step-size", type=_positive_int, help=f"default {default['step_size']}")
    opt.add_argument("--label-smoothing", type=_fraction,
                     help=f"default {default['label_smoothing']}")
    opt.add_argument("--bias-lr-scale", type=_positive_float, metavar="S",
                     help="the batch norms' shifts train at S x the learning rate and 1/S x the "
                          f"weight decay (default {default['bias_lr_scale']})")
    opt.add_argument("--norm-weight-decay", type=_non_negative_float, metavar="WD",
                     help="weight decay of the normalisation layers' weights and shifts "
                          "(torchvision's option; default: --weight-decay's)")
    opt.add_argument("--lookahead", type=_non_negative_int, metavar="K",
                     help="every K steps pull the weights back towards their slow average "
                          f"(airbench's lookahead; 0: off, default {default['lookahead']})")
    opt.add_argument("--whiten", action=argparse.BooleanOptionalAction,
                     help="set the first convolution from the training images' patch statistics "
                          "(nn.init.whitening_) before training")
    opt.add_argument("--tta", choices=TTA_MODES,
                     help="test-time augmentation of the evaluation after the last epoch "
                          f"(default {default['tta']})")
    opt.add_argument("--eval-every", type=_positive_int, metavar="N",
                     help="evaluate the test set after every N-th epoch and after the last "
                          f"(default {default['eval_every']})")
    run = parser.add_argument_group("run")
    run.add_argument("--seed", type=int, help=f"seed of every random choice (default {default['seed']})")
    run.add_argument("--out", metavar="DIR",
                     help="folder for checkpoints, log and plots (default runs/MODEL-DATA)")
    run.add_argument("--resume", nargs="?", const="", metavar="CHECKPOINT",
                     help="continue a run from a checkpoint (default: OUT/last.npz); the run's "
                          "settings come from the checkpoint, --epochs may extend it (not "
                          "under a onecycle, cosine or warmup-linear schedule or lookahead); "
                          "with --out, continued in that folder, which must hold no other run")
    run.add_argument("--backend", choices=mc.backend.BACKENDS,
                     help="kernel set: numpy, c, cuda or auto (default: MINICNN_BACKEND or auto)")
    run.add_argument("--device", type=_device_name, default="cpu",
                     help="where the model and data live: cpu, cuda or cuda:N (cuda needs CuPy)")
    run.add_argument("--no-plots", action="store_true", help="do not draw PNG plots")
    run.add_argument("--sync-bn", action="store_const", const=True,
                     help="under mpiexec: batch-norm statistics over the global batch "
                          "(SyncBatchNorm) rather than each rank's share")
    parser.set_defaults(run=cmd_train)
    return parser


def _given_options(args):
    given = {key: getattr(args, key) for key in TRAIN_DEFAULTS if getattr(args, key) is not None}
    if given.get("data") not in (None, *DATASETS):       # --data PATH
        if "data_path" in given:
            raise UsageError(f"--data {given['data']} is a path, and so is --data-path "
                             f"{given['data_path']}: give one")
        given["data_path"] = given.pop("data")
    if "model_options" in given:
        given["model_options"] = dict(given["model_options"])
    if "data_path" in given:       # absolute, so that a resumed run may start elsewhere
        given["data_path"] = os.path.abspath(os.path.expanduser(given["data_path"]))
    return given


def _train_config(args):
    """The run's configuration: defaults, then the options given; with --resume, the
    checkpoint's, where only RESUME_OVERRIDABLE options may differ."""
    given = _given_options(args)
    if args.resume is None:
        config = {**(recipe_config(args.recipe) if args.recipe else TRAIN_DEFAULTS), **given}
        if config["recipe"] and not config["data_path"] and find_data(config["data"]):
            config["data_path"] = find_data(config["data"])
            _say(f"{config['data']} from {config['data_path']}", file=sys.stderr)
        config["model_options"] = model_options(config)
        if config["schedule"] == "multistep" and not config["milestones"]:
            config["milestones"] = default_milestones(config["epochs"])
        if config["data"] == "fashion-mnist-embedded" and config["data_path"]:
            # else a forgotten --data trains on the shipped subset and ignores the path
            if not args.data_path:
                raise UsageError(f"--data {config['data_path']}: a path gives the data of a "
                                 "--recipe; without one, name the dataset: --data cifar10 "
                                 f"--data-path {config['data_path']} (or fashion-mnist, mnist, "
                                 "cifar100)")
            raise UsageError(f"--data-path {args.data_path} names no dataset: pass --data "
                             "fashion-mnist, mnist, cifar10 or cifar100 with it (the default "
                             "fashion-mnist-embedded ships with minicnn)")
        check_config(config)
        if "tta" in given:
            _warn_unflipped_tta(args.command, config["tta"], config["augment"], "the run trains")
        unused = {"adam": ("momentum", "nesterov"), "adamw": ("momentum", "nesterov"),
                  "rmsprop": ("nesterov",)}.get(config["optimizer"], ())
        ignored = [f"--{key}" for key in unused if key in given]
        if ignored:
            _warn(args.command, f"{' and '.join(ignored)} ignored: --optimizer "
                                f"{config['optimizer']} does not use it")
        return config, None
    path = _checkpoint_to_resume(args.resume or os.path.join(
        args.out or default_out(config_of=given), "last.npz"))
    state = load_state(path)
    config = stored_config(state, path)
    conflicts = [f"--{key.replace('_', '-')} {value} (checkpoint: {config.get(key)})"
                 for key, value in given.items()
                 if key not in RESUME_OVERRIDABLE and config.get(key) != value]
    if conflicts:
        raise UsageError("--resume continues a run with its own settings; these differ: "
                         + "; ".join(conflicts))
    if given.get("epochs", config["epochs"]) != config["epochs"] and _laid_out(config):
        raise UsageError(f"the {_laid_out(config)} of this run was laid out for "
                         f"{mc.train.plural(config['epochs'], 'epoch')}; a resumed run cannot "
                         "change --epochs")
    config.update({key: given[key] for key in RESUME_OVERRIDABLE if key in given})
    return config, (path, state)


def _laid_out(config):
    """What fixes a run's length in advance (its schedule or lookahead), or None: such a run
    cannot be extended by --epochs on --resume."""
    if config["schedule"] in ("onecycle", "cosine", "warmup-linear"):
        return f"{config['schedule']} schedule"
    return "lookahead" if config["lookahead"] else None


def _resume_folder(out, checkpoint):
    """The folder a resumed run writes to: --out, which must hold no run but the checkpoint's
    own (else it would overwrite another run's files), or the checkpoint's folder."""
    folder = os.path.dirname(checkpoint) or "."
    if out and os.path.realpath(out) != os.path.realpath(folder) and mc.train.holds_run(out):
        raise UsageError(f"--out {out} holds another run ({', '.join(mc.train.holds_run(out))}); "
                         f"--resume {checkpoint} would overwrite it: continue in {folder} (leave "
                         "out --out), or choose an --out that holds no run")
    return out or folder


def _checkpoint_to_resume(path):
    """The checkpoint that --resume PATH continues: PATH; or, when PATH is a run folder's
    last.npz that a kill left unwritten (during epoch 1's files, after best.npz landed), the
    folder's best.npz, which holds a complete state of its epoch. UsageError naming the
    command that works when the folder holds no checkpoint."""
    if os.path.basename(path) != "last.npz" or os.path.exists(path):
        return path
    folder = os.path.dirname(path) or "."
    best = os.path.join(folder, "best.npz")
    if os.path.isfile(best):
        _say(f"{path} does not exist (the run stopped before writing it); resuming from {best}",
             file=sys.stderr)
        return best
    if os.path.isdir(folder) and not mc.train.holds_run(folder):
        raise UsageError(f"{path} does not exist: {folder} holds no checkpoint (the run stopped "
                         f"before its first); start it afresh with the command that began it, without "
                         f"--resume, e.g. minicnn train --out {folder}")
    return path


def _stored_data_path(config, path, command):
    """Check that the data path stored in a checkpoint exists, and say that it is used."""
    if config["data_path"] is None or config["data"] == "fashion-mnist-embedded":
        return
    if not os.path.exists(config["data_path"]):
        raise UsageError(f"{path}: the data path stored in the checkpoint, "
                         f"{config['data_path']}, does not exist; pass --data-path")
    print(f"minicnn {command}: {path}: data from {config['data_path']} (stored in the "
          "checkpoint)", file=sys.stderr)


def _load_weights(model, weights, path, name):
    """model.load_state_dict(weights), or UsageError naming the file on the first mismatch."""
    try:
        model.load_state_dict(weights)
    except (RuntimeError, TypeError, ValueError, KeyError, AttributeError) as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(error).__name__)
        more = f" (and {len(lines) - 2} more)" if len(lines) > 2 else ""
        raise UsageError(f"{path}: its weights do not fit model {name}: {detail}{more}") \
            from None


def _warn_non_finite(weights, path, command):
    """Warn when a checkpoint's weights hold NaN or infinity: its predictions mean nothing."""
    arrays = [np.asarray(value.numpy() if hasattr(value, "numpy") else value)
              for value in weights.values()]
    arrays = [array for array in arrays if array.dtype.kind == "f"]
    bad = sum(int(np.count_nonzero(~np.isfinite(array))) for array in arrays)
    if bad:
        total = sum(array.size for array in arrays)
        _warn(command, f"{path}: {bad:,} of {total:,} weights are NaN or infinite; its "
                       "predictions are meaningless")


def _warn(command, message):
    """One line on stderr, on rank 0 only (every rank runs the same command under mpiexec)."""
    if distributed.is_main():
        print(f"minicnn {command}: warning: {message}", file=sys.stderr)


def _warn_unflipped_tta(command, tta, augment, trained):
    """Warn when test-time augmentation mirrors images that the model never saw mirrored in
    training (``trained``: who, e.g. "the run trains")."""
    if tta not in (None, "none") and not {"flip", "alternating-flip"} & set(augment.split(",")):
        _warn(command, f"--tta {tta}: {trained} without flipped images (augment: {augment}); "
                       "mirrored test images may lower its accuracy")


def _say(*values, **options):
    """print, on rank 0 only (every rank runs the same command under mpiexec)."""
    if distributed.is_main():
        print(*values, **options)


def _device_name(text):
    """--device: cpu, cuda or cuda:N (argparse's type)."""
    try:
        if mc.device(text).type == "cpu" and text != "cpu":
            raise RuntimeError(text)
    except (RuntimeError, TypeError):
        raise argparse.ArgumentTypeError(f"invalid device {text!r}: cpu, cuda or cuda:N") from None
    return text


def _check_device(args, runs_ops=True):
    """UsageError, before any work (a run folder, a model), for a MINICNN_BACKEND that names no
    backend, a GPU that is not there, or the cuda backend (--backend or MINICNN_BACKEND) for a
    command that runs ops (``runs_ops``) on the CPU."""
    try:
        backend = getattr(args, "backend", None) or mc.get_backend()
    except ValueError as error:
        raise UsageError(f"MINICNN_BACKEND: {error}") from None
    if getattr(args, "device", "cpu").startswith("cuda"):
        from minicnn.backend import cuda
        reason = cuda.unavailable_reason()
        if reason:
            raise UsageError(f"--device {args.device}: {reason}")
        if mc.device(args.device).index is not None and \
                mc.device(args.device).index >= cuda.device_count():
            raise UsageError(f"--device {args.device}: this machine has "
                             f"{cuda.device_count()} GPU(s), numbered from 0")
    elif backend == "cuda" and runs_ops:
        source = "--backend cuda" if getattr(args, "backend", None) else "MINICNN_BACKEND=cuda"
        fix = ("add --device cuda, or" if args.command == "train"
               else f"minicnn {args.command} runs on the CPU:")
        raise UsageError(f"{source} runs on GPU arrays; {fix} choose the backend numpy, c or "
                         "auto")


def cmd_train(args):
    distributed.init()
    distributed.share_cores()
    _check_device(args)     # here, after init: under MPI a usage error is said once
    if args.backend:
        mc.set_backend(args.backend)
    config, resumed = _train_config(args)
    if resumed is not None:
        _stored_data_path(config, resumed[0], args.command)
        check_config(config)
        out_dir = _resume_folder(args.out, resumed[0])
    else:
        out_dir = new_run_folder(args.out, config)
    # under mpiexec, each rank on a machine takes its own GPU
    device = str(for_this_rank(args.device))
    trainer = build_run(config, out_dir, device, plots=not args.no_plots)
    if resumed is not None:
        try:
            check_state(resumed[1], trainer)
            check_recipe(resumed[1], trainer)
            trainer.load_state_dict(resumed[1])
        except StateError as error:
            raise UsageError(f"{resumed[0]}: cannot resume from it: {error}") from None
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
            detail = (str(error).splitlines() or [""])[0]
            raise UsageError(f"{resumed[0]}: the checkpoint's training state is malformed "
                             f"({type(error).__name__}: {detail:.200})") from None
    missing = trainer.missing_files()
    if trainer.epoch >= config["epochs"] and not missing:
        done = f"the run is finished: it has {mc.train.plural(trainer.epoch, 'epoch')}"
        if _laid_out(config):
            raise UsageError(f"{done} of its {_laid_out(config)}, which cannot be extended; "
                             "start a new run to train longer")
        raise UsageError(f"{done}; pass --epochs N with N > {trainer.epoch} to continue it")
    if resumed is not None:
        where = f"epoch {trainer.epoch}"
        if trainer.partial_epoch is not None:
            where = f"epoch {trainer.epoch + 1}, batch {trainer.partial_epoch['batches']}"
        _say(f"resumed from {resumed[0]} after {where}")
    kernels = mc.backend.kernels_for(np.empty(1, np.float32)).NAME
    ranks = distributed.world_size()
    shards = "" if ranks == 1 else (f" on {ranks} ranks ({config['batch_size'] // ranks} images "
                                    f"each of the global batch {config['batch_size']})")
    if trainer.epoch >= config["epochs"]:
        _say(f"the run is finished but lacks {', '.join(missing)}; writing them")
    else:
        recipe = f"recipe {config['recipe']}: " if config["recipe"] else ""
        _say(f"{recipe}training {config['model']} on {config['data']} for "
             f"{mc.train.plural(config['epochs'], 'epoch')}{shards} ({kernels} kernels); "
             f"checkpoints in {out_dir}")
    _make_run_folder(out_dir)
    try:
        trainer.fit(config["epochs"])
    except TrainingInterrupted as stop:
        _say(f"{stop}\ncontinue with: minicnn train --resume {trainer.last_checkpoint}",
             file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        if os.path.exists(trainer.last_checkpoint):
            _say(f"\ninterrupted; continue from the last checkpoint with: minicnn train "
                 f"--resume {trainer.last_checkpoint}", file=sys.stderr)
        else:
            _say("\ninterrupted before the first checkpoint", file=sys.stderr)
        return 130
    _say(f"test accuracy: {100 * trainer.history[-1]['test_top1']:.2f}%")
    return 0


def _make_run_folder(out_dir):
    """Create the run folder ``out_dir`` (rank 0, as the trainer writes there); UsageError when
    it cannot be made (a path under /proc, a file of that name, no permission)."""
    if distributed.is_main():
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as error:
            raise UsageError(f"--out {out_dir}: cannot create the folder "
                             f"({error.strerror or error})") from None


# ====================================================================================== eval
def cmd_eval(args):
    if args.backend:
        mc.set_backend(args.backend)
    tta = None if args.tta == "none" else args.tta
    probabilities, labels, names = [], None, []
    for path in args.checkpoints:
        state = load_state(path)
        config = stored_config(state, path)
        if not isinstance(state.get("model"), dict) or not is_int(state.get("epoch"), 0):
            raise UsageError(f"{path}: the checkpoint lacks its model weights or epoch")
        if args.data_path and config["data"] == "fashion-mnist-embedded":
            _warn(args.command, f"--data-path ignored: {path} was trained on the "
                                "fashion-mnist-embedded data shipped with minicnn")
        elif args.data_path:
            config["data_path"] = args.data_path
        else:
            _stored_data_path(config, path, args.command)
        if args.test_subset:
            config["test_subset"] = args.test_subset
        _warn_unflipped_tta(args.command, args.tta, config["augment"], f"{path} was trained")
        _, test_set = build_datasets(config, train=False)
        _, loader = build_loaders({**config, "batch_size": args.batch_size}, None, test_set)
        model = build_model(config, len(test_set.classes), DATASETS[config["data"]]["channels"])
        _load_weights(model, state["model"], path, config["model"])
        _warn_non_finite(state["model"], path, args.command)
        probs, these_labels = mc.evaluate.predict_proba(model, loader, tta=tta)
        if labels is not None and not np.array_equal(labels, these_labels):
            raise UsageError(f"{path} was trained on other data than {args.checkpoints[0]} "
                             "(their test sets differ); an ensemble needs the same test set")
        labels = these_labels
        probabilities.append(probs)
        names.append(f"{path} (epoch {state['epoch']})")
    errors = mc.evaluate.ensemble_errors(probabilities, labels)
    width = max(len(name) for name in names + ["ensemble"])
    print(f"{len(labels)} test images, "
          + (f"with {tta} test-time augmentation" if tta else "no test-time augmentation"))
    print(f"{'model':{width}s}  top-1 error  top-5 error")
    for name, result in zip(names, errors["models"]):
        print(f"{name:{width}s}  {100 * result['top1']:10.2f}%  {100 * result['top5']:10.2f}%")
    if len(names) > 1:
        result = errors["ensemble"]
        label = f"ensemble of {len(names)}"
        print(f"{label:{width}s}  {100 * result['top1']:10.2f}%  {100 * result['top5']:10.2f}%")
    return 0


def _add_eval_parser(commands):
    parser = commands.add_parser(
        "eval", help="top-1 / top-5 error of checkpoints, single and ensembled",
        description="Evaluate checkpoints written by `minicnn train` on their test set: top-1 "
                    "and top-5 error of each, and of the ensemble (softmax outputs averaged) "
                    "when several are given.")
    parser.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help=".npz checkpoint")
    parser.add_argument("--tta", choices=TTA_MODES,
                        help="test-time augmentation (default none): flip averages the "
                             "softmax of each image and of its horizontal mirror; "
                             "flip-translate also of the pair moved one pixel up-left and "
                             "down-right (airbench's six views)")
    parser.add_argument("--data-path", metavar="PATH",
                        help="the dataset's archive or folder, if not where it was in training")
    parser.add_argument("--test-subset", type=_positive_int, metavar="N",
                        help="evaluate on the first N test images")
    parser.add_argument("--batch-size", type=_positive_int, default=256)
    parser.add_argument("--backend", choices=mc.backend.BACKENDS)
    parser.set_defaults(run=cmd_eval)


# =================================================================================== summary
def _input_size(text):
    try:
        size = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected CxHxW such as 3x224x224, got {text!r}")
    return size


def cmd_summary(args):
    try:
        model = mc.models.create(args.name, **({"num_classes": args.num_classes}
                                               if args.num_classes else {}))
        size = args.input or mc.models.input_size(args.name)
    except ValueError as error:
        raise UsageError(str(error)) from None
    try:
        table = mc.summary(model, size, model_name=args.name)
    except ValueError as error:     # an input too small for the model, or with other channels
        raise UsageError(f"{args.name} on a {'x'.join(map(str, size))} input: {error}") from None
    print(table)
    return 0


def _add_summary_parser(commands):
    parser = commands.add_parser("summary", help="layers, output shapes and parameter counts",
                                 description="Print a model's layers with their output shapes "
                                             "and parameter counts.")
    parser.add_argument("name", help="model name (see `minicnn models`)")
    parser.add_argument("--input", type=_input_size, metavar="CxHxW",
                        help="input size without the batch (default: the model's own, e.g. "
                             "3x224x224)")
    parser.add_argument("--num-classes", type=_positive_int, metavar="K")
    parser.set_defaults(run=cmd_summary)


# =================================================================================== recipes
def cmd_recipes(args):
    for recipe in RECIPES.values():
        print(f"{recipe.name}: {recipe.summary}")
        print(f"    built for: {recipe.target}")
        print(f"    measured:  {recipe.measured or 'not measured yet'}")
    return 0


# ==================================================================================== models
def cmd_models(args):
    for name in mc.models.names():
        size = "x".join(str(s) for s in mc.models.input_size(name))
        print(f"{name:22s} {size:10s} {mc.models.describe(name)}")
    return 0


def cmd_info(args):
    from minicnn.backend import info
    info.info()
    if args.trace:
        name = args.trace.lower()
        if name not in mc.models.names():
            raise UsageError(f"unknown model {args.trace!r}; `minicnn models` lists them")
        model = mc.models.create(name)
        x = np.random.default_rng(0).standard_normal((2, *mc.models.input_size(name)))
        with mc.backend.trace() as records:
            loss = mc.nn.functional.cross_entropy(model(mc.tensor(x.astype(np.float32))),
                                                  np.zeros(2, np.int64))
            loss.backward()
        print(f"kernel sets of one training step of {name} (a random batch of 2):")
        for (op, kernels), count in sorted(collections.Counter(records).items()):
            print(f"  {op:24s} {kernels:6s} x{count}")
    return 0


# ================================================================================= gradcheck
def _inputs_away_from_kinks(rng, shape):
    """Values in +-[0.1, 1]: central differences never straddle ReLU's kink at 0."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 1.0, size=shape)


def _distinct_values(rng, shape):
    """A permutation of evenly spaced values: no ties, so a max-pool window has one clear max."""
    count = int(np.prod(shape))
    return (rng.permutation(count).reshape(shape) - count / 2) / count * 4


def _gradcheck_case(args, rng):
    """(description, function, [(name, float64 tensor)]) for the chosen layer."""
    F = mc.nn.functional
    layer = args.layer

    def tensor(values, requires_grad=True):
        return mc.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)

    if layer in ("linear", "relu", "cross_entropy"):
        n = args.batch_size
        if layer == "linear":
            inputs = [("input", tensor(rng.standard_normal((n, args.in_features)))),
                      ("weight", tensor(rng.standard_normal((args.out_features, args.in_features))))]
            if args.bias:
                inputs.append(("bias", tensor(rng.standard_normal(args.out_features))))
            return (f"linear(in_features={args.in_features}, out_features={args.out_features}, "
                    f"bias={args.bias})", F.linear, inputs)
        if layer == "relu":
            return "relu", F.relu, [("input", tensor(_inputs_away_from_kinks(rng, (n, args.features))))]
        target = rng.integers(0, args.classes, size=n)
        return (f"cross_entropy(classes={args.classes}, label_smoothing={args.label_smoothing})",
                lambda logits: F.cross_entropy(logits, target,
                                               label_smoothing=args.label_smoothing),
                [("logits", tensor(rng.standard_normal((n, args.classes))))])

    shape = (args.batch_size, args.in_channels, args.height, args.width)
    if layer == "conv2d":
        groups = args.groups
        if args.in_channels % groups or args.out_channels % groups:
            raise UsageError(f"--groups {groups} must divide --in-channels {args.in_channels} "
                             f"and --out-channels {args.out_channels}")
        weight_shape = (args.out_channels, args.in_channels // groups, args.kernel_size,
                        args.kernel_size)
        inputs = [("input", tensor(rng.standard_normal(shape))),
                  ("weight", tensor(rng.standard_normal(weight_shape)))]
        if args.bias:
            inputs.append(("bias", tensor(rng.standard_normal(args.out_channels))))
        options = dict(stride=args.stride, padding=args.padding, dilation=args.dilation,
                       groups=groups)
        return (f"conv2d(in_channels={args.in_channels}, out_channels={args.out_channels}, "
                f"kernel_size={args.kernel_size}, " + _options(options) + f", bias={args.bias})",
                lambda x, w, b=None: F.conv2d(x, w, b, **options), inputs)
    if layer == "maxpool2d":
        options = dict(kernel_size=args.kernel_size, stride=args.stride, padding=args.padding,
                       dilation=args.dilation, ceil_mode=args.ceil_mode)
        return (f"max_pool2d({_options(options)})", lambda x: F.max_pool2d(x, **options),
                [("input", tensor(_distinct_values(rng, shape)))])
    if layer == "avgpool2d":
        options = dict(kernel_size=args.kernel_size, stride=args.stride, padding=args.padding,
                       ceil_mode=args.ceil_mode, count_include_pad=args.count_include_pad)
        return (f"avg_pool2d({_options(options)})", lambda x: F.avg_pool2d(x, **options),
                [("input", tensor(rng.standard_normal(shape)))])
    if layer == "batchnorm2d":
        channels = args.in_channels
        inputs = [("input", tensor(rng.standard_normal(shape) * 2 + 0.5)),
                  ("weight", tensor(rng.uniform(0.5, 1.5, channels))),
                  ("bias", tensor(rng.standard_normal(channels)))]
        return (f"batch_norm(num_features={channels}, eps={args.bn_eps}, training=True)",
                lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=args.bn_eps),
                inputs)
    options = dict(size=args.size, alpha=args.alpha, beta=args.beta, k=args.k)
    return (f"local_response_norm({_options(options)})",
            lambda x: F.local_response_norm(x, **options),
            [("input", tensor(rng.standard_normal(shape)))])


def _options(options):
    return ", ".join(f"{key}={value}" for key, value in options.items())


def cmd_gradcheck(args):
    # the inputs' generator must differ from gradcheck's upstream-gradient generator (seeded
    # with args.seed): equal draws make the upstream gradient a function of the input, and for
    # batch norm the input gradient then vanishes
    rng = np.random.default_rng([args.seed, 1])
    try:
        description, function, named_inputs = _gradcheck_case(args, rng)
        names = [name for name, _ in named_inputs]
        result = mc.utils.gradcheck(function, [tensor for _, tensor in named_inputs],
                                    eps=args.fd_eps, rtol=args.rtol, seed=args.seed,
                                    max_elements=args.max_elements)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    print(f"gradcheck {description}, float64, central differences (eps {args.fd_eps:g}) against "
          "backprop with a random upstream gradient")
    width = max(len(name) for name in names)
    for check in result.inputs:
        status = "ok" if check.passed else "FAILED"
        print(f"  {names[check.index]:{width}s} {str(check.shape):16s} relative error "
              f"{check.max_rel_error:.2e} over {check.checked} elements  {status}")
        if not check.passed:
            print("    element            numeric          analytic     rel. error")
            for where, numeric, analytic, rel in check.worst:
                print(f"    {str(tuple(int(i) for i in where)):14s} {numeric:16.9e} "
                      f"{analytic:16.9e} {rel:12.3e}")
    print(f"{'passed' if result else 'FAILED'} (tolerance: relative error <= {args.rtol:g})")
    return 0 if result else 1


def _add_gradcheck_parser(commands):
    parser = commands.add_parser(
        "gradcheck", help="check a layer's backward pass against central differences",
        description="Build float64 inputs for a layer with the given hyper-parameters, compare "
                    "its backprop gradients with central differences and print the relative "
                    "error per input. Exit status 1 if a gradient is wrong.")
    layers = parser.add_subparsers(dest="layer", metavar="LAYER", required=True)

    def layer_parser(name, help_text):
        sub = layers.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--batch-size", type=_positive_int, default=2, help="N (default 2)")
        common = sub.add_argument_group("gradient check")
        common.add_argument("--fd-eps", type=float, default=1e-6,
                            help="finite-difference step (default 1e-6)")
        common.add_argument("--rtol", type=float, default=1e-5,
                            help="largest relative error that passes (default 1e-5)")
        common.add_argument("--max-elements", type=_positive_int, metavar="M",
                            help="check at most M random elements per input")
        common.add_argument("--seed", type=int, default=0, help="seed of the inputs (default 0)")
        sub.set_defaults(run=cmd_gradcheck)
        return sub

    def image(sub, channels=2, size=7):
        sub.add_argument("--in-channels", type=_positive_int, default=channels,
                         help=f"C (default {channels})")
        sub.add_argument("--height", type=_positive_int, default=size, help=f"H (default {size})")
        sub.add_argument("--width", type=_positive_int, default=size, help=f"W (default {size})")

    def window(sub, kernel, stride):
        sub.add_argument("--kernel-size", type=_positive_int, default=kernel,
                         help=f"default {kernel}")
        sub.add_argument("--stride", type=_positive_int, default=stride,
                         help=f"default {stride}")
        sub.add_argument("--padding", type=int, default=0, help="default 0")

    sub = layer_parser("conv2d", "2-d convolution (F.conv2d)")
    image(sub)
    sub.add_argument("--out-channels", type=_positive_int, default=3, help="default 3")
    window(sub, 3, 1)
    sub.add_argument("--dilation", type=_positive_int, default=1, help="default 1")
    sub.add_argument("--groups", type=_positive_int, default=1, help="default 1")
    sub.add_argument("--bias", action=argparse.BooleanOptionalAction, default=True)

    sub = layer_parser("maxpool2d", "max pooling (F.max_pool2d); inputs have no ties")
    image(sub)
    window(sub, 3, 2)
    sub.add_argument("--dilation", type=_positive_int, default=1, help="default 1")
    sub.add_argument("--ceil-mode", action="store_true")

    sub = layer_parser("avgpool2d", "average pooling (F.avg_pool2d)")
    image(sub)
    window(sub, 3, 2)
    sub.add_argument("--ceil-mode", action="store_true")
    sub.add_argument("--count-include-pad", action=argparse.BooleanOptionalAction, default=True)

    sub = layer_parser("batchnorm2d", "batch normalisation in training mode (F.batch_norm)")
    image(sub, channels=3, size=4)
    sub.add_argument("--bn-eps", type=float, default=1e-5,
                     help="the layer's eps (default 1e-5)")

    sub = layer_parser("lrn", "local response normalisation (F.local_response_norm)")
    image(sub, channels=6, size=3)
    sub.add_argument("--size", type=_positive_int, default=5, help="channels in the window (default 5)")
    sub.add_argument("--alpha", type=float, default=1e-4, help="default 1e-4")
    sub.add_argument("--beta", type=float, default=0.75, help="default 0.75")
    sub.add_argument("--k", type=float, default=1.0, help="default 1.0")

    sub = layer_parser("linear", "fully connected layer (F.linear)")
    sub.add_argument("--in-features", type=_positive_int, default=5, help="default 5")
    sub.add_argument("--out-features", type=_positive_int, default=4, help="default 4")
    sub.add_argument("--bias", action=argparse.BooleanOptionalAction, default=True)

    sub = layer_parser("relu", "rectified linear unit (F.relu); inputs kept away from 0")
    sub.add_argument("--features", type=_positive_int, default=10, help="default 10")

    sub = layer_parser("cross_entropy", "softmax cross-entropy from logits (F.cross_entropy)")
    sub.add_argument("--classes", type=_positive_int, default=5, help="default 5")
    sub.add_argument("--label-smoothing", type=_fraction, default=0.0, help="default 0")


# ====================================================================================== main
def _runs_ops(args):
    """Whether the command runs minicnn's ops (on CPU arrays; train checks its --device itself)."""
    if args.command == "show":
        return args.picture != "im2col"     # the im2col picture calls the reference alone
    return args.command in ("eval", "summary", "gradcheck", "check") or bool(
        getattr(args, "trace", None))


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minicnn", description="minicnn: convolutional networks from scratch. Run "
                                    "`minicnn train` to train LeNet-5 on Fashion-MNIST.")
    parser.add_argument("--version", action="version", version=f"minicnn {mc.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_train_parser(commands)
    _add_eval_parser(commands)
    _add_summary_parser(commands)
    _add_gradcheck_parser(commands)
    teach.add_parsers(commands)
    recipes = commands.add_parser(
        "recipes", help="list the recipes for `minicnn train --recipe NAME`",
        description="List the recipes, named configurations of a whole training run: what "
                    "each is, what it is built to reach and what a full run measured.")
    recipes.set_defaults(run=cmd_recipes)
    models = commands.add_parser("models", help="list the model names",
                                 description="List the models: name, input size, description.")
    models.set_defaults(run=cmd_models)
    info = commands.add_parser("info", help="kernel sets, BLAS and threads in use",
                               description="Which kernel sets are built and selected, the BLAS "
                                           "library and the thread counts.")
    info.add_argument("--trace", metavar="MODEL",
                      help="also run one training step of MODEL and list the kernel set each "
                           "op ran on (MINICNN_LOG=kernels logs every op of any run)")
    info.set_defaults(run=cmd_info)
    return parser


class _PlainLine(logging.Handler):
    """Prints a record of the "minicnn" logger as "minicnn COMMAND: warning: ..."."""

    def __init__(self, command):
        super().__init__(logging.WARNING)
        self.command = command

    def emit(self, record):
        _warn(self.command, record.getMessage().removeprefix("minicnn: "))


@contextmanager
def _plain_warnings(command):
    """While the command runs, minicnn's own warnings and the warnings of its "minicnn" logger
    (the C kernels missing, ...) print as one line, "minicnn COMMAND: warning: ...", without the
    file and source line."""
    package = os.path.dirname(os.path.abspath(mc.__file__))
    logger, handler = logging.getLogger("minicnn"), _PlainLine(command)
    logger.addHandler(handler)
    with warnings.catch_warnings():
        show = warnings.showwarning

        def showwarning(message, category, filename, lineno, file=None, line=None):
            if not os.path.abspath(filename).startswith(package + os.sep):
                return show(message, category, filename, lineno, file, line)
            text = str(message).removeprefix("minicnn: ")
            print(f"minicnn {command}: warning: {text}", file=file or sys.stderr)

        warnings.showwarning = showwarning
        try:
            yield
        finally:
            logger.removeHandler(handler)


def main(argv=None):
    """Run the command line; returns the exit status (0 success, 1 failure, 2 usage error)."""
    args = build_parser().parse_args(argv)
    try:
        with _plain_warnings(args.command):
            if args.command != "train":
                _check_device(args, _runs_ops(args))
            status = args.run(args)
        sys.stdout.flush()      # a closed pipe shows here, not at the interpreter's exit
        return status
    except BrokenPipeError:
        # the reader stopped reading (`minicnn models | head -3`): as other Unix tools, end
        # quietly; stdout goes to /dev/null so that Python's last flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except UsageError as error:
        if distributed.is_initialized() and distributed.world_size() > 1:
            distributed.abort(f"minicnn {args.command}: error: {error}", 2)   # maybe one rank
        print(f"minicnn {args.command}: error: {error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"minicnn {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
