"""Helpers shared by the checkpoint, run-folder and API tests (the tests folder is on sys.path under pytest)."""

import torch


def assert_same(a, b, where="state"):
    """Recursive torch.equal over checkpoint trees (dicts, lists, tensors, plain values), naming the first leaf
    that differs."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert sorted(a) == sorted(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where
