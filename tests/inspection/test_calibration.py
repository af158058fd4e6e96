"""The hard ECE against a loop over bins."""

import numpy as np
import pytest

from sklearn_unlearn.inspection import expected_calibration_error


@pytest.mark.parametrize("n_bins", [1, 5, 15])
def test_matches_a_loop_over_bins(n_bins):
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3), size=200)
    y = rng.integers(0, 3, size=200)
    conf, pred = proba.max(1), proba.argmax(1)
    total = 0.0
    edges = np.linspace(0, 1, n_bins + 1)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            gap = np.mean(pred[inside] == y[inside]) - np.mean(conf[inside])
            total += inside.mean() * abs(gap)
    assert expected_calibration_error(y, proba, n_bins=n_bins) == pytest.approx(total)


def test_bad_input():
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error([0, 1], np.eye(2), n_bins=0)
    with pytest.raises(ValueError, match="entries"):
        expected_calibration_error([0, 1, 1], np.eye(2))
