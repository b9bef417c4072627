"""A small MNIST CNN whose 128-d hidden layer is the feature space of the project's offline FID, KID,
precision/recall and birthday tests, and whose softmax gives the classifier score and the Stacked MNIST modes.

Nothing is downloaded: the weights are committed (`sandbox/evaluation/weights/mnist_classifier.pt`, float16 storage)
with a JSON beside them recording how they were made and their sha256, which `load_classifier` checks before
`torch.load(..., weights_only=True)`. Retrain them with one command (94 s on 2 CPU cores; seed 0 gave the
same sha256 in three runs on this machine, with the default 2 threads: 1 thread gives another):

    python3 -m sandbox.evaluation.classifier train [--data-dir DIR] [--seed 0] [--epochs 6] [--out DIR]

Images are float in [-1, 1] with shape (N, 1, 28, 28), as `sandbox.data.to_unit` makes them.
"""

import argparse
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sandbox.data import load_mnist, to_unit

WEIGHTS = Path(__file__).resolve().parent / "weights" / "mnist_classifier.pt"
FEATURE_DIM = 128
TRAIN_COMMAND = "python3 -m sandbox.evaluation.classifier train"
# images per forward pass at evaluation: on 2 CPU cores 256 keeps activations in cache (10k images in 0.8 s,
# against 2 s at 1000); a GPU wants large batches
BATCH = {"cpu": 256, "cuda": 4096}


class MnistClassifier(nn.Module):
    """conv5-16, pool, conv5-32, pool, conv3-64 stride 2 (BN + ReLU each) -> FC 128 + ReLU (features) -> FC 10."""

    def __init__(self, hidden: int = FEATURE_DIM):
        super().__init__()
        # BatchNorm makes 6 epochs enough for 99%+; it is also why eval mode matters (batch statistics in
        # train mode would make a sample's features depend on the rest of its batch: the FID bug class).
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 16x14x14
            nn.Conv2d(16, 32, 5, padding=2, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 32x7x7
            nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),  # 64x4x4
        )
        self.hidden = nn.Linear(64 * 4 * 4, hidden)
        self.head = nn.Linear(hidden, 10)

    def embed(self, x: Tensor) -> Tensor:
        """(B, 1, 28, 28) -> (B, 128) post-ReLU hidden activations: the feature space."""
        return torch.relu(self.hidden(self.conv(x).flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.embed(x))  # (B, 10) logits


def build(seed: int = 0) -> MnistClassifier:
    """The classifier with PyTorch's default init drawn from `seed` (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MnistClassifier()


# ----- inference -------------------------------------------------------------------------------------------


def _check_images(images: Tensor, channels: int) -> Tensor:
    if not isinstance(images, Tensor) or not images.is_floating_point():
        raise ValueError(
            f"images must be a float tensor in [-1, 1]; got {getattr(images, 'dtype', type(images))} "
            f"(convert uint8 pixels with sandbox.data.to_unit)"
        )
    if images.dim() != 4 or tuple(images.shape[1:]) != (channels, 28, 28):
        raise ValueError(f"images must have shape (N, {channels}, 28, 28), got {tuple(images.shape)}")
    if images.numel() and float(images.abs().max()) > 1.0 + 1e-3:
        raise ValueError(
            f"images must lie in [-1, 1] (got max |x| = {float(images.abs().max()):.3g}); "
            f"scale pixels with sandbox.data.to_unit"
        )
    return images


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def _batched(model: MnistClassifier, images: Tensor, fn) -> Tensor:
    """fn on chunks of BATCH[device] images on the model's device, concatenated; refuses a model in train mode."""
    if model.training:
        raise ValueError(
            "the classifier is in train mode: BatchNorm would use batch statistics, so features "
            "would depend on the batch; call model.eval() (load_classifier returns it in eval mode)"
        )
    device = _device(model)
    step = BATCH.get(device.type, 1024)
    out = [fn(model, images[s : s + step].to(device, torch.float32)) for s in range(0, images.shape[0], step)]
    return torch.cat(out) if out else torch.empty(0, device=device)


def features(model: MnistClassifier, images: Tensor) -> Tensor:
    """(N, 1, 28, 28) in [-1, 1] -> (N, 128) hidden activations, batched, on the model's device, no grad."""
    _check_images(images, 1)
    return _batched(model, images, MnistClassifier.embed).reshape(-1, FEATURE_DIM)


def probabilities(model: MnistClassifier, images: Tensor) -> Tensor:
    """(N, 1, 28, 28) -> (N, 10) softmax class probabilities p(y | x)."""
    _check_images(images, 1)
    return _batched(model, images, lambda m, x: torch.softmax(m(x), dim=1)).reshape(-1, 10)


@torch.inference_mode()
def probabilities_from_features(model: MnistClassifier, feats: Tensor) -> Tensor:
    """(N, 128) features -> (N, 10) softmax(head(features)), equal to probabilities() of the same images."""
    return torch.softmax(model.head(feats.to(_device(model), torch.float32)), dim=1)


def predict_digits(model: MnistClassifier, images: Tensor) -> Tensor:
    """(N, 1, 28, 28) -> (N,) argmax_y p(y | x), int64."""
    _check_images(images, 1)
    return _batched(model, images, lambda m, x: m(x).argmax(1)).reshape(-1)


def stacked_labels(model: MnistClassifier, images: Tensor) -> Tensor:
    """(N, 3, 28, 28) -> (N,) modes 100 d_R + 10 d_G + d_B in [0, 1000), one digit per channel (Metz et al. 2017)."""
    _check_images(images, 3)
    d = predict_digits(model, images.reshape(-1, 1, 28, 28)).reshape(-1, 3)
    return 100 * d[:, 0] + 10 * d[:, 1] + d[:, 2]


# ----- weights on disk -------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_classifier(device="cpu", path=WEIGHTS) -> MnistClassifier:
    """The committed classifier in eval mode with frozen parameters, after checking the sha256 in its JSON."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.is_file() or not meta_path.is_file():
        raise FileNotFoundError(
            f"classifier weights {path} or their record {meta_path} are missing; retrain them with: {TRAIN_COMMAND}"
        )
    expected, got = json.loads(meta_path.read_text())["sha256"], sha256(path)
    if got != expected:
        raise ValueError(
            f"corrupted classifier weights {path}: sha256 {got} does not match {expected} recorded "
            f"in {meta_path.name}; restore the committed file or retrain with: {TRAIN_COMMAND}"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}  # float16 storage -> float32
    model = MnistClassifier()
    model.load_state_dict(state, strict=True)
    return model.requires_grad_(False).eval().to(device)


@torch.inference_mode()
def accuracy(model: MnistClassifier, images: Tensor, labels: Tensor) -> float:
    """Fraction of argmax predictions equal to the labels."""
    return float((predict_digits(model, images).cpu() == labels.cpu()).double().mean())


# ----- training --------------------------------------------------------------------------------------------


def random_shift(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Each image translated by integers (dy, dx) ~ U{-s..s}^2 with background (-1) fill, vectorised on the batch."""
    n, s = x.shape[0], max_shift
    if s == 0:
        return x
    shift = torch.randint(-s, s + 1, (n, 2), generator=generator, device=generator.device).to(x.device)
    padded = F.pad(x, (s, s, s, s), value=-1.0)  # (n, 1, 28 + 2s, 28 + 2s)
    base = torch.arange(28, device=x.device) + s
    rows = (base[None, :] - shift[:, :1])[:, :, None]  # (n, 28, 1)
    cols = (base[None, :] - shift[:, 1:])[:, None, :]  # (n, 1, 28)
    return padded[torch.arange(n, device=x.device)[:, None, None], 0, rows, cols].unsqueeze(1)


def lr_at(step: int, total: int, peak: float, warmup: float = 0.05) -> float:
    """Linear warm-up over the first 5% of steps, then a cosine decay to 0 (Loshchilov & Hutter 2017)."""
    w = max(1, int(warmup * total))
    if step < w:
        return peak * (step + 1) / w
    return peak * 0.5 * (1.0 + math.cos(math.pi * (step - w) / max(1, total - w)))


def train(
    seed: int = 0,
    epochs: int = 6,
    data_dir=None,
    device="cpu",
    batch_size: int = 128,
    peak_lr: float = 3e-3,
    max_shift: int = 2,
    log=print,
) -> MnistClassifier:
    """AdamW on cross-entropy over shuffled epochs of the 60k training images, with random +-2 pixel shifts."""
    device = torch.device(device)
    images, labels = load_mnist("train", data_dir, device=device)  # uint8 on the device; scaled per batch
    g = torch.Generator(device=device).manual_seed(seed)
    model = build(seed).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=peak_lr, weight_decay=5e-4)
    per_epoch = images.shape[0] // batch_size  # drop the ragged last batch: fixed schedule
    total, step = epochs * per_epoch, 0
    for epoch in range(epochs):
        order = torch.randperm(images.shape[0], generator=g, device=device)
        running = 0.0
        for b in range(per_epoch):
            idx = order[b * batch_size : (b + 1) * batch_size]
            x = random_shift(to_unit(images[idx]), max_shift, g)
            loss = F.cross_entropy(model(x), labels[idx])
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, peak_lr)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += float(loss.detach())
            step += 1
        log(f"epoch {epoch + 1}/{epochs}: mean train loss {running / per_epoch:.4f}")
    return model.eval()


def save(model: MnistClassifier, out: Path, meta: dict) -> dict:
    """Write out/mnist_classifier.pt (float16 state_dict) and the JSON record with its sha256 (sorted keys)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / WEIGHTS.name
    state = {
        k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu() for k, v in model.state_dict().items()
    }
    torch.save(state, path)
    meta = dict(meta, sha256=sha256(path), bytes=path.stat().st_size)
    path.with_suffix(".json").write_text(json.dumps(meta, sort_keys=True, indent=1) + "\n")
    return meta


def main(argv: Optional[Sequence[str]] = None) -> None:
    """`python3 -m sandbox.evaluation.classifier train`: train, save as float16, reload and record the test accuracy."""
    p = argparse.ArgumentParser(prog="python3 -m sandbox.evaluation.classifier", description=main.__doc__)
    p.add_argument("command", choices=["train"])
    p.add_argument("--data-dir", default=None, help="data root holding mnist/ (default: $SANDBOX_DATA, else ./data)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--out", type=Path, default=WEIGHTS.parent)
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--threads",
        type=int,
        default=2,
        help="CPU threads; 2 made the committed weights (1 thread gives another sha256: float sums change order)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = train(args.seed, args.epochs, args.data_dir, args.device)
    seconds = time.perf_counter() - start
    test_x, test_y = load_mnist("test", args.data_dir)
    acc32 = accuracy(model, to_unit(test_x), test_y)
    command = f"{TRAIN_COMMAND} --seed {args.seed} --epochs {args.epochs} --threads {args.threads}"
    meta = {
        "seed": args.seed,
        "epochs": args.epochs,
        "train_command": command,
        "torch": torch.__version__,
        "param_count": sum(q.numel() for q in model.parameters()),
        "feature_dim": FEATURE_DIM,
        "storage": "float16",
        "train_seconds": round(seconds, 1),
        "threads": args.threads,
        "device": str(args.device),
        "test_accuracy_float32": acc32,
    }
    meta = save(model, args.out, meta)
    reloaded = load_classifier("cpu", args.out / WEIGHTS.name)  # the accuracy users get, after float16
    meta["test_accuracy"] = accuracy(reloaded, to_unit(test_x), test_y)
    meta_path = (args.out / WEIGHTS.name).with_suffix(".json")
    meta_path.write_text(json.dumps(meta, sort_keys=True, indent=1) + "\n")
    print(json.dumps(meta, sort_keys=True, indent=1))


if __name__ == "__main__":
    main()
