"""The random number generator behind initialisation, dropout and random tensors.

``minicnn.manual_seed(seed)`` makes every later draw repeatable. The state can be saved and
restored (``get_rng_state`` / ``set_rng_state``), as checkpoints do to resume exactly.
"""

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed):
    """Seed the default generator; returns it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator():
    return _generator


def get_rng_state():
    """The generator's state as a plain dict (JSON-able: bit generator name and integers)."""
    return _generator.bit_generator.state


def set_rng_state(state):
    _generator.bit_generator.state = state
