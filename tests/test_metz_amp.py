"""The bf16 parity rule of benchmarks.metz_amp and amp_parity (2 standard errors of the difference of means,
benchmarks._arms.parity_verdict) and the config metz_amp trains."""

import math

import pytest

from benchmarks import metz_amp
from benchmarks._arms import parity_verdict


def test_parity_holds_within_two_standard_errors_and_fails_beyond():
    fp32 = [746.0, 857.0, 810.0, 734.0]
    same = parity_verdict({"fp32": fp32, "bf16": [738.0, 769.0, 736.0, 824.0]}, 4)
    s32, s16 = same["std"]["fp32"], same["std"]["bf16"]
    assert same["se_diff"] == pytest.approx(math.sqrt(s32**2 / 4 + s16**2 / 4), rel=1e-12)
    assert same["diff_bf16_minus_fp32"] == pytest.approx(-20.0, rel=1e-12)
    assert same["parity"] is True
    # the control: the same bf16 runs 200 modes lower (a precision that slowed learning) must fail it
    worse = parity_verdict({"fp32": fp32, "bf16": [v - 200.0 for v in [738.0, 769.0, 736.0, 824.0]]}, 4)
    assert worse["parity"] is False
    assert parity_verdict({"fp32": [1.0], "bf16": [2.0]}, 1)["parity"] is None  # one seed: no verdict


def test_parity_trains_the_study_config_in_the_precision_asked():
    from studies import rpgan_stacked_mnist as rp

    cfg = metz_amp.parity_config(2, 2000, "on", "/data")
    assert (cfg.objective, cfg.penalty, cfg.d_width, cfg.steps, cfg.seed) == ("rpgan", "r1", 4.0, 2000, 2)
    assert (cfg.amp, cfg.channels_last, cfg.data_dir) == ("on", "on", "/data")
    assert (cfg.batchnorm_g, cfg.batchnorm_d, cfg.lr_d, cfg.lr_g) == (True, False, rp.NET["lr_d"], rp.NET["lr_g"])
