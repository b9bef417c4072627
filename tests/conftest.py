"""Shared test set-up: Hypothesis profiles, the gpu marker, the matplotlib backend and the data directory."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # before anything imports matplotlib

import pytest
import torch
from hypothesis import HealthCheck, settings

from sandbox import data

# `ci` is derandomised so CI runs are reproducible; `dev` explores fresh examples each run.
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# Under pytest-xdist (`make test` runs TEST_WORKERS processes) each worker keeps to one thread: two workers of two
# threads each on a 2-core machine would oversubscribe it, which makes torch 3-40x slower (README, "Threads").
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Skip gpu-marked tests cleanly on machines without CUDA."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA; this machine has none")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def root():
    """The data root holding mnist/ (sandbox.data.data_root: $SANDBOX_DATA, else ./data or ../shared/data); tests
    that take it skip without MNIST."""
    try:
        found = data.data_root()
    except FileNotFoundError as err:
        pytest.skip(str(err))
    if not data.holds_mnist(found, every=True):
        pytest.skip(f"no MNIST data under {found}: set SANDBOX_DATA to a folder whose mnist/ holds the four IDX files")
    return found


@pytest.fixture(scope="session")
def test_split(root):
    """The MNIST test images in [-1, 1] and their labels."""
    images, labels = data.load_mnist("test", root)
    return data.to_unit(images), labels
