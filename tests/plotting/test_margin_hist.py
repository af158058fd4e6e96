import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from sklearn_unlearn.metrics import klom_from_margins, margins
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
        assert ax.get_xlabel() == "margin" and ax.get_ylabel() == "models"
        assert f"row {j}" in ax.get_title()


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
