"""Data parallelism for the trainer: `torchrun --nproc_per_node N -m sandbox.trainer ...` (NCCL on GPU, gloo on CPU).

The losses go through `torch.autograd.grad` inside `sandbox.dynamics` Steps (and R1/WGAN-GP need double
backward), which DistributedDataParallel's backward hooks never see. So, as stylegan2-ada-pytorch does, the
parameters and buffers are broadcast from rank 0 once, and every Step averages its gradients over the ranks
(one all_reduce of one flat buffer) before the optimiser moves. Every rank then holds the same parameters.

Sampling is sharded, not reseeded: every rank draws the *global* batch of real samples and latents from the
same generators (the same seeds as a one-process run) and keeps rows [r b, (r+1) b) with b = batch / N. A
2-process run thus sees exactly the samples of a 1-process run with the same global batch, and its
parameters agree with it to floating-point rounding (tests/test_distributed.py); the generators stay in step
on every rank, so a checkpoint resumes under any process count. Draws made after the split (instance noise,
the WGAN-GP mixing weights) have the local shape and are the same on every rank, and BatchNorm statistics
and the consensus term are per rank, as in any data-parallel GAN without SyncBatchNorm.
"""

import atexit
import os
import signal
from typing import Callable, List, NamedTuple, Optional, Sequence, Type

import torch
import torch.distributed as dist
from torch import Tensor, nn


class World(NamedTuple):
    rank: int  # this process, 0..size-1 (RANK)
    size: int  # number of processes (WORLD_SIZE)
    local_rank: int  # this process on its machine, the CUDA device index (LOCAL_RANK)


SINGLE = World(0, 1, 0)


def world() -> World:
    """The initialised process group as a World, or SINGLE (rank 0 of 1) when there is none."""
    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    rank = dist.get_rank()
    return World(rank, dist.get_world_size(), int(os.environ.get("LOCAL_RANK", rank)))


def is_main() -> bool:
    """True on rank 0 (and in a single process): the one rank that prints and writes files."""
    return world().rank == 0


def _wants_cuda(device: str) -> bool:
    return device != "cpu" and torch.cuda.is_available()


def init_from_env(device: str = "auto") -> World:
    """Join the torchrun process group from RANK/WORLD_SIZE/LOCAL_RANK (NCCL if `device` resolves to CUDA, else gloo).

    A no-op returning SINGLE without WORLD_SIZE > 1, and the existing World when a group is already set up.
    """
    if dist.is_available() and dist.is_initialized():
        return world()
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    if not dist.is_available():
        raise ValueError(f"WORLD_SIZE={size} but this torch build has no torch.distributed")
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise ValueError(f"WORLD_SIZE={size} but {', '.join(missing)} unset: launch with torchrun --nproc_per_node N")
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    if _wants_cuda(device):
        torch.cuda.set_device(local)  # before NCCL starts, so each rank owns one GPU
        dist.init_process_group("nccl", device_id=torch.device("cuda", local))
    else:
        dist.init_process_group("gloo")
    atexit.register(shutdown)
    return World(rank, size, local)


def shutdown() -> None:
    """Leave the process group, if one is up (registered at exit by init_from_env)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def local_device(device: torch.device, w: World) -> torch.device:
    """cuda:LOCAL_RANK for a CUDA device under several processes (one GPU per rank); `device` otherwise."""
    return torch.device("cuda", w.local_rank) if device.type == "cuda" and w.size > 1 else device


def check_batch(batch: int, w: World) -> int:
    """The per-rank batch, batch / world size, or a ValueError when it does not divide."""
    if batch % w.size:
        raise ValueError(
            f"batch {batch} is not divisible by the world size {w.size}: the global batch is split "
            f"evenly over the processes; pass --batch a multiple of {w.size}"
        )
    return batch // w.size


# ------------------------------------------------------------------------------------------------- sharding
def shard_rows(x: Tensor, w: World) -> Tensor:
    """Rows [r b, (r+1) b) of a global batch x, b = len(x) / size: rank r's share (a view)."""
    b = check_batch(x.shape[0], w)
    return x[w.rank * b : (w.rank + 1) * b]


class Shard(nn.Module):
    """module(z[r b:(r+1) b]): G on this rank's rows of a global latent batch (same parameters as `module`)."""

    def __init__(self, module: nn.Module, w: World):
        super().__init__()
        self.module, self.w = module, w

    def forward(self, z: Tensor) -> Tensor:
        return self.module(shard_rows(z, self.w))


def shard_module(G: nn.Module, w: World) -> nn.Module:
    """Shard(G) under several processes, G itself in one (so a one-process run is untouched)."""
    return Shard(G, w) if w.size > 1 else G


def shard_source(source, w: World):
    """A trainparts.Source whose sample(n, g) draws the global n rows from g and keeps this rank's share."""
    if w.size == 1:
        return source
    return source._replace(sample=lambda n, g: shard_rows(source.sample(n, g), w))


# ----------------------------------------------------------------------------------------------- collectives
def broadcast_(modules: Sequence[nn.Module], src: int = 0) -> None:
    """Copy every parameter and buffer of `modules` from rank `src` to all ranks (in place)."""
    if world().size == 1:
        return
    with torch.no_grad():
        for m in modules:
            for t in list(m.parameters()) + list(m.buffers()):
                dist.broadcast(t.data, src)


def average_(tensors: List[Tensor]) -> List[Tensor]:
    """t -> (1/N) sum over ranks of t, one all_reduce per dtype over a flat buffer; new tensors, same strides."""
    w = world()
    if w.size == 1 or not tensors:
        return list(tensors)
    out: List[Optional[Tensor]] = [None] * len(tensors)
    for dtype in dict.fromkeys(t.dtype for t in tensors):
        index = [i for i, t in enumerate(tensors) if t.dtype == dtype]
        flat = torch.cat([tensors[i].reshape(-1) for i in index])
        dist.all_reduce(flat)  # SUM: gloo has no AVG
        flat.div_(w.size)
        for i, part in zip(index, flat.split([tensors[i].numel() for i in index])):
            t = tensors[i]
            # Fused/foreach optimisers want a gradient laid out like its parameter (channels_last convs).
            out[i] = part.view(t.shape) if t.is_contiguous() else torch.empty_like(t).copy_(part.view(t.shape))
    return out


def averaged(step: Callable) -> Callable:
    """A dynamics Step that averages its gradients over the ranks, then calls `step` (identity in one process)."""
    if world().size == 1:
        return step

    def averaged_step(params, grads) -> None:
        step(params, average_(list(grads)))

    return averaged_step


def _flag(value: int, op) -> int:
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([value], dtype=torch.int64, device=device)
    dist.all_reduce(t, op=op)
    return int(t.item())


def mean_meter_(meter: dict) -> None:
    """Replace each loss sum of a trainlog meter by its mean over the ranks (one all_reduce; at log time only)."""
    if world().size == 1:
        return
    keys = list(meter["sum"])
    sums = average_([torch.stack([meter["sum"][k] for k in keys])])[0]
    for k, v in zip(keys, sums):
        meter["sum"][k].copy_(v)


def agree_signal(name: Optional[str]) -> Optional[str]:
    """The name of a signal that reached any rank (the highest-numbered), or None: every rank stops together."""
    if world().size == 1:
        return name
    code = _flag(signal.Signals[name].value if name else 0, dist.ReduceOp.MAX)
    return signal.Signals(code).name if code else None


def together(fn: Callable[[], None], error: Type[Exception]) -> None:
    """fn() on every rank; if it raised `error` on any rank, raise on every rank (its own, or one naming the rank)."""
    try:
        fn()
        failed = None
    except error as err:
        if world().size == 1:
            raise
        failed = err
    if world().size == 1:
        return
    first = _flag(world().size - world().rank if failed is not None else 0, dist.ReduceOp.MAX)
    if failed is not None:
        raise failed
    if first:
        raise error(f"rank {world().size - first} stopped training (see its message); every rank stopped with it")
