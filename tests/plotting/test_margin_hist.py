import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from sklearn_unlearn.metrics import klom, klom_from_margins, margins
from sklearn_unlearn.metrics._klom import auto_n_bins
from sklearn_unlearn.plotting import MarginHistogramDisplay


def _bar_heights(ax, n_bins):
    heights = [p.get_height() for p in ax.patches]
    return np.array(heights[:n_bins]), np.array(heights[n_bins:])


def test_from_margins_counts_match_inputs():
    rng = np.random.default_rng(0)
    U, O = rng.normal(size=(8, 5)), rng.normal(1.0, size=(6, 5))
    disp = MarginHistogramDisplay.from_margins(U, O, rows=[1, 3], n_bins=4)
    assert disp.axes_.shape == (2,)
    assert_allclose(disp.klom_, klom_from_margins(U[:, [1, 3]], O[:, [1, 3]], 4))
    for ax, j, bins in zip(disp.axes_, [1, 3], disp.bins_, strict=True):
        hu, ho = _bar_heights(ax, 4)
        lo = min(U[:, j].min(), O[:, j].min())
        hi = max(U[:, j].max(), O[:, j].max())
        assert_allclose(bins, np.linspace(lo, hi, 5))
        assert_allclose(hu, np.histogram(U[:, j], bins=bins)[0])
        assert_allclose(ho, np.histogram(O[:, j], bins=bins)[0])
        assert hu.sum() == 8 and ho.sum() == 6  # the maximum is not lost
        assert ax.get_xlabel() == "margin"
        assert f"row {j}" in ax.get_title()
    assert disp.axes_[0].get_ylabel() == "models"


def test_from_estimators_reads_margins():
    X, y = make_classification(n_samples=80, random_state=0)
    models = [LogisticRegression(C=c).fit(X, y) for c in (0.1, 1.0, 10.0)]
    oracles = [LogisticRegression(C=c).fit(X[10:], y[10:]) for c in (0.1, 1.0)]
    disp = MarginHistogramDisplay.from_estimators(models, oracles, X, y, rows=[0])
    assert_allclose(disp.unlearned[:, 0], [margins(m, X[:1], y[:1])[0] for m in models])
    assert_allclose(disp.oracle[:, 0], [margins(m, X[:1], y[:1])[0] for m in oracles])


def test_wrong_number_of_axes():
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="2 rows need 2 axes"):
        MarginHistogramDisplay.from_margins(np.zeros((2, 2)), np.ones((2, 2)), axes=ax)


@pytest.mark.parametrize(
    "n_rows, shape, hidden",
    [(1, (1, 1), 0), (3, (1, 3), 0), (5, (2, 3), 1), (6, (2, 3), 0)],
)
def test_panels_fill_a_grid(n_rows, shape, hidden):
    rng = np.random.default_rng(0)
    U, O = rng.normal(size=(9, 8)), rng.normal(size=(9, 8))
    disp = MarginHistogramDisplay.from_margins(U, O, rows=np.arange(n_rows))
    assert disp.axes_.shape == (n_rows,)
    grid = disp.figure_.axes
    assert len(grid) == shape[0] * shape[1]
    assert sum(not ax.get_visible() for ax in grid) == hidden
    assert {ax.get_subplotspec().get_geometry()[:2] for ax in grid} == {shape}
    # one y axis (models) for all panels, labelled once per grid row
    ylim = disp.axes_[0].get_ylim()
    assert all(ax.get_ylim() == ylim for ax in disp.axes_)
    labelled = [ax.get_ylabel() == "models" for ax in disp.axes_]
    assert labelled == [k % 3 == 0 for k in range(n_rows)]
    # the x axis is labelled on every panel with none below it
    below = [k + shape[1] < n_rows for k in range(n_rows)]
    assert [ax.get_xlabel() == "" for ax in disp.axes_] == below
    assert len(disp.figure_.legends) == 1


def test_auto_bins_are_klom_s():
    """The default number of bins is KLoM's: the panels' KLoM is klom()."""
    rng = np.random.default_rng(0)
    U, O = rng.normal(size=(100, 4)), rng.normal(0.3, size=(30, 4))
    disp = MarginHistogramDisplay.from_margins(U, O)
    assert disp.n_bins_ == auto_n_bins(30) == 5
    assert all(len(b) == 6 for b in disp.bins_)
    assert_allclose(disp.klom_, klom(U, O))
    two = MarginHistogramDisplay.from_margins(U, O, rows=[0, 1], n_cols=1)
    assert two.figure_.axes[0].get_subplotspec().get_geometry()[:2] == (2, 1)
    with pytest.raises(ValueError, match="n_bins"):
        MarginHistogramDisplay.from_margins(U, O, n_bins=0)
