"""The random number generator behind initialisation, dropout and random tensors.

``minicnn.manual_seed(seed)`` makes every later draw repeatable. The state can be saved and
restored (``get_rng_state`` / ``set_rng_state``), as checkpoints do to resume exactly.
"""

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed):
    """Seed the default generator with ``seed``, an int >= 0 (what NumPy's generators take);
    returns it. TypeError / ValueError naming the seed otherwise."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed: seed must be an int, got {seed!r:.40}")
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be >= 0, got {seed}")
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator():
    return _generator


def get_rng_state():
    """The generator's state as a plain dict (JSON-able: bit generator name and integers)."""
    return _generator.bit_generator.state


def set_rng_state(state):
    _generator.bit_generator.state = state
