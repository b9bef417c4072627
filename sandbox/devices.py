"""Where computation runs: the device rule and CPU threads, written once for the trainer and the studies.

On a shared 2-core machine one process with 2 threads collapses 15-40x when another process takes a core
(measured, issue 13), so CPU work defaults to one thread per process and grids scale out by processes.
"""

import contextlib
import os
from typing import Iterator

import torch


def pick_device(name: str = "auto") -> torch.device:
    """cuda when asked, or available under 'auto'; else cpu. Asking for CUDA without one is a ValueError."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but this torch build sees no CUDA device; use --device cpu")
    return torch.device(name)


def describe_device(device) -> str:
    """A human-readable device name: the GPU model, or the CPU thread count."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def cpu_count() -> int:
    """The cores this process may use (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def single_run_threads(current: int) -> int:
    """min(current, cores // 2), at least 1: a lone CPU run's threads, with a core spare for another job.

    `benchmarks.threads` on the 2-core machine (MNIST DCGAN, width 1/4, batch 64): 2 threads run 1.6x one thread
    when the machine is quiet but 0.44x when another process spins on a core, while one thread keeps its rate.
    `current` (torch's setting: OMP_NUM_THREADS, a worker's 1) is never raised.
    """
    return max(1, min(current, cpu_count() // 2))


@contextlib.contextmanager
def threads(n: int) -> Iterator[int]:
    """torch's intra-op CPU threads set to n (n <= 0: left as they are) inside the block, then restored."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
