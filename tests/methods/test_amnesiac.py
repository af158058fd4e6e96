"""Amnesiac: forgetting equals subtracting the replayed batch updates; safety."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.linear_model import LogisticRegression  # noqa: E402
from skorch import NeuralNetClassifier  # noqa: E402
from torch import nn  # noqa: E402

from sklearn_unlearn import UnlearningClassifier  # noqa: E402
from sklearn_unlearn.callbacks import AmnesiacRecorder  # noqa: E402
from sklearn_unlearn.callbacks._amnesiac import training_keys  # noqa: E402
from sklearn_unlearn.methods import Amnesiac  # noqa: E402

N, D, S, SEED = 120, 4, 10, 5


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    y = np.digitize(X @ [1.0, -1.0, 0.5, 0.0] + rng.logistic(size=N), [-1.0, 1.0])
    return X, y


def _net(callback):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(D, 6), nn.Tanh(), nn.Linear(6, 3))
    return NeuralNetClassifier(
        module,
        criterion=nn.CrossEntropyLoss,
        max_epochs=3,
        batch_size=16,
        lr=0.1,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
        optimizer__weight_decay=1e-2,
        callbacks=[callback],
    )


def _fit():
    X, y = _data()
    flagged = np.arange(N) < S
    torch.manual_seed(SEED)
    net = _net(AmnesiacRecorder(sensitive=flagged))
    return UnlearningClassifier(net, method=Amnesiac()).fit(X, y), X, y


def test_forgetting_subtracts_the_replayed_updates_of_the_batches_that_held_the_rows(
    batch_replay,
):
    model, X, y = _fit()
    torch.manual_seed(SEED)  # the same start and batch order, recorded independently
    replay = _net(batch_replay()).fit(X.astype(np.float32), y)
    batches = dict(replay.callbacks_)["BatchReplay"].batches_
    theta = model.adapter_.get_theta(replay)
    assert torch.equal(theta, model.state_.theta)  # the replay is faithful
    forget = [0, 3, 7]
    rows = X[forget].astype(np.float32)
    held = [
        delta
        for Xb, _, delta in batches
        if (Xb[:, None, :] == rows[None, :, :]).all(axis=2).any()
    ]
    assert 0 < len(held) < len(batches)
    expected = theta - torch.stack(held).sum(dim=0)
    n_before = model.state_.curvature.n_batches
    model.unlearn(X[forget], y[forget])
    assert_allclose(model.state_.theta.numpy(), expected.numpy(), atol=1e-6)
    assert model.state_.curvature.n_batches == n_before - len(held)
    assert len(model.state_.curvature) == S - len(forget)


def test_rows_not_flagged_sensitive_are_refused_and_nothing_changes():
    model, X, y = _fit()
    theta, log = model.state_.theta.clone(), model.state_.curvature
    n = len(model.ledger_)
    for idx in ([S + 1], [0, S + 1]):
        with pytest.raises(ValueError, match="not flagged sensitive"):
            model.unlearn(X[idx], y[idx])
        assert torch.equal(model.state_.theta, theta)
        assert torch.equal(model.adapter_.get_theta(model.estimator_), theta)
        assert model.state_.curvature is log and len(model.ledger_) == n
    with pytest.raises(ValueError, match="only forget"):
        model.relabel(X[:1], y[:1], (y[:1] + 1) % 3)
    assert model.state_.curvature is log


def test_no_update_of_a_forgotten_batch_survives_in_the_pickle():
    model, X, y = _fit()
    forget = [1, 2]
    secret = model.state_.curvature.key.secret()
    keys = {
        k.tobytes()
        for k in training_keys(X[forget].astype(np.float32), y[forget], secret)
    }
    gone = [d for b, d in model.state_.curvature.batches if b & keys]
    assert gone
    model.unlearn(X[forget], y[forget])
    recorder = dict(model.estimator_.callbacks_)["AmnesiacRecorder"]
    assert recorder.records_ is None  # handed over at fit, nothing kept there
    assert not any(b & keys for b, _ in model.state_.curvature.batches)
    blob = pickle.dumps(model)
    for delta in gone:
        assert delta.numpy().tobytes() not in blob
    for row in X[forget]:
        assert row.astype(np.float32).tobytes() not in blob
        assert row.tobytes() not in blob


def test_refusals_at_fit(batch_replay):
    X, y = _data()
    with pytest.raises(TypeError, match="skorch nets only.*Newton"):
        UnlearningClassifier(LogisticRegression(), method=Amnesiac()).fit(X, y)
    net = _net(batch_replay())
    with pytest.raises(ValueError, match="AmnesiacRecorder"):
        UnlearningClassifier(net, method=Amnesiac()).fit(X, y)
