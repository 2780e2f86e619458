"""Shared test settings: hypothesis runs derandomized (fixed seeds) and without deadlines
(the machines that run the suite are shared and noisy)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("minicnn", derandomize=True, deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("minicnn")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
