"""sandbox.data: the data root, MNIST from IDX with checksums, downloads over file:// URLs, Stacked MNIST, 2-D
mixtures, batches, and the DATASETS registry's sources."""

import gzip
import hashlib
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sandbox import data
from sandbox.nets import NETS, check_fit

# From the MNIST README in the shared data folder (LeCun, Cortes, Burges).
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def train(root):
    return data.load_mnist("train", root)


@pytest.fixture(scope="module")
def test_split(root):
    return data.load_mnist("test", root)


def _source(root, name):
    """The shared copy of `name`, raw or gz."""
    return data._find(root / "mnist", name)


def _raw(root, name):
    path = _source(root, name)
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def _gz(root, name):
    """The gzipped bytes of `name`: the shared .gz as is, or a fast compression of a raw copy."""
    path = _source(root, name)
    return path.read_bytes() if path.suffix == ".gz" else gzip.compress(path.read_bytes(), 1)


def _folder_with(tmp_path, files):
    """tmp_path/mnist holding `files` (name -> bytes); returns the data root tmp_path."""
    (tmp_path / "mnist").mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        (tmp_path / "mnist" / name).write_bytes(payload)
    return tmp_path


# ----- data directory and IDX -------------------------------------------------------------------------------


def _with_mnist_file(root: Path) -> Path:
    (root / "mnist").mkdir(parents=True)
    (root / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    return root


def test_data_root_is_the_flag_then_the_variable_then_the_search_list(monkeypatch, tmp_path):
    first, second = tmp_path / "first", _with_mnist_file(tmp_path / "second")
    monkeypatch.setattr(data, "DATA_SEARCH", (first, second))
    monkeypatch.setenv("SANDBOX_DATA", str(tmp_path / "env"))
    assert data.data_root("/some/flag") == Path("/some/flag")  # taken as given: the loaders say what is missing
    assert data.data_root() == data.data_root("") == tmp_path / "env"
    monkeypatch.delenv("SANDBOX_DATA")
    assert data.data_root() == second  # the first search entry has no mnist/
    _with_mnist_file(first)
    assert data.data_root() == first


def test_data_root_searches_dot_data_then_the_shared_sibling():
    repo = Path(data.__file__).resolve().parent.parent
    assert data.DATA_SEARCH == (Path("data"), repo.parent / "shared" / "data")


def test_data_root_without_data_names_every_place_and_the_fixes(monkeypatch, tmp_path):
    places = (tmp_path / "a", tmp_path / "b")
    monkeypatch.setattr(data, "DATA_SEARCH", places)
    monkeypatch.delenv("SANDBOX_DATA", raising=False)
    with pytest.raises(FileNotFoundError) as err:
        data.data_root()
    message = str(err.value)
    assert all(str(p) in message for p in places)
    assert "SANDBOX_DATA" in message and "--data-dir" in message and data.DOWNLOAD_HINT in message
    with pytest.raises(FileNotFoundError, match="none of the folders searched"):
        data.load_mnist("test")  # the loaders' default root is data_root()


def test_holds_mnist_any_or_every_file(tmp_path):
    assert not data.holds_mnist(tmp_path)
    _with_mnist_file(tmp_path)
    assert data.holds_mnist(tmp_path) and not data.holds_mnist(tmp_path, every=True)
    for name in data.MNIST_MD5:
        (tmp_path / "mnist" / name).write_bytes(b"")
    assert data.holds_mnist(tmp_path, every=True)


def test_parse_idx_reads_header_and_big_endian_payload():
    values = (np.arange(6).reshape(2, 3) - 2).astype(">i4")  # big-endian, as IDX stores it
    buf = bytes([0, 0, 0x0C, 2]) + np.array([2, 3], dtype=">i4").tobytes() + values.tobytes()
    out = data.parse_idx(buf)
    np.testing.assert_array_equal(out, [[-2, -1, 0], [1, 2, 3]])
    assert out.shape == (2, 3)


def test_parse_idx_rejects_bad_magic_and_size():
    with pytest.raises(ValueError, match="bad magic"):
        data.parse_idx(b"\x01\x00\x08\x01" + b"\x00" * 8, "x.idx")
    with pytest.raises(ValueError, match="x.idx: IDX size mismatch"):
        data.parse_idx(bytes([0, 0, 8, 1]) + np.array([5], ">i4").tobytes() + b"\x00" * 4, "x.idx")


# ----- MNIST --------------------------------------------------------------------------------------------------


def test_mnist_train_shapes_and_label_counts(train):
    images, labels = train
    assert images.shape == (60000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (60000,) and labels.dtype == torch.int64
    np.testing.assert_array_equal(torch.bincount(labels, minlength=10).numpy(), TRAIN_COUNTS)
    assert int(images.max()) == 255 and int(images.min()) == 0


def test_mnist_test_label_counts(test_split):
    images, labels = test_split
    assert images.shape == (10000, 28, 28)
    np.testing.assert_array_equal(torch.bincount(labels, minlength=10).numpy(), TEST_COUNTS)


def test_mnist_loads_from_sandbox_data(monkeypatch, root, test_split):
    monkeypatch.setenv("SANDBOX_DATA", str(root))
    images, labels = data.load_mnist("test")
    assert torch.equal(images, test_split[0]) and torch.equal(labels, test_split[1])


def test_raw_and_gz_give_the_same_arrays(tmp_path, root, test_split):
    names = data.SPLITS["test"][:2]
    raw_root = _folder_with(tmp_path / "raw", {n: _raw(root, n) for n in names})
    gz_root = _folder_with(tmp_path / "gz", {f"{n}.gz": gzip.compress(_raw(root, n), 1) for n in names})
    raw, gz = data.load_mnist("test", raw_root), data.load_mnist("test", gz_root)
    for a, b, c in zip(raw, gz, test_split):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_returned_tensors_do_not_alias_the_cache(root, test_split):
    images, _ = data.load_mnist("test", root)
    images.fill_(7)
    assert torch.equal(data.load_mnist("test", root)[0], test_split[0])


def test_unknown_split_is_named():
    with pytest.raises(ValueError, match="unknown MNIST split 'val'.*train, test"):
        data.load_mnist("val")


def test_missing_file_error_names_file_folder_and_remedy(tmp_path, root):
    images = data.SPLITS["test"][0]
    folder = _folder_with(tmp_path, {images: _raw(root, images)}) / "mnist"
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte") as err:
        data.load_mnist("test", tmp_path)
    message = str(err.value)
    assert str(folder) in message and "SANDBOX_DATA" in message and "--data-dir" in message
    assert "python -m sandbox.data download" in message


def _damaged(payload: bytes, how: str) -> bytes:
    if how == "flipped":
        mid = len(payload) // 2
        return payload[:mid] + bytes(b ^ 0xFF for b in payload[mid : mid + 8]) + payload[mid + 8 :]
    return payload[: len(payload) - 100]  # truncated


@pytest.mark.parametrize("how", ["flipped", "truncated"])
@pytest.mark.parametrize("gz", [False, True])
def test_corrupted_file_gives_checksum_error_naming_it(tmp_path, root, how, gz):
    images, labels = data.SPLITS["test"][:2]
    good = _raw(root, labels)
    bad = _damaged(_gz(root, labels) if gz else good, how)
    name = f"{labels}.gz" if gz else labels
    _folder_with(tmp_path, {images: _raw(root, images), name: bad})
    with pytest.raises(ValueError, match=rf"{name}: checksum does not match.*delete it and re-download"):
        data.load_mnist("test", tmp_path)


def test_to_unit_range_and_shape(test_split):
    x = data.to_unit(test_split[0][:5])
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    torch.testing.assert_close(
        data.to_unit(torch.tensor([[[0, 255]]], dtype=torch.uint8)).flatten(), torch.tensor([-1.0, 1.0]), rtol=0, atol=0
    )
    with pytest.raises(ValueError, match="uint8"):
        data.to_unit(torch.zeros(2, 28, 28))


# ----- the download path over file:// URLs -------------------------------------------------------------------


def _mirror(tmp_path, name, payload):
    folder = tmp_path / name
    folder.mkdir()
    for file, content in payload.items():
        (folder / f"{file}.gz").write_bytes(content)
    return folder.as_uri() + "/"


def test_download_falls_back_to_a_good_mirror_and_writes_atomically(tmp_path, root):
    names = data.SPLITS["test"][:2]
    good = {n: _gz(root, n) for n in names}
    bad = {n: _damaged(good[n], "flipped") for n in names}
    mirrors = [_mirror(tmp_path, "bad", bad), (tmp_path / "nowhere").as_uri() + "/", _mirror(tmp_path, "good", good)]
    target = tmp_path / "target"
    written = data.download_mnist(target, mirrors=mirrors, names=names)
    assert sorted(p.name for p in written) == sorted(f"{n}.gz" for n in names)
    assert sorted(p.name for p in (target / "mnist").iterdir()) == sorted(f"{n}.gz" for n in names)  # no temp files
    for n in names:
        content = gzip.decompress((target / "mnist" / f"{n}.gz").read_bytes())
        assert hashlib.md5(content).hexdigest() == data.MNIST_MD5[n]
    images, labels = data.load_mnist("test", target)
    np.testing.assert_array_equal(torch.bincount(labels).numpy(), TEST_COUNTS)
    # Intact files are kept: a second call fetches nothing, even with no mirror at all.
    assert data.download_mnist(target, mirrors=[], names=names) == []


def test_download_rejects_a_mirror_with_wrong_bytes(tmp_path, root):
    name = data.SPLITS["test"][1]
    mirror = _mirror(tmp_path, "bad", {name: _damaged(_gz(root, name), "truncated")})
    with pytest.raises(ValueError, match=f"{name}: checksum does not match"):
        data.download_mnist(tmp_path / "target", mirrors=[mirror], names=[name])
    assert list((tmp_path / "target" / "mnist").iterdir()) == []


def test_download_replaces_a_damaged_raw_file(tmp_path, root):
    name = data.SPLITS["test"][1]
    _folder_with(tmp_path, {name: _damaged(_raw(root, name), "flipped")})
    mirror = _mirror(tmp_path, "good", {name: _gz(root, name)})
    assert data.download_mnist(tmp_path, mirrors=[mirror], names=[name]) == [tmp_path / "mnist" / f"{name}.gz"]
    assert [p.name for p in (tmp_path / "mnist").iterdir()] == [f"{name}.gz"]


def test_download_unreachable_mirror_is_a_connection_error(tmp_path):
    with pytest.raises(ConnectionError, match="t10k-labels-idx1-ubyte: no mirror could be reached"):
        data.download_mnist(tmp_path, mirrors=[(tmp_path / "nowhere").as_uri() + "/"], names=["t10k-labels-idx1-ubyte"])


def test_download_cli_parses_its_command(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(data, "download_mnist", lambda d: calls.append(d) or [])
    monkeypatch.setattr(data, "load_mnist", lambda split, d: (torch.zeros(1, 28, 28), torch.zeros(1, dtype=torch.long)))
    data.main(["download", "--data-dir", str(tmp_path)])
    assert calls == [str(tmp_path)]


# ----- Stacked MNIST -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stacked(root, train):
    return data.stacked_mnist(20000, seed=0, data_dir=root)


def test_stacked_mnist_is_deterministic(root, stacked):
    images, labels = data.stacked_mnist(20000, seed=0, data_dir=root)
    assert torch.equal(images, stacked[0]) and torch.equal(labels, stacked[1])
    other = data.stacked_mnist(20000, seed=1, data_dir=root)
    assert not torch.equal(other[0], stacked[0])
    assert (other[1] != stacked[1]).float().mean() > 0.9


def test_stacked_mnist_labels_are_the_channel_digits_and_cover_1000_modes(train, stacked):
    images, labels = stacked
    assert images.shape == (20000, 3, 28, 28) and images.dtype == torch.uint8 and labels.dtype == torch.int64
    # Independent look-up: each channel is a training image whose own label is the matching digit.
    digit_of = {img.tobytes(): int(lab) for img, lab in zip(train[0].numpy(), train[1].numpy())}
    for x, y in zip(images[:500].numpy(), labels[:500].tolist()):
        assert [digit_of[x[c].tobytes()] for c in range(3)] == [y // 100, y // 10 % 10, y % 10]
    assert torch.equal(labels.unique(), torch.arange(1000))


# ----- 2-D mixtures ------------------------------------------------------------------------------------------


def test_ring_centres_are_metz_defaults():
    s = math.sqrt(2)
    expected = [[2, 0], [s, s], [0, 2], [-s, s], [-2, 0], [-s, -s], [0, -2], [s, -s]]
    torch.testing.assert_close(data.ring_centres(), torch.tensor(expected, dtype=torch.float32), atol=1e-6, rtol=0)
    torch.testing.assert_close(data.ring_centres(4, radius=1.0).norm(dim=1), torch.ones(4))


def test_grid_centres_are_pacgan_defaults():
    expected = torch.tensor(list(itertools.product([-4.0, -2.0, 0.0, 2.0, 4.0], repeat=2)))
    torch.testing.assert_close(data.grid_centres(), expected, atol=0, rtol=0)
    assert data.grid_centres(3, spacing=1.0).abs().max() == 1.0


@pytest.mark.parametrize(
    "name, kwargs, n_modes",
    [
        ("ring", {}, 8),
        ("grid", {}, 25),
        ("ring", {"modes": 5, "radius": 1.0, "std": 0.1}, 5),
        ("grid", {"side": 3, "spacing": 3.0, "std": 0.2}, 9),
    ],
)
def test_mixture_modes_have_their_centres_and_std(name, kwargs, n_modes):
    mix = data.MIXTURES[name]
    std = kwargs.get("std", mix.std)
    shape = {k: v for k, v in kwargs.items() if k != "std"}
    centres = mix.centres(**shape)
    assert centres.shape == (n_modes, 2)
    g = torch.Generator().manual_seed(0)
    x, k = data.mixture(20000, centres, std, g)
    counts = torch.bincount(k, minlength=n_modes)
    np.testing.assert_allclose(counts.numpy() / 20000, 1 / n_modes, rtol=0.15)
    for j in range(n_modes):
        xj = x[k == j]
        torch.testing.assert_close(xj.mean(0), centres[j], atol=6 * std / math.sqrt(len(xj)), rtol=0)
        torch.testing.assert_close(xj.std(0), torch.full((2,), std), rtol=0.1, atol=0)
    # The named sampler draws the same stream as mixture() from the same generator state.
    torch.testing.assert_close(mix.sample(20000, torch.Generator().manual_seed(0), **kwargs), x, atol=0, rtol=0)


# ----- batches -----------------------------------------------------------------------------------------------


def test_batches_replay_from_a_generator_state():
    images, labels = torch.randn(1000, 3), torch.arange(1000)
    g = torch.Generator().manual_seed(0)
    stream = data.batches((images, labels), 64, g)
    for _ in range(3):
        next(stream)
    state = g.get_state()
    first = [next(stream) for _ in range(4)]
    g.set_state(state)
    again = [data.sample_batch((images, labels), 64, g) for _ in range(4)]
    for (x1, y1), (x2, y2) in zip(first, again):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
        assert torch.equal(x1, images[y1])  # a tuple shares its indices
    other = data.sample_batch(labels, 64, torch.Generator().manual_seed(1))
    assert not torch.equal(other, first[0][1])


def test_batch_errors_are_named():
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        data.sample_batch(torch.zeros(5), 0, torch.Generator())
    with pytest.raises(ValueError, match="same length"):
        data.sample_batch((torch.zeros(5), torch.zeros(4)), 2, torch.Generator())


@pytest.mark.gpu
def test_batches_on_cuda_need_a_cuda_generator():
    x = torch.arange(100, device="cuda")
    with pytest.raises(ValueError, match="generator is on cpu, data on cuda"):
        data.sample_batch(x, 8, torch.Generator())
    g = torch.Generator(device="cuda").manual_seed(0)
    state = g.get_state()
    a = data.sample_batch(x, 8, g)
    g.set_state(state)
    assert a.device.type == "cuda" and torch.equal(a, data.sample_batch(x, 8, g))


# ----- the DATASETS registry ------------------------------------------------------------------------------------


def test_registry_holds_the_required_data_sets_and_each_default_net_fits():
    assert {"ring", "grid", "mnist", "stacked_mnist", "dirac"} <= set(data.DATASETS)
    for name, d in data.DATASETS.items():
        assert d.name == name and d.kind in ("points", "images", "dirac") and d.description
        check_fit(NETS[d.default_net], d.name, d.kind, d.channels)  # raises if the default does not fit
    modes = {name: (d.kind, d.channels, d.modes) for name, d in data.DATASETS.items()}
    assert modes["ring"] == ("points", 0, 8) and modes["grid"] == ("points", 0, 25)
    assert modes["mnist"] == ("images", 1, 10) and modes["stacked_mnist"] == ("images", 3, 1000)
    assert data.get_dataset("dirac").kind == "dirac"
    with pytest.raises(ValueError, match="unknown data 'cifar'; valid names: .*mnist.*ring"):
        data.get_dataset("cifar")


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_mixture_sources_draw_the_mixture_stream(name):
    source = data.DATASETS[name].source("cpu", torch.float64)
    mix = data.MIXTURES[name]
    assert (source.kind, source.channels, source.std) == ("points", 0, mix.std)
    torch.testing.assert_close(source.centres, mix.centres(), rtol=0, atol=0)
    x = source.sample(500, torch.Generator().manual_seed(4))
    expected = data.mixture(500, mix.centres(), mix.std, torch.Generator().manual_seed(4))[0]
    assert x.dtype == torch.float64 and torch.equal(x, expected.double())


def test_dirac_source_is_the_point_mass_at_zero():
    source = data.DATASETS["dirac"].source("cpu", torch.float64)
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    x = source.sample(7, g)
    assert (source.kind, source.channels) == ("dirac", 0) and x.dtype == torch.float64
    assert torch.equal(x, torch.zeros(7, dtype=torch.float64)) and torch.equal(g.get_state(), state)  # draws nothing


@pytest.mark.parametrize("name, copies", [("mnist", 1), ("stacked_mnist", 3)])
def test_image_sources_draw_one_batch_per_channel_in_order(root, train, name, copies):
    source = data.DATASETS[name].source("cpu", torch.float32, root, channels_last=True)
    assert (source.kind, source.channels) == ("images", copies)
    x = source.sample(64, torch.Generator().manual_seed(5))
    assert x.shape == (64, copies, 28, 28) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    # The stream the resume tests rely on: channel c holds the c-th randint(0, 60000, (64,)) draw's digits.
    g = torch.Generator().manual_seed(5)
    for c in range(copies):
        idx = torch.randint(0, 60000, (64,), generator=g)
        torch.testing.assert_close(x[:, c], train[0][idx].float() / 127.5 - 1.0, rtol=0, atol=0)
    plain = data.DATASETS[name].source("cpu", torch.float64, root, channels_last=False)
    y = plain.sample(64, torch.Generator().manual_seed(5))
    assert y.is_contiguous() and torch.equal(y, x.double())


def test_image_source_with_a_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"not found in {tmp_path / 'mnist'}"):
        data.DATASETS["stacked_mnist"].source("cpu", torch.float32, tmp_path)
