"""Rank-one factor updates and refactorisation give the same Newton step."""

import copy

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression, PoissonRegressor

from sklearn_unlearn import UnlearningClassifier, UnlearningRegressor
from sklearn_unlearn.curvature._cholesky import default_rank_limit


def _models():
    X, y = make_classification(
        n_samples=300,
        n_features=5,
        n_informative=4,
        n_redundant=0,
        n_classes=3,
        random_state=0,
    )
    yb = (y > 0).astype(int)
    counts = np.random.default_rng(0).poisson(np.exp(0.3 * X[:, 0]))
    return [
        (UnlearningClassifier(LogisticRegression()), X, yb),
        (UnlearningClassifier(LogisticRegression(C=0.5)), X, y),
        (UnlearningRegressor(PoissonRegressor(alpha=0.0)), X, counts),
    ]


@pytest.mark.parametrize("case", range(3))
@pytest.mark.parametrize("operation", ["unlearn", "relabel"])
def test_factor_path_equals_refactor_path(case, operation):
    model, X, y = _models()[case]
    model.fit(X, y)
    dense, factored = copy.deepcopy(model), copy.deepcopy(model)
    factored.state_.curvature.refactor_rank = 10**6  # force rank-one updates
    dense.state_.curvature.refactor_rank = 0  # force refactorisation
    for m in (dense, factored):
        if operation == "unlearn":
            m.unlearn(X[:4], y[:4])
        elif hasattr(m, "classes_"):
            y_new = (y[:4] + 1) % len(m.classes_)
            m.relabel(X[:4], y[:4], y_new)
    np.testing.assert_allclose(
        factored.state_.theta, dense.state_.theta, rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        factored.state_.curvature.matrix_, dense.state_.curvature.matrix_, atol=1e-8
    )


def test_default_rank_limit_grows_with_width():
    assert default_rank_limit(50) == 0
    assert default_rank_limit(505) >= 8
    assert default_rank_limit(2000) > default_rank_limit(1000)
