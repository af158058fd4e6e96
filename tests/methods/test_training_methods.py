"""What the training-based net methods share: nets only, forget at fit, privacy."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.linear_model import LogisticRegression  # noqa: E402
from skorch import NeuralNetClassifier  # noqa: E402
from torch import nn  # noqa: E402

from sklearn_unlearn import UnlearningClassifier  # noqa: E402
from sklearn_unlearn.methods import (  # noqa: E402
    GradientAscent,
    OracleMatching,
    WeightPruning,
)

N, D = 100, 4

METHODS = [
    GradientAscent(lr=0.05, random_state=0),
    GradientAscent(lr=0.05, retain_weight=1.0, optimizer="adam", random_state=0),
    WeightPruning(thresholds=0.1, random_state=0),
    OracleMatching(epochs=1, random_state=0),
    OracleMatching(epochs=1, oracle=nn.Linear(D, 3).double(), loss="kl"),
]


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    X[:3] = [
        [1.23456789, -0.987654321, 0.314159265, 2.71828182],
        [-1.11111111, 0.22222222, -0.33333333, 0.44444444],
        [0.00512345, 1.777777, -0.666666, 0.987654],
    ]
    y = np.digitize(X @ [1.0, -1.0, 0.5, 0.0], [-1.0, 1.0])
    return X, y


def _net():
    torch.manual_seed(0)
    return NeuralNetClassifier(
        nn.Sequential(nn.Linear(D, 5), nn.ReLU(), nn.Linear(5, 3)),
        criterion=nn.CrossEntropyLoss,
        max_epochs=2,
        train_split=None,
        verbose=0,
        optimizer__weight_decay=1e-2,
    )


@pytest.mark.parametrize("method", METHODS, ids=lambda m: type(m).__name__)
def test_forget_at_fit_and_the_pickle_holds_no_forgotten_row(method):
    X, y = _data()
    mask = np.arange(N) < 3
    model = UnlearningClassifier(_net(), method=method).fit(X, y, forget=mask)
    assert model.ledger_[-1].n_remaining == N - 3
    assert torch.equal(model.adapter_.get_theta(model.estimator_), model.state_.theta)
    blob = pickle.dumps(model)
    for row in X[:3]:
        for dtype in (np.float64, np.float32):
            assert row.astype(dtype).tobytes() not in blob
        for value in row:
            assert np.float64(value).tobytes() not in blob


@pytest.mark.parametrize("method", METHODS, ids=lambda m: type(m).__name__)
def test_linear_models_are_refused_at_fit_with_the_methods_that_work(method):
    X, y = _data()
    with pytest.raises(TypeError, match="skorch nets only.*Newton, FirstOrder, SSSE"):
        UnlearningClassifier(LogisticRegression(), method=method).fit(X, y)


@pytest.mark.parametrize(
    "name", ["gradient_ascent", "weight_pruning", "oracle_matching"]
)
def test_shortcuts(name):
    X, y = _data()
    model = UnlearningClassifier(_net(), method=name).fit(X, y)
    model.unlearn(X[:2], y[:2], X_retain=X[2:], y_retain=y[2:])
    assert model.ledger_[-1].method == type(model.method_).__name__
