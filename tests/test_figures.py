"""Figure plumbing: intervals are drawn from their own ends."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from editlib.experiments.plots.style import interval_bars  # noqa: E402


def _segments(ax):
    """The error bars' segments, one per position (empty where nothing is drawn)."""
    (_, _, (lines,)) = ax.containers[0].lines
    return lines.get_segments()


def test_an_interval_that_excludes_the_estimate_is_drawn_where_it_is():
    """A bootstrap interval of S (a harmonic mean of means) can lie beside its estimate, as
    with two cases; an error bar drawn as offsets from the estimate would be negative."""
    fig, ax = plt.subplots()
    interval_bars(ax, [0, 1], low=[60.0, 10.0], high=[90.0, np.nan])
    seg = _segments(ax)
    assert np.allclose(seg[0], [[0, 60.0], [0, 90.0]])              # from its low end to its high end
    assert seg[1].size == 0                                           # no interval: nothing drawn
    fig2, ax2 = plt.subplots()
    interval_bars(ax2, [2.0], low=[-1.5], high=[0.5], horizontal=True)
    assert np.allclose(_segments(ax2)[0], [[-1.5, 2.0], [0.5, 2.0]])
    plt.close(fig)
    plt.close(fig2)
