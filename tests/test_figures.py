"""The shared plot helpers draw what they say: seed means and spreads, FID and step axes, legends, published values."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sandbox.reporting import figures  # noqa: E402


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_seed_errorbars_draws_mean_and_population_std_with_every_seed(ax):
    bars = figures.seed_errorbars(ax, [1, 2], [[1.0, 3.0], [5.0]], label="ours", scale=10.0)
    line, _, (bar_lines,) = bars.lines
    np.testing.assert_allclose(np.asarray(line.get_ydata(), float), [20.0, 50.0], rtol=0, atol=1e-12)
    segments = bar_lines.get_segments()  # std 10 at x=1; one seed at x=2: a zero-length bar
    np.testing.assert_allclose([s[:, 1] for s in segments], [[10.0, 30.0], [50.0, 50.0]], rtol=0, atol=1e-12)
    seeds = [d for d in ax.lines if d.get_marker() == "." and d.get_linestyle() == "None"]
    assert [np.asarray(d.get_ydata(), float).tolist() for d in seeds] == [[10.0, 30.0], [50.0]]
    assert all(d.get_color() == line.get_color() for d in seeds)
    with pytest.raises(ValueError, match="2 x positions but 1 lists"):
        figures.seed_errorbars(ax, [1, 2], [[1.0]])


def test_fid_and_steps_axes_label_ticks_plainly(ax):
    figures.metric_vs_steps(ax, [0, 1000, 2000], [300.0, float("nan"), 40.0], fid=True, label="raw")
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "FID" and ax.get_xlabel() == "generator steps"
    y = ax.lines[0].get_ydata()
    assert y[0] == 300.0 and np.isnan(y[1]) and y[2] == 40.0
    fmt_y, fmt_x = ax.yaxis.get_major_formatter(), ax.xaxis.get_major_formatter()
    assert fmt_y(200.0, 0) == "200" and fmt_y(50.0, 0) == "50"
    assert fmt_x(2000.0, 0) == "2k" and fmt_x(500.0, 0) == "500" and fmt_x(1500.0, 0) == "1500"


def test_twin_legend_holds_both_axes_labels(ax):
    ax.plot([0, 1], label="modes")
    twin = ax.twinx()
    twin.plot([1, 0], label="high quality")
    legend = figures.twin_legend(ax, twin, fontsize=8)
    assert [t.get_text() for t in legend.get_texts()] == ["modes", "high quality"]


def test_published_marker_draws_the_quoted_values_or_says_there_are_none(ax):
    star = figures.published_marker(ax, [0.25, 0.5, 1.0], [None, 7.0, 9.5], source="Metz et al. 2017")
    assert star.get_xdata().tolist() == [0.5, 1.0] and star.get_ydata().tolist() == [7.0, 9.5]
    assert star.get_label() == "published (Metz et al. 2017)"
    note = figures.published_marker(ax, 1.0, None, source="not transcribed")
    assert note.get_text() == "no published value (not transcribed)"
