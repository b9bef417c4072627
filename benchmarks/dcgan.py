"""DCGAN on MNIST: images/s of the trainer's fast path against the classic PyTorch DCGAN example's loop, same nets.

    python3 -m benchmarks.dcgan [--device auto] [--batch 64] [--width 1] [--steps N] [--warmup N] [--rounds 1]
                                [--workers 2] [--data-dir DIR] [--out PATH.json]

reference: what pytorch/examples' dcgan/main.py does per step: fp32 eager; a CPU DataLoader (shuffle, `--workers`
processes) over a Dataset whose __getitem__ turns one uint8 image into a float tensor and normalises it, as
ToTensor + Normalize((0.5,), (0.5,)) do (torchvision is not needed); the batch copied to the device each step;
D ends in a sigmoid and both losses are BCELoss; plain Adam; the G step reuses the D step's fakes; and
.item() of errD, errG, D(x), D(G(z)) twice, a host sync every step.
fast: `sandbox.trainer.loop.make_run` + `run_steps`: MNIST as a uint8 tensor on the device, batches drawn there,
softplus losses, no host sync inside the loop; on CUDA also bf16 autocast, channels_last and fused Adam.
It draws fresh latents for G's step (one extra G forward per step, the alternating rule of sandbox.dynamics);
--reuse-fakes makes it score the D step's fakes in G's step, as the reference does (config reuse_fakes).
On a CPU the fast path's nets run their narrow layers as matrix products (sandbox.nets.gemm; benchmarks.narrow),
the reference's run torch's kernels. Both build G and D with `sandbox.nets.dcgan_generator` / `dcgan_discriminator`
at the same width, the DCGAN optimiser (Adam, lr 2e-4, betas (0.5, 0.999)), and count real images per second
(batch x D steps / s) after warm-up.
Target on a GPU at batch 64: fast >= 5x reference. Rounds alternate the two modes; the median is reported.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from sandbox.data import load_mnist
from sandbox.nets import dcgan_discriminator, dcgan_generator, gemm
from sandbox.trainer.config import make_config
from sandbox.trainer.loop import make_run, pick_device, run_steps

TARGET = 5.0
LR, BETAS, Z_DIM = 2e-4, (0.5, 0.999), 100


class MNISTPerSample(Dataset):
    """One image at a time: uint8 (28, 28) -> float (1, 28, 28) in [0, 1] (ToTensor) -> (x - 0.5) / 0.5 (Normalize)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        x = self.images[i].unsqueeze(0).float().div(255.0)
        return (x - 0.5) / 0.5, int(self.labels[i])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference(device: torch.device, batch: int, width: float, workers: int, data_dir, seed: int = 0):
    """The classic example's loop as a generator function: each next() runs one D step and one G step."""
    images, labels = load_mnist("train", data_dir)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # the example sets it too (and make_run does)
    loader = DataLoader(
        MNISTPerSample(images, labels),
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )
    init = torch.Generator().manual_seed(seed)
    G = dcgan_generator(Z_DIM, channels=1, width=width, generator=init)
    D = dcgan_discriminator(channels=1, width=width, generator=init)
    G, D = G.to(device), nn.Sequential(D, nn.Sigmoid()).to(device)
    opt_g, opt_d = (torch.optim.Adam(m.parameters(), lr=LR, betas=BETAS) for m in (G, D))
    criterion = nn.BCELoss()
    while True:
        for real_cpu, _ in loader:
            real = real_cpu.to(device)
            ones = torch.full((batch,), 1.0, device=device)
            zeros = torch.full((batch,), 0.0, device=device)
            D.zero_grad()
            out = D(real)
            err_real = criterion(out, ones)
            err_real.backward()
            d_x = out.mean().item()
            fake = G(torch.randn(batch, Z_DIM, device=device))
            out = D(fake.detach())
            err_fake = criterion(out, zeros)
            err_fake.backward()
            d_g_z1 = out.mean().item()
            err_d = err_real + err_fake
            opt_d.step()
            G.zero_grad()
            out = D(fake)
            err_g = criterion(out, ones)
            err_g.backward()
            d_g_z2 = out.mean().item()
            opt_g.step()
            yield err_d.item(), err_g.item(), d_x, d_g_z1, d_g_z2


def time_reference(device, args) -> tuple:
    """(images/s, seconds) of args.steps reference steps after args.warmup, each step ending in .item() syncs;
    the nets run torch's conv kernels throughout, as the example's do (no sandbox.nets.gemm layers on a CPU)."""
    loop = reference(device, args.batch, args.width, args.workers, args.data_dir)
    with gemm.native():
        for _ in range(args.warmup):
            next(loop)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            next(loop)
        seconds = time.perf_counter() - t0
    loop.close()
    return args.steps * args.batch / seconds, seconds


def time_fast(device, args) -> tuple:
    """(images/s, seconds) of args.steps trainer steps after args.warmup, one sync at the end."""
    cfg = make_config(
        dict(
            data="mnist",
            net="dcgan",
            batch=args.batch,
            g_width=args.width,
            d_width=args.width,
            device=str(device),
            data_dir=args.data_dir or "",
            compile=args.compile,
            reuse_fakes=getattr(args, "reuse_fakes", False),
            progress=False,
        )
    )
    run = make_run(cfg)
    run_steps(run, args.warmup)
    _sync(device)
    d0, t0 = run.state["clock"]["d_steps"], time.perf_counter()
    run_steps(run, args.steps)
    _sync(device)
    seconds = time.perf_counter() - t0
    return (run.state["clock"]["d_steps"] - d0) * args.batch / seconds, seconds


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="auto (cuda when available), cpu or cuda[:k]")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier of G and D (1 = paper)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per mode and round (default 300 GPU, 4 CPU)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 30 GPU, 1 CPU)")
    p.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 3 GPU, 1 CPU)")
    p.add_argument("--workers", type=int, default=2, help="reference DataLoader workers (the example's default)")
    p.add_argument("--compile", action="store_true", help="torch.compile the fast path's forward passes")
    p.add_argument(
        "--reuse-fakes", action="store_true", help="the fast path's G step reuses the D step's fakes, as the reference"
    )
    p.add_argument("--data-dir", default=None, help="data root holding mnist/ (default $SANDBOX_DATA)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    device = pick_device(args.device)
    gpu = device.type == "cuda"
    args.steps = args.steps or (300 if gpu else 4)
    args.warmup = args.warmup if args.warmup is not None else (30 if gpu else 1)
    args.rounds = args.rounds or (3 if gpu else 1)
    rates = {"reference": [], "fast": []}
    for _ in range(args.rounds):
        rates["reference"].append(time_reference(device, args)[0])
        rates["fast"].append(time_fast(device, args)[0])
    ref, fast = statistics.median(rates["reference"]), statistics.median(rates["fast"])
    name = torch.cuda.get_device_name(device) if gpu else f"cpu ({torch.get_num_threads()} threads)"
    results = {
        "device": name,
        "torch": torch.__version__,
        "batch": args.batch,
        "width": args.width,
        "steps": args.steps,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "workers": args.workers,
        "compile": args.compile,
        "reuse_fakes": args.reuse_fakes,
        "images_per_s_reference": ref,
        "images_per_s_fast": fast,
        "ratio": fast / ref,
        "rates": rates,
        "target": TARGET if gpu else None,
    }
    print(
        f"DCGAN on MNIST, batch {args.batch}, width {args.width:g}, {name}: {args.rounds} round(s) of "
        f"{args.warmup} warm-up + {args.steps} timed steps per mode"
    )
    print(f"{'mode':10s} {'images/s':>10s}")
    print(f"{'reference':10s} {ref:10.0f}\n{'fast':10s} {fast:10.0f}")
    verdict = (
        f" (target >= {TARGET:g}x: {'met' if fast / ref >= TARGET else 'NOT met'})"
        if gpu
        else " (the 5x target is for a GPU)"
    )
    print(f"ratio fast / reference: {fast / ref:.2f}x{verdict}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


if __name__ == "__main__":
    main()
