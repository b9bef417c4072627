"""sandbox.evaluation.classifier: the committed MNIST classifier reaches 99% test accuracy, matches its JSON record,
refuses corrupted weights, loads in eval mode, and its feature/probability/stacked-label API is consistent."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from sandbox import data
from sandbox.evaluation import classifier as clf
from sandbox.nets import param_count


@pytest.fixture(scope="module")
def model():
    return clf.load_classifier("cpu")


@pytest.fixture(scope="module")
def meta():
    return json.loads(clf.WEIGHTS.with_suffix(".json").read_text())


def test_committed_classifier_reaches_99_percent_and_matches_its_json(model, meta, test_split):
    images, labels = test_split
    measured = clf.accuracy(model, images, labels)  # the full 10k test set
    assert measured >= 0.99
    # the JSON records the accuracy after the float16 round trip; one image of slack for BLAS differences
    assert measured == pytest.approx(meta["test_accuracy"], abs=1.5e-4)
    assert meta["sha256"] == clf.sha256(clf.WEIGHTS)
    assert meta["param_count"] == param_count(clf.build(0)) == sum(p.numel() for p in model.parameters())
    assert meta["bytes"] == clf.WEIGHTS.stat().st_size < 1_000_000
    assert meta["train_command"].startswith(clf.TRAIN_COMMAND)
    assert {"seed", "epochs", "torch", "storage"} <= set(meta)


def _copy_weights(tmp_path: Path) -> Path:
    path = tmp_path / clf.WEIGHTS.name
    shutil.copy(clf.WEIGHTS, path)
    shutil.copy(clf.WEIGHTS.with_suffix(".json"), path.with_suffix(".json"))
    return path


def test_corrupted_weights_raise_an_error_naming_the_file(tmp_path):
    path = _copy_weights(tmp_path)
    clf.load_classifier("cpu", path)  # the intact copy loads
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte in the tensor data
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=rf"corrupted classifier weights .*{path.name}: sha256 .* does not match"):
        clf.load_classifier("cpu", path)


def test_missing_weights_say_how_to_retrain(tmp_path):
    path = _copy_weights(tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(FileNotFoundError, match="python3 -m sandbox.evaluation.classifier train"):
        clf.load_classifier("cpu", path)


def test_loaded_classifier_is_in_eval_mode_so_features_ignore_the_batch(model, test_split):
    assert not model.training and not any(m.training for m in model.modules())
    assert not any(p.requires_grad for p in model.parameters())
    x = test_split[0][:300]
    alone = clf.features(model, x[:5])
    in_batch = clf.features(model, x)[:5]  # BatchNorm in train mode would differ here
    torch.testing.assert_close(alone, in_batch, rtol=1e-5, atol=1e-5)
    trained = clf.load_classifier("cpu").train()
    with pytest.raises(ValueError, match="train mode"):
        clf.features(trained, x[:5])


def test_features_probabilities_and_digits_agree(model, test_split):
    x, y = test_split[0][:700], test_split[1][:700]  # 700 > one CPU batch: exercises batching
    f = clf.features(model, x)
    p = clf.probabilities(model, x)
    assert f.shape == (700, clf.FEATURE_DIM) and f.dtype == torch.float32 and not f.requires_grad
    assert bool((f >= 0).all())  # post-ReLU activations
    torch.testing.assert_close(p.sum(1), torch.ones(700), rtol=0, atol=1e-5)
    torch.testing.assert_close(clf.probabilities_from_features(model, f), p, rtol=1e-5, atol=1e-6)
    digits = clf.predict_digits(model, x)
    assert torch.equal(digits, p.argmax(1))
    assert float((digits == y).double().mean()) == pytest.approx(0.995, abs=0.01)


def test_stacked_labels_read_each_channel(model, root):
    stacked, code = data.stacked_mnist(1000, seed=3, split="test", data_dir=root)
    pred = clf.stacked_labels(model, data.to_unit(stacked))
    assert pred.shape == (1000,) and int(pred.min()) >= 0 and int(pred.max()) < 1000
    # three independent 99.5% digit reads: about 0.995^3 = 98.5% of the modes right
    assert float((pred == code).double().mean()) == pytest.approx(0.985, abs=0.015)
    # channel order: R is the hundreds digit
    single = data.to_unit(stacked[:, :1])
    assert torch.equal(pred // 100, clf.predict_digits(model, single))


def test_bad_images_are_refused_with_the_reason(model):
    with pytest.raises(ValueError, match="to_unit"):
        clf.features(model, torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"shape \(N, 1, 28, 28\)"):
        clf.features(model, torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        clf.probabilities(model, torch.full((2, 1, 28, 28), 255.0))
    with pytest.raises(ValueError, match=r"shape \(N, 3, 28, 28\)"):
        clf.stacked_labels(model, torch.zeros(2, 1, 28, 28))


def test_random_shift_translates_each_image_reproducibly():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 28, 28, generator=g) * 2 - 1
    shifted = clf.random_shift(x, 2, torch.Generator().manual_seed(1))
    again = clf.random_shift(x, 2, torch.Generator().manual_seed(1))
    assert torch.equal(shifted, again)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0)
    # every output is one of the 25 translations of its own input, with -1 (background) filled in
    candidates = torch.stack(
        [padded[:, :, 2 - dy : 30 - dy, 2 - dx : 30 - dx] for dy in range(-2, 3) for dx in range(-2, 3)], dim=1
    )  # (64, 25, 1, 28, 28)
    match = (candidates == shifted[:, None]).flatten(2).all(2)
    assert bool(match.any(1).all())
    assert int(match[:, 12].sum()) < 64  # not all unshifted (index 12 is dy = dx = 0)
    assert torch.equal(clf.random_shift(x, 0, g), x)


def test_learning_rate_warms_up_then_decays_to_zero():
    total, peak = 1000, 3e-3
    lrs = [clf.lr_at(s, total, peak) for s in range(total)]
    assert lrs[0] == pytest.approx(peak / 50)
    assert max(lrs) == pytest.approx(peak)
    assert lrs[49] == pytest.approx(peak) and lrs[-1] == pytest.approx(0.0, abs=peak * 1e-4)


def test_build_is_seeded_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b, c = clf.build(0), clf.build(0), clf.build(1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.hidden.weight, b.hidden.weight) and not torch.equal(a.hidden.weight, c.hidden.weight)


@pytest.mark.gpu
def test_features_on_cuda_match_cpu(model, test_split):
    x = test_split[0][:512]
    on_gpu = clf.features(clf.load_classifier("cuda"), x.cuda())
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), clf.features(model, x), rtol=1e-3, atol=1e-3)
