"""Data on the training device: MNIST from IDX files, Stacked MNIST, 2-D Gaussian mixtures, random batches, and
DATASETS, the registry the trainer draws its real data from.

Everything is a tensor drawn with an explicit `torch.Generator`; there is no DataLoader and no per-sample
transform. MNIST is read from `<root>/mnist/` as the four official IDX files, raw or gzipped, each checked
against the md5 of its *uncompressed* content, where root = `data_root(flag)`: the --data-dir flag, else
$SANDBOX_DATA, else the first of DATA_SEARCH (./data, then the checkout's sibling ../shared/data) that holds
them. Nothing is downloaded unless asked: `python -m sandbox.data download --data-dir DIR`.
"""

import argparse
import gzip
import hashlib
import os
import tempfile
import urllib.request
import zlib
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from sandbox.registry import lookup

# Official md5 of each uncompressed IDX file (LeCun, Cortes, Burges). The .gz bytes are not checked because
# recompressed copies (one of ours is) differ in their .gz md5 while holding the same content.
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}
# The S3 copy first: yann.lecun.com often refuses scripted downloads (torchvision orders them the same way).
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
DOWNLOAD_HINT = "python -m sandbox.data download --data-dir DIR"
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CACHE: dict = {}  # (path, size, mtime) -> parsed array, per process only
# Where data_root looks when neither --data-dir nor $SANDBOX_DATA is given, in order: ./data (of the working
# directory), then the checkout's sibling ../shared/data, the layout CI uses.
DATA_SEARCH = (Path("data"), Path(__file__).resolve().parent.parent.parent / "shared" / "data")


def _explicit_root(flag: Union[str, os.PathLike, None]) -> Optional[Path]:
    """The --data-dir flag if given (non-empty), else $SANDBOX_DATA if set, else None."""
    if flag is not None and str(flag) != "":
        return Path(flag)
    env = os.environ.get("SANDBOX_DATA")
    return Path(env) if env else None


def holds_mnist(root: Union[str, os.PathLike], every: bool = False) -> bool:
    """Whether root/mnist holds any (every=True: all four) of the MNIST IDX files, raw or .gz; contents unchecked."""
    folder = Path(root) / "mnist"
    present = [any((folder / f"{name}{suffix}").is_file() for suffix in ("", ".gz")) for name in MNIST_MD5]
    return all(present) if every else any(present)


def data_root(flag: Union[str, os.PathLike, None] = None) -> Path:
    """The data root: the --data-dir flag, else $SANDBOX_DATA, else the first of DATA_SEARCH whose mnist/ has IDX files.

    The flag and the variable are taken as given (the loaders then name what is missing in them); with neither,
    a FileNotFoundError lists every folder searched and how to fix it.
    """
    explicit = _explicit_root(flag)
    if explicit is not None:
        return explicit
    for root in DATA_SEARCH:
        if holds_mnist(root):
            return root
    searched = ", ".join(str(root.resolve()) for root in DATA_SEARCH)
    raise FileNotFoundError(
        f"no MNIST data found: no --data-dir was given, SANDBOX_DATA is not set, and none of the folders searched "
        f"({searched}) has an mnist/ folder holding the IDX files. Set SANDBOX_DATA=DIR or pass --data-dir DIR, "
        f"where DIR/mnist holds the four official IDX files (raw or .gz); when online, fetch them with: "
        f"{DOWNLOAD_HINT}"
    )


def parse_idx(buf: bytes, name: str = "<bytes>") -> np.ndarray:
    """IDX -> array: magic 0x00 0x00 dtype ndim, then ndim big-endian int32 dims, then the data (LeCun et al. 1998)."""
    if len(buf) < 4 or buf[0] != 0 or buf[1] != 0 or buf[2] not in _IDX_DTYPES:
        raise ValueError(f"{name}: not an IDX file (bad magic number {buf[:4].hex()!r})")
    ndim, dtype = buf[3], np.dtype(_IDX_DTYPES[buf[2]])
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise ValueError(f"{name}: IDX header truncated ({len(buf)} bytes for {ndim} dims)")
    dims = tuple(int(d) for d in np.frombuffer(buf, ">i4", count=ndim, offset=4))
    count = int(np.prod(dims, dtype=np.int64))
    if len(buf) != header + count * dtype.itemsize:
        raise ValueError(
            f"{name}: IDX size mismatch: dims {dims} need {header + count * dtype.itemsize} bytes, file has {len(buf)}"
        )
    return np.frombuffer(buf, dtype, count=count, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _corrupt(path: Path, why: str) -> ValueError:
    return ValueError(
        f"{path}: checksum does not match the official MNIST file ({why}). The file is corrupted or "
        f"truncated: delete it and re-download it ({DOWNLOAD_HINT}, when online)."
    )


def _verified_bytes(path: Path, name: str) -> bytes:
    """The uncompressed content of `path` (raw or .gz), or a ValueError if its md5 is not the official one."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:  # a damaged or truncated gzip stream
            raise _corrupt(path, f"cannot decompress: {err}") from None
    md5 = hashlib.md5(raw).hexdigest()
    if md5 != MNIST_MD5[name]:
        raise _corrupt(path, f"md5 {md5}, expected {MNIST_MD5[name]}")
    return raw


def _find(folder: Path, name: str) -> Path:
    """folder/name (raw, read faster) or folder/name.gz, else a FileNotFoundError saying what to do."""
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"MNIST file {name} (or {name}.gz) not found in {folder}. Point the data directory at a folder whose "
        f"mnist/ holds the four official IDX files: set SANDBOX_DATA=DIR or pass --data-dir DIR; when online, "
        f"fetch them with: {DOWNLOAD_HINT}"
    )


def _load_idx(folder: Path, name: str) -> np.ndarray:
    path = _find(folder, name)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _CACHE:
        _CACHE[key] = parse_idx(_verified_bytes(path, name), str(path))
    return _CACHE[key]


def load_mnist(
    split: str = "train", data_dir: Union[str, os.PathLike, None] = None, device="cpu"
) -> Tuple[Tensor, Tensor]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of the MNIST split, checksum-verified (LeCun et al. 1998)."""
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}; valid names: {', '.join(SPLITS)}")
    image_name, label_name, n = SPLITS[split]
    folder = data_root(data_dir) / "mnist"
    images, labels = _load_idx(folder, image_name), _load_idx(folder, label_name)
    if images.shape != (n, 28, 28) or labels.shape != (n,):
        raise ValueError(f"MNIST {split}: shapes {images.shape}, {labels.shape}; expected ({n}, 28, 28), ({n},)")
    # Copies, so a caller writing into its tensors cannot corrupt the per-process cache.
    return (torch.from_numpy(images.copy()).to(device), torch.from_numpy(labels.astype(np.int64)).to(device))


def _download_root(flag: Union[str, os.PathLike, None]) -> Path:
    return _explicit_root(flag) or DATA_SEARCH[0]


def download_mnist(
    data_dir: Union[str, os.PathLike, None] = None,
    mirrors: Sequence[str] = MIRRORS,
    names: Sequence[str] = tuple(MNIST_MD5),
    timeout: float = 60.0,
) -> list:
    """Fetch each missing or damaged `name`.gz into data_dir/mnist from the first mirror serving the official md5.

    data_dir defaults to $SANDBOX_DATA, else ./data (the first of DATA_SEARCH).

    Files are written atomically (temp file, then os.replace). A mirror serving wrong bytes raises ValueError
    (checksum) if no other mirror serves good ones; if none can be reached, ConnectionError lists each failure.
    """
    folder = _download_root(data_dir) / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        if name not in MNIST_MD5:
            raise ValueError(f"unknown MNIST file {name!r}; valid names: {', '.join(MNIST_MD5)}")
        stale = None
        try:
            stale = _find(folder, name)
            _verified_bytes(stale, name)
            continue  # already here and intact
        except (FileNotFoundError, ValueError):
            pass  # missing, or damaged: replaced below (a damaged raw copy is removed, _find would prefer it)
        failures, bad_checksum = [], False
        for mirror in mirrors:
            url = f"{mirror.rstrip('/')}/{name}.gz"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    payload = response.read()
            except OSError as err:  # URLError, HTTPError and timeouts are all OSErrors
                failures.append(f"{url}: {err}")
                continue
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part.gz")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(payload)
                _verified_bytes(Path(tmp), name)
                os.replace(tmp, folder / f"{name}.gz")
            except ValueError as err:
                failures.append(f"{url}: {err}")
                bad_checksum = True
                continue
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
            if stale is not None and stale != folder / f"{name}.gz":
                stale.unlink()
            written.append(folder / f"{name}.gz")
            break
        else:
            detail = "\n  ".join(failures) or "no mirrors given"
            if bad_checksum:
                raise ValueError(f"{name}: checksum does not match the official MNIST file at any mirror:\n  {detail}")
            raise ConnectionError(f"{name}: no mirror could be reached:\n  {detail}")
    return written


def to_unit(images: Tensor) -> Tensor:
    """uint8 pixels p -> p / 127.5 - 1 in [-1, 1], shape (N, C, 28, 28) with C = 1 added for (N, 28, 28) input."""
    if images.dtype != torch.uint8:
        raise ValueError(f"to_unit expects uint8 pixels, got {images.dtype}")
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4:
        raise ValueError(f"to_unit expects (N, 28, 28) or (N, C, 28, 28), got shape {tuple(images.shape)}")
    return images.float() / 127.5 - 1.0


def stacked_mnist(n: int, seed: int = 0, split: str = "train", data_dir=None, device="cpu") -> Tuple[Tensor, Tensor]:
    """(n, 3, 28, 28) uint8: channels R, G, B are independent uniform MNIST draws; label 100 d_R + 10 d_G + d_B.

    1000 modes (Metz et al. 2017, Stacked MNIST experiment; Srivastava et al. 2017, VEEGAN). Indices are drawn
    on the CPU from torch.Generator().manual_seed(seed), so the same seed gives bitwise the same data on every device.
    """
    images, labels = load_mnist(split, data_dir)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, images.shape[0], (n, 3), generator=g)  # (n, 3): one digit per channel
    stacked = images[idx]  # (n, 3, 28, 28)
    digits = labels[idx]  # (n, 3)
    code = 100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2]
    return stacked.to(device), code.to(device)


# ----- 2-D Gaussian mixtures -------------------------------------------------------------------------------


def ring_centres(modes: int = 8, radius: float = 2.0, device="cpu") -> Tensor:
    """(modes, 2) centres radius (cos, sin)(2 pi k / modes): 8 on a radius-2 circle (Metz et al. 2017, App. A)."""
    angle = 2 * torch.pi * torch.arange(modes, dtype=torch.float64) / modes
    return (radius * torch.stack([angle.cos(), angle.sin()], dim=1)).float().to(device)


def grid_centres(side: int = 5, spacing: float = 2.0, device="cpu") -> Tensor:
    """(side^2, 2) centres of a side x side grid, spacing apart, centred at 0: {-4,-2,0,2,4}^2 (Lin et al. 2018)."""
    axis = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(axis, axis).float().to(device)


def mixture(n: int, centres: Tensor, std: float, generator: torch.Generator) -> Tuple[Tensor, Tensor]:
    """(x, k): k ~ Uniform{0..K-1}, x = centres[k] + std * N(0, I), drawn on the generator's device."""
    device = generator.device
    k = torch.randint(0, centres.shape[0], (n,), generator=generator, device=device)
    noise = torch.randn((n, centres.shape[1]), generator=generator, device=device)
    return centres.to(device)[k] + std * noise, k


RING_STD, GRID_STD = 0.02, 0.05


def ring(n: int, generator: torch.Generator, modes: int = 8, radius: float = 2.0, std: float = RING_STD) -> Tensor:
    """(n, 2) samples of 8 Gaussians, std 0.02, on a circle of radius 2 (Metz et al. 2017, App. A).

    VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018) use radius 1 and std 0.01 instead.
    """
    return mixture(n, ring_centres(modes, radius), std, generator)[0]


def grid(n: int, generator: torch.Generator, side: int = 5, spacing: float = 2.0, std: float = GRID_STD) -> Tensor:
    """(n, 2) samples of 25 Gaussians, std 0.05, centred on {-4,-2,0,2,4}^2 (Lin et al. 2018, PacGAN; VEEGAN)."""
    return mixture(n, grid_centres(side, spacing), std, generator)[0]


class Mixture(NamedTuple):
    sample: Callable[..., Tensor]  # (n, generator, **shape) -> (n, 2)
    centres: Callable[..., Tensor]  # (**shape) -> (K, 2): the sampler's keywords other than std
    std: float  # the default component std


MIXTURES = {
    "ring": Mixture(ring, ring_centres, RING_STD),
    "grid": Mixture(grid, grid_centres, GRID_STD),
}


# ----- batches on the device -------------------------------------------------------------------------------

Data = Union[Tensor, Tuple[Tensor, ...]]


def sample_batch(data: Data, batch_size: int, generator: torch.Generator) -> Data:
    """data[i] for batch_size indices i ~ Uniform{0..N-1} drawn with replacement from `generator` on data's device.

    A tuple of tensors is indexed with the same i. The batch is a function of the generator state alone, so
    restoring g.set_state(s) replays the same batches bit for bit (the trainer's resume relies on it).
    """
    tensors = data if isinstance(data, tuple) else (data,)
    n, device = tensors[0].shape[0], tensors[0].device
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if any(t.shape[0] != n or t.device != device for t in tensors):
        raise ValueError("sample_batch: every tensor needs the same length and device")
    if generator.device.type != device.type:
        raise ValueError(
            f"generator is on {generator.device}, data on {device}: make the generator on the "
            f"data's device, torch.Generator(device={str(device)!r})"
        )
    idx = torch.randint(0, n, (batch_size,), generator=generator, device=device)
    picked = tuple(t[idx] for t in tensors)
    return picked if isinstance(data, tuple) else picked[0]


def batches(data: Data, batch_size: int, generator: torch.Generator) -> Iterator[Data]:
    """An endless stream of sample_batch(data, batch_size, generator)."""
    while True:
        yield sample_batch(data, batch_size, generator)


# ----- the registry of training data -----------------------------------------------------------------------


class Source(NamedTuple):
    kind: str  # 'points' (2-D), 'images' or 'dirac'
    sample: Callable[[int, torch.Generator], Tensor]  # (n, generator) -> a batch on the device
    centres: Optional[Tensor]  # (K, 2) mixture centres, for plots and mode counts
    std: float  # mixture component std
    channels: int  # image channels (0 for non-images)


class Dataset(NamedTuple):
    name: str
    kind: str  # 'points' | 'images' | 'dirac': which net families fit it (sandbox.nets.NetFamily.data_kinds)
    channels: int  # image channels (0 for non-images)
    modes: int  # modes of the distribution (digit classes for MNIST)
    default_net: str  # the net family `--net auto` picks
    source: Callable[..., Source]  # (device, dtype, data_dir, channels_last) -> Source
    description: str


def mixture_source(name: str) -> Callable[..., Source]:
    """(device, dtype, ...) -> Source of fresh draws of MIXTURES[name], its centres put on the device once."""

    def source(device, dtype=torch.float32, data_dir=None, channels_last: bool = False) -> Source:
        mix = MIXTURES[name]
        centres = mix.centres(device=device)  # on the device once: no host-to-device copy per batch
        return Source("points", lambda n, g: mixture(n, centres, mix.std, g)[0].to(dtype), centres, mix.std, 0)

    return source


def dirac_source(device, dtype=torch.float32, data_dir=None, channels_last: bool = False) -> Source:
    """Source of the point mass at 0 on the line, the real data of the Dirac-GAN (Mescheder et al. 2018, Sec. 2.2)."""
    return Source("dirac", lambda n, g: torch.zeros(n, dtype=dtype, device=device), None, 0.0, 0)


def mnist_source(copies: int) -> Callable[..., Source]:
    """(device, dtype, data_dir, channels_last) -> Source of `copies` independent MNIST training digits per sample.

    The uint8 images stay on the device and are scaled per batch (to_unit); each channel is one sample_batch
    call, in channel order, so copies = 3 is Stacked MNIST's 1000-mode distribution drawn fresh every batch
    (Metz et al. 2017).
    """

    def source(device, dtype=torch.float32, data_dir=None, channels_last: bool = False) -> Source:
        images = load_mnist("train", data_dir or None, device)[0].unsqueeze(1)  # (N, 1, 28, 28) uint8
        memory = torch.channels_last if channels_last else torch.contiguous_format

        def sample(n: int, g: torch.Generator) -> Tensor:
            x = torch.cat([sample_batch(images, n, g) for _ in range(copies)], dim=1)  # (n, C, 28, 28)
            return to_unit(x).to(dtype=dtype, memory_format=memory)

        return Source("images", sample, None, 0.0, copies)

    return source


DATASETS = {
    d.name: d
    for d in (
        Dataset(
            "ring", "points", 0, 8, "mlp", mixture_source("ring"),
            "8 Gaussians, std 0.02, on a radius-2 circle (Metz et al. 2017, App. A)",
        ),
        Dataset(
            "grid", "points", 0, 25, "mlp", mixture_source("grid"),
            "25 Gaussians, std 0.05, on {-4,-2,0,2,4}^2 (Lin et al. 2018, PacGAN)",
        ),
        Dataset("mnist", "images", 1, 10, "dcgan", mnist_source(1), "MNIST training digits (LeCun et al. 1998)"),
        Dataset(
            "stacked_mnist", "images", 3, 1000, "dcgan", mnist_source(3),
            "three independent MNIST digits as R, G, B: 1000 modes (Metz et al. 2017)",
        ),
        Dataset("dirac", "dirac", 0, 1, "dirac", dirac_source, "a point mass at 0, for the Dirac-GAN"),
    )
}  # fmt: skip


def get_dataset(name: str) -> Dataset:
    """DATASETS[name], or a ValueError listing the valid names."""
    return lookup(DATASETS, name, "data")


def main(argv: Optional[Sequence[str]] = None) -> None:
    """`python -m sandbox.data download --data-dir DIR` fetches MNIST into DIR/mnist and checks it."""
    p = argparse.ArgumentParser(prog="python -m sandbox.data", description=main.__doc__)
    p.add_argument("command", choices=["download"])
    p.add_argument("--data-dir", default=None, help="data root (default: $SANDBOX_DATA, else ./data)")
    args = p.parse_args(argv)
    written, root = download_mnist(args.data_dir), _download_root(args.data_dir)
    for split in SPLITS:
        images, labels = load_mnist(split, root)
        print(f"{split}: {tuple(images.shape)} images, label counts {torch.bincount(labels).tolist()}")
    print(f"fetched {len(written)} file(s) into {root / 'mnist'}")


if __name__ == "__main__":
    main()
