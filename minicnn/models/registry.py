"""The model registry: every architecture is registered by name with its default number of
classes and its natural input size, so ``minicnn.models.create(name)`` and the ``minicnn``
command can build it without knowing its family."""

import inspect
import numbers
from collections import OrderedDict, namedtuple

from minicnn.nn.modules.budget import ParameterBudgetError, parameter_budget

ModelEntry = namedtuple("ModelEntry", ["name", "builder", "num_classes", "input_size"])

_models = OrderedDict()
# the most parameter values create() allocates by default (1 GiB of float32); the largest
# registered model, vgg19 with 1000 classes, has 143,667,240
MAX_PARAMETERS = 1 << 28


def register_model(name, num_classes, input_size):
    """Decorator: ``@register_model("vgg16", num_classes=1000, input_size=(3, 224, 224))`` on a
    builder ``fn(num_classes=..., **options)`` whose docstring's first paragraph describes it."""
    def register(builder):
        if name in _models:
            raise ValueError(f"model {name!r} is registered twice")
        _models[name] = ModelEntry(name, builder, int(num_classes), tuple(input_size))
        return builder
    return register


def _entry(name):
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    entry = _models.get(name.lower())
    if entry is None:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(_models)}")
    return entry


def create(name, num_classes=None, max_parameters=MAX_PARAMETERS, **options):
    """A new, freshly initialised model: ``create("resnet20")``, ``create("vgg16_bn",
    num_classes=10)``, ``create("googlenet", aux_logits=True)``. ``num_classes`` defaults to
    1000 for ImageNet models and 10 for CIFAR and MNIST models; the other options are the
    builder's (torchvision's names where torchvision has the model). The model's parameters
    may hold ``max_parameters`` values (None: any number); each layer checks that before it
    allocates (minicnn.nn.modules.budget). Raises ValueError for an unknown model, a bad
    num_classes, an option value the model refuses, or a model over ``max_parameters``;
    TypeError for an option the model does not have, or a switch (an option whose default is
    True or False) given anything but a bool."""
    entry = _entry(name)
    if num_classes is None:
        num_classes = entry.num_classes
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) \
            or not 1 <= num_classes < 2 ** 31:
        raise ValueError(f"num_classes must be an integer in [1, 2**31), got {num_classes!r}")
    parameters = inspect.signature(entry.builder).parameters
    unknown = [option for option in options if option not in parameters]
    if unknown:
        raise TypeError(f"unknown option {unknown[0]!r}; the options of {entry.name} are "
                        f"{', '.join(parameters)}")
    for option, value in options.items():    # a switch: 'x' or 1 would pass as true
        if isinstance(parameters[option].default, bool) and not isinstance(value, bool):
            raise TypeError(f"option {option!r} is a switch: expected True or False, got "
                            f"{value!r:.40}")
    if max_parameters is not None and num_classes > max_parameters:   # the classifier's weights
        raise ParameterBudgetError(f"{entry.name}(num_classes={num_classes}) needs more than "
                                   f"{max_parameters:,} parameter values (its classifier has "
                                   "at least num_classes); pass max_parameters to allow more")
    try:
        with parameter_budget(max_parameters):
            return entry.builder(num_classes=int(num_classes), **options)
    except ParameterBudgetError as error:
        described = ", ".join(f"{key}={value!r:.40}" for key, value in options.items())
        raise ParameterBudgetError(f"{entry.name}({described or f'num_classes={num_classes}'})"
                                   f" {error}; pass max_parameters to allow more") from None


def names():
    """The registered model names, family by family."""
    return list(_models)


def describe(name):
    """A one-line description of the model: the first paragraph of its builder's docstring."""
    doc = (_entry(name).builder.__doc__ or "").strip()
    return " ".join(line.strip() for line in doc.split("\n\n")[0].splitlines())


def input_size(name):
    """The model's natural input size (C, H, W): 3x224x224 for most ImageNet models, 3x32x32
    for the CIFAR models, 1x28x28 for LeNet-5."""
    return _entry(name).input_size


def default_num_classes(name):
    return _entry(name).num_classes
