"""Where tests find MNIST: the project's data-directory rule; tests that need it skip cleanly without it."""

import pytest

from sandbox.data import data_root, holds_mnist


def mnist_present() -> bool:
    """Whether data_root() (--data-dir, $SANDBOX_DATA, ./data, ../shared/data) holds all four MNIST files."""
    try:
        return holds_mnist(data_root(), every=True)
    except FileNotFoundError:
        return False


needs_mnist = pytest.mark.skipif(not mnist_present(), reason="needs MNIST under $SANDBOX_DATA/mnist")
