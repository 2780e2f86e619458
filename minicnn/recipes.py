"""What a training run is made of, below both command lines (``minicnn.cli`` and
``minicnn.teach``): the datasets and their transforms, the model, the optimizer and its schedule,
the run folder and the checkpoint a run or an evaluation starts from; and the recipes, named and
documented configurations of a whole run.

    config = {**TRAIN_DEFAULTS, **RECIPES["resnet20-fast"].options, "data_path": path}
    trainer = build_run(config, out_dir="runs/r20")
    trainer.fit(config["epochs"])

A configuration is a flat dict with the keys of TRAIN_DEFAULTS (what `minicnn train` stores in
every checkpoint); a recipe is a configuration that differs from TRAIN_DEFAULTS in its
``options``. ``minicnn recipes`` lists them; ``minicnn train --recipe NAME`` runs one, and every
option given on the command line overrides the recipe's.
"""

import os
import pickle

import numpy as np

import minicnn as mc
from minicnn import distributed
from minicnn.utils.checkpoint import CheckpointError, load_checkpoint


class UsageError(Exception):
    """A bad command line, model name or data path: reported in one line, exit status 2."""


# Per-channel mean and standard deviation of the training images (the usual published values),
# used by Normalize.
DATASETS = {
    "fashion-mnist-embedded": {"channels": 1, "mean": (0.2860,), "std": (0.3530,)},
    "fashion-mnist": {"channels": 1, "mean": (0.2860,), "std": (0.3530,)},
    "mnist": {"channels": 1, "mean": (0.1307,), "std": (0.3081,)},
    "cifar10": {"channels": 3, "mean": (0.4914, 0.4822, 0.4465), "std": (0.2470, 0.2435, 0.2616)},
    "cifar100": {"channels": 3, "mean": (0.5071, 0.4865, 0.4409), "std": (0.2673, 0.2564, 0.2762)},
}
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("none", "step", "multistep", "cosine", "onecycle", "warmup-linear")
AUGMENTATIONS = ("crop", "flip", "cutout", "translate", "alternating-flip")
NORMALIZATIONS = ("channel", "pixel-mean")
TTA_MODES = ("none", "flip", "flip-translate")
# warmup-linear: airbench's schedule, per batch: from 0.2 x lr up to lr over the first 23% of the
# steps, then linearly down to 0.07 x lr
WARMUP_LINEAR = {"pct_start": 0.23, "start": 0.2, "end": 0.07}

# The main job: LeNet-5 on the embedded Fashion-MNIST subset, tuned to pass 85% test accuracy
# well within 3 minutes on 2 CPU cores.
TRAIN_DEFAULTS = {
    "model": "lenet5", "model_options": None, "data": "fashion-mnist-embedded", "data_path": None,
    "epochs": 12, "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9,
    "nesterov": True, "weight_decay": 5e-4, "schedule": "onecycle", "milestones": None,
    "gamma": 0.1, "step_size": 30, "augment": "crop", "crop_padding": 2, "cutout_size": 8,
    "label_smoothing": 0.0, "train_subset": None, "test_subset": None, "seed": 0,
    "sync_bn": False, "recipe": None, "normalize": "channel", "whiten": False,
    "bias_lr_scale": 1.0, "lookahead": 0, "tta": "none", "eval_every": 1,
    "norm_weight_decay": None,
}
# a model's options when --model-option gives none: the main job's LeNet-5 uses ReLU and max
# pooling, which learn faster than the paper's tanh and average pooling (88% against 87% test
# accuracy in 12 epochs)
DEFAULT_MODEL_OPTIONS = {"lenet5": {"modern": True}}
# the official archive of each CIFAR dataset, named where a recipe needs one
CIFAR_FILES = {"cifar10": "cifar-10-binary.tar.gz", "cifar100": "cifar-100-binary.tar.gz"}


class Recipe:
    """A named configuration: ``options`` override TRAIN_DEFAULTS; ``summary`` says what it
    is in a line; ``measured`` is the record of a full run (accuracy, time, machine, where its
    log is) or None when no full run exists yet; ``target`` what it is built to reach."""

    def __init__(self, name, summary, options, target, measured=None):
        self.name, self.summary, self.options = name, summary, options
        self.target, self.measured = target, measured

    def config(self):
        return {**TRAIN_DEFAULTS, **self.options, "recipe": self.name}


RECIPES = {recipe.name: recipe for recipe in [
    Recipe("lenet5-fashion",
           "the main job: LeNet-5 (ReLU, max pooling) on the embedded Fashion-MNIST subset, "
           "12 epochs, SGD one-cycle", {},
           target="85% test accuracy within 3 minutes on 2 cores",
           measured="88.90% test accuracy, 18 s of training, a quiet 2-core machine (AVX-512); "
                    "README"),
    Recipe("resnet20-he2016",
           "ResNet-20 as He et al. 2016 (sec. 4.2) train it: batch 128, SGD momentum 0.9, "
           "weight decay 1e-4, lr 0.1 / 10 at epochs 82 and 123 (32k and 48k iterations), "
           "164 epochs (64k iterations), 4-pixel padding + crop + flip, per-pixel mean "
           "subtraction",
           {"model": "resnet20", "data": "cifar10", "epochs": 164, "batch_size": 128,
            "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": False,
            "weight_decay": 1e-4, "schedule": "multistep", "milestones": [82, 123],
            "gamma": 0.1, "augment": "crop,flip", "crop_padding": 4, "normalize": "pixel-mean"},
           target="the paper's 91.25% on the official files (table 6)"),
    Recipe("resnet20-fast",
           "ResNet-20 (the paper's architecture) in under an hour on 2 cores: 27 epochs at "
           "batch 128 (about 121 s an epoch on a quiet 2-core Xeon), evaluated every third, "
           "SGD Nesterov one-cycle to lr 0.2, weight decay 5e-4 (none on the batch norms), "
           "label smoothing 0.1, 4-pixel padding + crop + flip, flip + translate test-time "
           "augmentation",
           {"model": "resnet20", "data": "cifar10", "epochs": 27, "batch_size": 128,
            "optimizer": "sgd", "lr": 0.2, "momentum": 0.9, "nesterov": True,
            "weight_decay": 5e-4, "schedule": "onecycle", "augment": "crop,flip",
            "crop_padding": 4, "label_smoothing": 0.1, "tta": "flip-translate",
            "eval_every": 3, "norm_weight_decay": 0.0},
           target="88.0% on the shared JPEG-decoded CIFAR-10 copy (the paper's 91.25% less "
                  "the copy's penalty) within 60 minutes on a quiet 2-core machine",
           measured="88.26% test top-1 (flip + translate TTA) on the shared JPEG-decoded copy "
                    "in 60.7 minutes, a quiet 2-core Xeon (AVX-512), in an hour it ran 12% "
                    "slower than for the runs with decayed batch norms (87.85-87.97% in "
                    "52.9-58.5 minutes); benchmarks/results/resnet20_fast_norm_weight_decay_0.txt"),
    Recipe("speedrun94",
           "airbench94's recipe (Jordan 2024) on the CPU: its 64/256/256 VGG-like net with "
           "BatchNorm and GELU behind a frozen whitening layer, 10 epochs at batch 1024, "
           "Nesterov SGD with warm-up and linear decay, lookahead, label smoothing 0.2, "
           "alternating flip + 2-pixel translation, flip + translate test-time augmentation",
           {"model": "airbench94", "data": "cifar10", "epochs": 10, "batch_size": 1024,
            "optimizer": "sgd", "lr": 1.5, "momentum": 0.85, "nesterov": True,
            # airbench's lr 11.5 and weight decay 0.0153 "per 1024 examples", in PyTorch's
            # units for a mean loss: 11.5 / (1 + 1 / (1 - 0.85)) = 1.5 and 0.0153 / 11.5
            "weight_decay": 0.0153 / 11.5, "bias_lr_scale": 64.0, "schedule": "warmup-linear",
            "augment": "translate,alternating-flip", "crop_padding": 2, "label_smoothing": 0.2,
            "whiten": True, "lookahead": 5, "tta": "flip-translate"},
           target="94% on the official CIFAR-10 files, as airbench94; 90.6% (mean of 3 seeds) "
                  "on the shared JPEG-decoded copy, within 15 minutes on a quiet 2-core "
                  "machine",
           measured="90.76% test top-1 (flip + translate TTA), the mean of seeds 0-2 (90.69, "
                    "90.67, 90.91) on the shared JPEG-decoded copy, in 41.4 minutes (40:23 to "
                    "42:22), a quiet 2-core Xeon (AVX-512); benchmarks/results/speedrun94.txt"),
]}


def recipe_config(name):
    """The configuration of recipe ``name``; UsageError listing the recipes for another name."""
    if name not in RECIPES:
        raise UsageError(f"unknown recipe {name!r}; the recipes are {', '.join(RECIPES)} "
                         "(`minicnn recipes` describes them)")
    return RECIPES[name].config()


# where a recipe looks for its CIFAR data when no --data names it: $MINICNN_DATA, ./data, ~/data
DATA_FOLDERS = ("$MINICNN_DATA", "data", "~/data")
CIFAR_FORMS = {"cifar10": ("cifar-10-binary.tar.gz", "cifar-10-batches-bin",
                           "cifar-10-python.tar.gz", "cifar-10-batches-py"),
               "cifar100": ("cifar-100-binary.tar.gz", "cifar-100-binary",
                            "cifar-100-python.tar.gz", "cifar-100-python")}


def find_data(name):
    """The first of CIFAR_FORMS[name] found in DATA_FOLDERS, as an absolute path, or None."""
    for folder in DATA_FOLDERS:
        folder = os.path.expanduser(os.path.expandvars(folder))
        if folder.startswith("$"):      # the variable is not set
            continue
        for form in CIFAR_FORMS.get(name, ()):
            path = os.path.join(folder, form)
            if os.path.exists(path):
                return os.path.abspath(path)
    return None


def check_config(config):
    """UsageError for a configuration that cannot run (a missing dataset, an unknown model,
    negative sizes)."""
    if config["recipe"] and config["data"] in CIFAR_FILES and not config["data_path"]:
        raise UsageError(f"recipe {config['recipe']} trains on {config['data']}, found in none of "
                         f"{', '.join(DATA_FOLDERS)}: download {CIFAR_FILES[config['data']]} "
                         f"from https://www.cs.toronto.edu/~kriz/cifar.html and pass --data "
                         f"PATH/{CIFAR_FILES[config['data']]} (or the folder it unpacks to)")
    if config["data"] not in ("fashion-mnist-embedded",) and not config["data_path"]:
        raise UsageError(f"--data {config['data']} needs --data-path (the dataset's archive or "
                         "folder)")
    if config["data_path"] and not os.path.exists(os.path.expanduser(config["data_path"])):
        raise UsageError(f"--data-path {config['data_path']}: no such file or folder")
    if config["model"].lower() not in mc.models.names():
        raise UsageError(f"unknown model {config['model']!r}; `minicnn models` lists them")
    if config["crop_padding"] < 0 or config["cutout_size"] < 0:
        raise UsageError("--crop-padding and --cutout-size must be >= 0")
    if config["seed"] < 0:
        raise UsageError(f"--seed {config['seed']}: a seed must be >= 0")


# the largest count an integer setting takes (more epochs or images than any run could use; a
# larger one would overflow a schedule's float arithmetic), and the largest batch (a thousand
# times the default, more images than any of the data sets holds)
MAX_COUNT = 2 ** 31 - 1
MAX_BATCH_SIZE = 2 ** 20


def is_int(value, low=None, high=None):
    return type(value) is int and (low is None or value >= low) and (high is None or value <= high)


def _is_number(value):
    return type(value) in (int, float) and bool(np.isfinite(value)) and value >= 0


# what each setting may hold, as the command line would give it: the settings stored in a
# checkpoint are checked against these before a run or an evaluation uses them
SETTING_CHECKS = {
    "model": lambda v: isinstance(v, str) and v.lower() in mc.models.names(),
    "model_options": lambda v: v is None or isinstance(v, dict) and all(
        isinstance(key, str) and key.isidentifier() for key in v),
    "data": lambda v: isinstance(v, str) and v in DATASETS,
    "data_path": lambda v: v is None or isinstance(v, str),
    "optimizer": lambda v: isinstance(v, str) and v in OPTIMIZERS,
    "schedule": lambda v: isinstance(v, str) and v in SCHEDULES,
    "augment": lambda v: isinstance(v, str) and (v == "none" or all(
        name in AUGMENTATIONS for name in v.split(","))),
    "milestones": lambda v: v is None or isinstance(v, list) and all(
        is_int(m, 1) for m in v),
    **{key: lambda v: isinstance(v, bool) for key in ("nesterov", "sync_bn")},
    "seed": lambda v: is_int(v, 0),
    **{key: lambda v: is_int(v, 1, MAX_COUNT) for key in ("epochs", "step_size", "eval_every")},
    "batch_size": lambda v: is_int(v, 1, MAX_BATCH_SIZE),
    **{key: lambda v: is_int(v, 0) for key in ("crop_padding", "cutout_size")},
    **{key: lambda v: v is None or is_int(v, 1, MAX_COUNT)
       for key in ("train_subset", "test_subset")},
    **{key: _is_number for key in ("lr", "momentum", "weight_decay", "gamma")},
    "label_smoothing": lambda v: _is_number(v) and v <= 1,
    "recipe": lambda v: v is None or isinstance(v, str) and v in RECIPES,
    "normalize": lambda v: isinstance(v, str) and v in NORMALIZATIONS,
    "whiten": lambda v: isinstance(v, bool),
    "bias_lr_scale": lambda v: _is_number(v) and v > 0,
    "norm_weight_decay": lambda v: v is None or _is_number(v),
    "lookahead": lambda v: is_int(v, 0),
    "tta": lambda v: isinstance(v, str) and v in TTA_MODES,
}


def stored_config(state, path):
    """The training settings stored in the checkpoint ``state`` read from ``path``, with the
    defaults for settings it lacks; UsageError naming the file when one is malformed."""
    config = state.get("config")
    if not isinstance(config, dict) or "model" not in config or "data" not in config:
        raise UsageError(f"{path}: the checkpoint has no training configuration "
                         "(it was not written by `minicnn train`)")
    config = {**TRAIN_DEFAULTS, **config}
    bad = [f"{key}={config[key]!r:.60}" for key, valid in SETTING_CHECKS.items()
           if not valid(config[key])]
    if bad:
        raise UsageError(f"{path}: the checkpoint's training settings are malformed: "
                         + ", ".join(bad))
    return config


def new_run_folder(out, config):
    """Where a new run goes: ``out`` (the --out given, or None) unless it holds a run, else a
    fresh runs/MODEL-DATA[-K] (see the docstring of ``minicnn.cli``)."""
    if out:
        existing = mc.train.holds_run(out)
        if existing:
            raise UsageError(f"--out {out} holds a run ({', '.join(existing)}); continue it "
                             f"with --resume --out {out}, or choose another --out")
        return out
    return mc.train.unused_run_folder(default_out(config))


def default_out(config_of):
    if config_of.get("recipe"):
        return os.path.join("runs", config_of["recipe"])
    model = config_of.get("model", TRAIN_DEFAULTS["model"])
    data = config_of.get("data", TRAIN_DEFAULTS["data"])
    return os.path.join("runs", f"{model}-{data}")


def build_datasets(config, train=True):
    """(train set or None, test set) with the augmentations of ``config`` on the training set."""
    data = mc.data
    spec = DATASETS[config["data"]]
    normalize = data.transforms.Normalize(spec["mean"], spec["std"])
    path = config["data_path"]
    pixel_mean = config["normalize"] == "pixel-mean"
    try:
        if config["data"] == "fashion-mnist-embedded":
            def load(split, transform):
                return data.embedded_fashion_mnist(train=split, transform=transform)
        else:
            dataset_class = {"fashion-mnist": data.FashionMNIST, "mnist": data.MNIST,
                             "cifar10": data.CIFAR10, "cifar100": data.CIFAR100}[config["data"]]

            def load(split, transform):
                return dataset_class(os.path.expanduser(path), train=split, transform=transform)

        if pixel_mean:      # the mean image of the training set, in [0, 1]
            normalize = data.transforms.SubtractMean(
                load(True, None).images.mean(axis=0, dtype=np.float64) / 255)
        test_set = load(False, normalize)
        train_set = None
        if train:
            image_size = test_set.images.shape[2:]
            train_set = load(True, _train_transform(config, normalize, image_size))
    except (FileNotFoundError, ValueError, pickle.UnpicklingError) as error:
        raise UsageError(f"cannot read {config['data']} from {path or 'the package'}: {error}") \
            from None
    if config["test_subset"]:
        test_set = data.Subset(test_set, np.arange(min(config["test_subset"], len(test_set))))
    if train_set is not None and config["train_subset"]:
        train_set = data.Subset(train_set,
                                np.arange(min(config["train_subset"], len(train_set))))
    if train_set is not None and "alternating-flip" in config["augment"].split(","):
        train_set = data.AlternatingFlip(train_set, seed=config["seed"])
    return train_set, test_set


def _train_transform(config, normalize, image_size):
    """Augmentations in the usual order: crop (zero padding) or translate (reflect padding) and
    flip the image, normalise, then cut out (an alternating flip wraps the dataset)."""
    transforms = mc.data.transforms
    steps = []
    augment = [] if config["augment"] == "none" else config["augment"].split(",")
    if "crop" in augment and "translate" in augment:
        raise UsageError("--augment: crop and translate both move the image; choose one")
    if "flip" in augment and "alternating-flip" in augment:
        raise UsageError("--augment: flip and alternating-flip both mirror the image; choose one")
    if "translate" in augment:
        if config["crop_padding"] >= min(image_size):
            raise UsageError(f"crop_padding {config['crop_padding']} is too wide for translating "
                             f"the {'x'.join(map(str, image_size))} images (reflect padding): "
                             f"at most {min(image_size) - 1}")
        steps.append(transforms.RandomCrop(tuple(image_size), padding=config["crop_padding"],
                                           padding_mode="reflect"))
    if "crop" in augment:
        if config["crop_padding"] > min(image_size):
            raise UsageError(f"crop_padding {config['crop_padding']} is wider than the "
                             f"{'x'.join(map(str, image_size))} images; at most "
                             f"{min(image_size)}")
        steps.append(transforms.RandomCrop(tuple(image_size), padding=config["crop_padding"]))
    if "flip" in augment:
        steps.append(transforms.RandomHorizontalFlip())
    steps.append(normalize)
    if "cutout" in augment:
        steps.append(transforms.Cutout(config["cutout_size"]))
    return transforms.Compose(steps)


def build_loaders(config, train_set, test_set):
    """(train loader or None, test loader). Under N ranks: the training loader takes this
    rank's DistributedSampler shard in batches of batch_size / N, and the test loader every
    N-th test image from this rank's index (the trainer sums the results)."""
    loader, ranks, rank = mc.data.DataLoader, distributed.world_size(), distributed.rank()
    if ranks > 1:
        test_set = mc.data.Subset(test_set, np.arange(rank, len(test_set), ranks))
    test_loader = loader(test_set, batch_size=max(config["batch_size"], 256), shuffle=False)
    if train_set is None:
        return None, test_loader
    if ranks == 1:
        return loader(train_set, batch_size=config["batch_size"], shuffle=True,
                      seed=config["seed"]), test_loader
    if config["batch_size"] % ranks:
        raise UsageError(f"--batch-size {config['batch_size']} is the global batch; it must be "
                         f"a multiple of the {ranks} ranks")
    sampler = mc.data.DistributedSampler(train_set, seed=config["seed"])
    return loader(train_set, batch_size=config["batch_size"] // ranks, sampler=sampler,
                  seed=config["seed"]), test_loader


def model_options(config):
    options = config.get("model_options")
    return DEFAULT_MODEL_OPTIONS.get(config["model"].lower(), {}) if options is None else options


def build_model(config, num_classes, channels):
    name = config["model"]
    expected = mc.models.input_size(name)[0]
    if expected != channels:
        raise UsageError(f"model {name} takes {expected}-channel images but {config['data']} "
                         f"has {channels} channel(s)")
    options = dict(model_options(config))
    if options.get("num_classes", num_classes) != num_classes:
        raise UsageError(f"model option num_classes={options['num_classes']!r:.40}: "
                         f"{config['data']} has {num_classes} classes, the number the model's "
                         "classifier must have; leave the option out")
    options.pop("num_classes", None)
    try:
        return mc.models.create(name, num_classes=num_classes, **options)
    except (TypeError, ValueError) as error:
        raise UsageError(f"model {name}: {error}") from None


def default_milestones(epochs):
    """Divide the rate at half and three quarters of the run, as the ResNet paper does."""
    return [max(1, epochs // 2), max(1, (3 * epochs) // 4)]


def build_optimizer(config, model, steps_per_epoch):
    """(optimizer, schedule or None, "epoch" or "step": when the schedule steps)."""
    optim = mc.optim
    params = [param for param in model.parameters() if param.requires_grad]
    name, lr, decay = config["optimizer"], config["lr"], config["weight_decay"]
    scale = config["bias_lr_scale"]
    norm_decay = decay if config["norm_weight_decay"] is None else config["norm_weight_decay"]
    if scale != 1 or norm_decay != decay:
        # torchvision's --norm-weight-decay: the normalisation layers' weights and shifts decay
        # at their own rate; airbench's bias scaler: the batch norms' shifts learn S x faster
        # and decay S x slower
        norm_layers = (mc.nn.modules.norm._BatchNorm, mc.nn.GroupNorm, mc.nn.LayerNorm)
        norm = {id(param) for module in model.modules() if isinstance(module, norm_layers)
                for param in module.parameters(recurse=False)} if norm_decay != decay else set()
        shifts = {id(module.bias) for module in model.modules()
                  if isinstance(module, mc.nn.modules.norm._BatchNorm)
                  and module.bias is not None} if scale != 1 else set()
        special = norm | shifts
        groups = [{"params": [p for p in params if id(p) not in special]},
                  {"params": [p for p in params if id(p) in norm - shifts],
                   "weight_decay": norm_decay},
                  {"params": [p for p in params if id(p) in shifts], "lr": lr * scale,
                   "weight_decay": norm_decay / scale}]
        params = [group for group in groups if group["params"]]
    if name == "sgd":
        optimizer = optim.SGD(params, lr=lr, momentum=config["momentum"], weight_decay=decay,
                              nesterov=config["nesterov"] and config["momentum"] > 0)
    elif name == "adam":
        optimizer = optim.Adam(params, lr=lr, weight_decay=decay)
    elif name == "adamw":
        optimizer = optim.AdamW(params, lr=lr, weight_decay=decay)
    else:
        optimizer = optim.RMSprop(params, lr=lr, momentum=config["momentum"], weight_decay=decay)
    schedules = optim.lr_scheduler
    epochs, schedule = config["epochs"], config["schedule"]
    if schedule == "none":
        return optimizer, None, "epoch"
    if schedule == "step":
        return optimizer, schedules.StepLR(optimizer, config["step_size"], config["gamma"]), "epoch"
    if schedule == "multistep":
        milestones = config["milestones"] or default_milestones(epochs)
        return optimizer, schedules.MultiStepLR(optimizer, milestones, config["gamma"]), "epoch"
    if schedule == "cosine":
        return optimizer, schedules.CosineAnnealingLR(optimizer, T_max=epochs), "epoch"
    peaks = lr if len(optimizer.param_groups) == 1 else [
        group["lr"] for group in optimizer.param_groups]
    if schedule == "warmup-linear":
        shape = WARMUP_LINEAR
        return optimizer, schedules.OneCycleLR(
            optimizer, max_lr=peaks, epochs=epochs, steps_per_epoch=steps_per_epoch,
            pct_start=shape["pct_start"], anneal_strategy="linear", cycle_momentum=False,
            div_factor=1 / shape["start"], final_div_factor=shape["start"] / shape["end"]), "step"
    return optimizer, schedules.OneCycleLR(optimizer, max_lr=peaks, epochs=epochs,
                                           steps_per_epoch=steps_per_epoch), "step"


def build_run(config, out_dir=None, device="cpu", plots=True):
    """A Trainer for ``config`` (see TRAIN_DEFAULTS), everything seeded by config["seed"]."""
    mc.manual_seed(config["seed"])
    train_set, test_set = build_datasets(config)
    train_loader, test_loader = build_loaders(config, train_set, test_set)
    model = build_model(config, len(test_set.classes), DATASETS[config["data"]]["channels"])
    if config["whiten"]:
        _whiten_first_conv(model, train_set)
    if device != "cpu":
        model.to(device)
    optimizer, scheduler, interval = build_optimizer(config, model, len(train_loader))
    lookahead = None
    if config["lookahead"]:
        lookahead = mc.optim.Lookahead(model, k=config["lookahead"],
                                       alpha=_lookahead_alpha(config["epochs"] * len(train_loader)))
    if config.get("sync_bn"):
        model = mc.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if distributed.world_size() > 1:
        # models that skip layers in a pass (stochastic depth, drop-path) need the unused search
        model = mc.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    label_smoothing = config["label_smoothing"]

    def loss_fn(logits, labels):
        return mc.nn.functional.cross_entropy(logits, labels, label_smoothing=label_smoothing)

    return mc.train.Trainer(model, train_loader, test_loader, optimizer, scheduler,
                            out_dir=out_dir, config=config, loss_fn=loss_fn,
                            scheduler_interval=interval, device=device, plots=plots,
                            class_names=test_set.classes, lookahead=lookahead,
                            tta=None if config["tta"] == "none" else config["tta"],
                            eval_every=config["eval_every"])


# the images whose patches set the whitening layer: airbench's 5,000
WHITENING_IMAGES = 5000


def _whiten_first_conv(model, train_set):
    """Set the model's first convolution by nn.init.whitening_ from the first WHITENING_IMAGES
    training images, normalised but not augmented."""
    conv = next((module for module in model.modules() if isinstance(module, mc.nn.Conv2d)), None)
    if conv is None:
        raise UsageError(f"--whiten: model {type(model).__name__} has no convolution")
    images = train_set.images[:WHITENING_IMAGES].astype(np.float32) / 255
    transform = train_set.transform
    normalize = next(step for step in transform.transforms
                     if isinstance(step, (mc.data.transforms.Normalize,
                                          mc.data.transforms.SubtractMean)))
    try:
        mc.nn.init.whitening_(conv.weight, normalize(images))
    except ValueError as error:
        raise UsageError(f"--whiten: {error}") from None


def _lookahead_alpha(total_steps):
    """airbench's lookahead rate at step t of T: 1 - 0.95^5 (t / T)^3."""
    def alpha(step):
        return 1 - 0.95 ** 5 * (min(step, total_steps) / total_steps) ** 3
    return alpha


def load_state(path):
    """The checkpoint at ``path`` as a dict; UsageError for a missing, unreadable or refused
    file."""
    try:
        state = load_checkpoint(path)
    except (OSError, CheckpointError) as error:
        raise UsageError(str(error)) from None
    except ValueError as error:     # e.g. Python's limit on digits of a number in its metadata
        raise UsageError(f"{path}: not a readable checkpoint ({error})") from None
    if not isinstance(state, dict):
        raise UsageError(f"{path}: the checkpoint holds a {type(state).__name__}, not a "
                         "training state")
    return state
