"""sandbox.evaluation.mnist (C13, C15, C12 measurement): FID on classifier features separates real from noise, the real
test set scores about 10, a one-digit generator has high precision and low recall, real Stacked MNIST covers
the 1000 modes, the birthday test sees no duplicates in real data and recovers the support of a repeating
generator, and the memorisation check finds copied training images."""

import math

import pytest
import torch

from sandbox import data
from sandbox.evaluation import mnist as evaluate
from sandbox.evaluation.classifier import probabilities
from sandbox.evaluation.metrics import classifier_score, feature_stats, frechet_reference


@pytest.fixture(scope="module")
def train_split(root):
    images, labels = data.load_mnist("train", root)
    return data.to_unit(images), labels


def _subset(images, n, seed):
    return images[torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]]


def test_c15_fid_train_vs_test_is_far_below_test_vs_noise(train_split, test_split):
    g = torch.Generator().manual_seed(0)
    f_train = evaluate.digit_features(_subset(train_split[0], 2000, 1))
    f_test = evaluate.digit_features(_subset(test_split[0], 2000, 2))
    f_noise = evaluate.digit_features(torch.rand(2000, 1, 28, 28, generator=g) * 2 - 1)
    real_real, real_noise = evaluate.fid(f_train, f_test), evaluate.fid(f_test, f_noise)
    # measured: about 4.2 against 3,200 (ratio ~770); the real-real value is mostly the bias of n = 2,000
    assert 0.0 < real_real < 10.0
    assert real_noise > 100.0 * real_real
    # the same number from features, from FeatureStats and from the cached Frechet reference
    stats = feature_stats(f_train)
    assert evaluate.fid(stats, f_test) == pytest.approx(real_real, rel=1e-9)
    assert evaluate.fid(frechet_reference(stats.mu, stats.sigma), feature_stats(f_test)) == pytest.approx(
        real_real, rel=1e-9
    )


def test_fid_to_test_scores_train_digits_clamps_rounding_and_gives_nan_for_a_diverged_g(train_split, root):
    x = _subset(train_split[0], 1000, 3)
    value, ref = evaluate.fid_to_test(x, root), evaluate.reference_stats("test", root)
    # the study helpers' number: FID of the images' features against the test split's statistics
    assert value == pytest.approx(evaluate.fid(ref, evaluate.digit_features(x)), rel=1e-12)
    assert 1.0 < value < 15.0  # train digits against test (measured 4.5 at n = 1,000: mostly small-n bias)
    # values past tanh's range are clamped before scoring (the features refuse them unclamped)
    wide = 1.5 * x
    clamped = evaluate.fid(ref, evaluate.digit_features(wide.clamp(-1.0, 1.0)))
    assert evaluate.fid_to_test(wide, root) == pytest.approx(clamped, rel=1e-12)
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]"):
        evaluate.digit_features(wide)
    x[3, 0, 5, 5] = math.nan
    assert math.isnan(evaluate.fid_to_test(x, root))


def test_c15_classifier_score_of_the_real_test_set_is_close_to_10(test_split):
    p = probabilities(evaluate.classifier(), test_split[0])  # all 10,000 test images
    score = classifier_score(p).mean
    # at most 10 (uniform over 10 confident classes); label imbalance and residual entropy give about 9.83
    assert 9.7 < score < 9.95


def test_one_digit_generator_covers_one_class_with_high_precision_and_low_recall(train_split, root):
    images, labels = train_split
    sevens = images[labels == 7][:1000]  # training images: the test-split reference never saw them
    rec = evaluate.evaluate_generator(evaluate.dataset_sampler(sevens), 1000, data_dir=root)
    classes = rec["classes"]["value"]
    assert classes["covered"] == 1 and classes["histogram"][7] >= 990
    pr = rec["precision_recall"]["value"]
    # argument order (real, fake): the fakes are real sevens (precise) but cover only a tenth of the digits
    assert pr["precision"] > 0.85 and pr["recall"] < 0.2
    assert rec["classifier_score"]["value"]["mean"] == pytest.approx(1.0, abs=0.1)
    assert rec["fid"]["value"] > 100.0
    assert rec["fid"]["name"] == "FID (MNIST-classifier features)" == evaluate.FID_NAME
    for r in rec.values():
        assert r["features"] == "MNIST-classifier features" and r["split"] == "test" and r["seed"] == 0
    assert "stacked_modes" not in rec


def test_real_digits_score_well_in_evaluate_generator(train_split, root):
    rec = evaluate.evaluate_generator(evaluate.dataset_sampler(train_split[0][:2000]), 2000, data_dir=root)
    assert rec["fid"]["value"] < 10.0 and rec["fid"]["n"] == 2000
    assert rec["classes"]["value"]["covered"] == 10
    pr = rec["precision_recall"]["value"]
    assert pr["precision"] > 0.8 and pr["recall"] > 0.8  # k = 3 at n = 2,000: about 0.87 and 0.85
    assert rec["kid"]["value"]["mean"] == pytest.approx(0.0, abs=2.0)
    assert rec["classifier_score"]["value"]["mean"] == pytest.approx(9.6, abs=0.3)  # 10 splits of 200


def test_real_stacked_mnist_covers_the_1000_modes(root):
    stacked, _ = data.stacked_mnist(26000, seed=0, split="test", data_dir=root)
    modes = evaluate.stacked_modes(data.to_unit(stacked))
    # 26,000 draws: the rarest mode (0.089^3 = 7e-4) is missed with probability e^-18; the reverse KL is the
    # label imbalance (3 x 0.0018 nats) plus the finite-sample bias 999 / (2 x 26,000) = 0.019; measured 0.025
    assert modes.modes >= 990
    assert 0.0 < modes.kl <= 0.05


def test_stacked_quality_splits_the_kl_and_sees_unsure_digits(root):
    stacked, _ = data.stacked_mnist(5000, seed=0, split="test", data_dir=root)
    real = data.to_unit(stacked)
    q = evaluate.stacked_quality(real)
    assert (q.modes, q.reverse_kl) == tuple(evaluate.stacked_modes(real))  # the same argmax digits
    # independent channels: the marginal part is the label imbalance (3 x 0.0018) plus its bias 3 x 9 / 2n = 0.0027,
    # the between-channel part only the plug-in bias (999 - 27) / 2n = 0.097 (measured 0.0070 and 0.102)
    assert q.marginal_kl == pytest.approx(0.008, abs=0.004) and q.total_correlation == pytest.approx(0.097, abs=0.02)
    # measured: confidence 0.996 and 1.1% of channels below 0.9 on 25,600 train images
    assert q.confidence == pytest.approx(0.996, abs=0.004) and q.unsure == pytest.approx(0.011, abs=0.01)
    # control: each channel the pixel mean of two different digits reads as neither (most below CONFIDENT)
    blend = (real + real.roll(1, dims=0)) / 2
    b = evaluate.stacked_quality(blend)
    assert b.unsure > 10 * q.unsure and b.confidence < q.confidence - 0.1
    # control: the same digit image in all three channels: coverage falls to the 10 diagonal modes, all TC
    tied = evaluate.stacked_quality(real[:, :1].repeat(1, 3, 1, 1))
    assert tied.modes == 10 and tied.total_correlation == pytest.approx(2 * math.log(10), abs=0.02)
    with pytest.raises(ValueError, match="3 channels"):
        evaluate.stacked_quality(real[:, :1])


def test_stacked_generators_get_modes_and_pooled_digit_metrics(root):
    stacked, _ = data.stacked_mnist(300, seed=1, split="train", data_dir=root)
    rec = evaluate.evaluate_generator(evaluate.dataset_sampler(data.to_unit(stacked)), 300, data_dir=root, seed=2)
    modes = rec["stacked_modes"]
    assert modes["value"]["of"] == 1000 and 200 <= modes["value"]["modes"] <= 300 and modes["n"] == 300
    # all 300 images, reordered (the breakdown ignores order): the numbers stacked_quality gives them directly
    direct = evaluate.stacked_quality(data.to_unit(stacked))._asdict()
    assert {k: modes["value"][k] for k in direct} == pytest.approx(direct, rel=1e-6, abs=1e-9)
    assert direct["confidence"] == pytest.approx(0.996, abs=0.006) and 0.0 <= direct["unsure"] <= 0.04  # real digits
    assert rec["fid"]["n"] == 900 and rec["fid"]["value"] < 20.0  # the 3 x 300 channel digits, pooled
    assert rec["classes"]["value"]["covered"] == 10


def test_sample_fn_returning_the_wrong_batch_is_refused(root):
    with pytest.raises(ValueError, match="returned 5 images, 10 were asked for"):
        evaluate.evaluate_generator(lambda n, g: torch.zeros(5, 1, 28, 28), 10, data_dir=root)
    with pytest.raises(ValueError, match=r"shape \(n, 1 or 3, 28, 28\)"):
        evaluate.evaluate_generator(lambda n, g: torch.zeros(n, 2, 28, 28), 10, data_dir=root)


def test_duplicate_threshold_is_a_low_percentile_of_real_neighbour_distances(root):
    low = evaluate.duplicate_threshold("test", data_dir=root)
    median = evaluate.duplicate_threshold("test", percentile=50.0, data_dir=root)
    assert 0.0 < low < 0.5 * median  # measured 1.99 against a median of 6.46


def test_c13_birthday_test_finds_no_duplicates_in_real_digits(test_split, root):
    sampler = evaluate.dataset_sampler(test_split[0])
    res = evaluate.birthday_test(sampler, (10, 25, 50, 100, 200, 400), trials=20, data_dir=root)
    assert res.curve.probs[:4].tolist() == [0.0, 0.0, 0.0, 0.0]  # s <= 100
    assert res.support > 1e5  # measured 6.7e5 (inf, with a note, if no size finds a pair)
    assert res.pair_images.shape == (10, 2, 1, 28, 28)
    assert bool((res.pairs.distances[1:] >= res.pairs.distances[:-1]).all())
    assert res.records["birthday_support"]["metric"] == "birthday_support"


def test_c13_birthday_test_recovers_the_support_of_a_repeating_generator(test_split, root):
    k = 100
    pool = test_split[0][:k]

    def repeating(n, g):
        idx = torch.randint(0, k, (n,), generator=g, device=g.device)
        return (pool[idx] + 0.05 * torch.randn(n, 1, 28, 28, generator=g)).clamp(-1, 1)  # light pixel noise

    res = evaluate.birthday_test(repeating, (4, 8, 12, 16, 24, 32, 48), trials=50, data_dir=root)
    assert k / 2 <= res.support <= 2 * k  # measured 73
    assert float(res.pairs.distances[0]) < res.threshold
    assert res.note == ""


def test_birthday_test_reports_when_no_size_finds_a_duplicate(test_split, root):
    res = evaluate.birthday_test(evaluate.dataset_sampler(test_split[0]), (5, 10), trials=5, data_dir=root)
    assert math.isinf(res.support) and "no duplicates" in res.note
    assert res.records["birthday_support"]["value"]["support"] == "inf"


def test_memorisation_check_finds_copied_training_images(train_split):
    train = train_split[0][:3000]
    g = torch.Generator().manual_seed(0)
    fakes = torch.cat([train[[5, 17, 2999]], torch.rand(2, 1, 28, 28, generator=g) * 2 - 1])
    mem = evaluate.memorisation_check(fakes, train, k=3)
    assert mem.pixel.indices[:3, 0].tolist() == [5, 17, 2999] == mem.feature.indices[:3, 0].tolist()
    torch.testing.assert_close(mem.pixel.distances[:3, 0], torch.zeros(3, dtype=torch.float64), rtol=0, atol=1e-9)
    assert bool((mem.pixel.distances[3:, 0] > 10.0).all())  # noise is far from every digit in pixels
    assert mem.pixel_images.shape == mem.feature_images.shape == (5, 3, 1, 28, 28)
    assert torch.equal(mem.pixel_images[:3, 0], fakes[:3])
    with pytest.raises(ValueError, match="channels"):
        evaluate.memorisation_check(torch.zeros(2, 3, 28, 28), train, k=1)
