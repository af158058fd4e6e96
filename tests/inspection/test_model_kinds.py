"""Every inspection tool on every kind of model the library accepts.

The kinds: an ``UnlearningClassifier`` on arrays and on a DataFrame, an
``UnlearnPipeline`` fitted on a raw DataFrame (German credit, with an index
that is not the row positions), and a small skorch net on arrays and on a
DataFrame. Rows of a DataFrame come back labelled by its index, rows of an
array by their positions. On the pipeline the values are checked against
logistic-regression math written out here on the transformed features.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.special import expit
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.inspection import (
    calibration_triage,
    find_mislabeled,
    influence_scores,
    self_influence,
)

KINDS = ["arrays", "frame", "pipeline", "net arrays", "net frame"]


def _shuffled_labels(n, seed=0):
    """Row labels that are not the positions: shuffled and spaced."""
    return np.random.default_rng(seed).permutation(n) * 7 + 3


def _frame(X):
    """``X`` as a DataFrame with named columns and shuffled row labels."""
    columns = [f"f{j}" for j in range(X.shape[1])]
    return pd.DataFrame(X, index=_shuffled_labels(len(X)), columns=columns)


def _small(n=120, seed=0):
    X, y = make_classification(
        n_samples=n, n_features=4, n_informative=3, n_redundant=0, random_state=seed
    )
    y[:12] = 1 - y[:12]
    return X, y


def _net():
    torch = pytest.importorskip("torch")
    pytest.importorskip("skorch")
    from skorch import NeuralNetClassifier
    from torch import nn

    torch.manual_seed(0)
    net = NeuralNetClassifier(
        nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)),
        criterion=nn.CrossEntropyLoss,
        max_epochs=5,
        lr=0.2,
        train_split=None,
        verbose=0,
        optimizer__weight_decay=1e-2,
    )
    return UnlearningClassifier(net)


def _model_kind(kind, credit_frame_pipeline):
    """``(fitted model, X, y, rows)``: ``rows`` as ``model.predict_proba`` takes them.

    ``rows`` differs from ``X`` only where the patched copy of
    ``calibration_triage`` (a bare fitted model) needs a plain array.
    """
    if kind == "pipeline":
        X, y, make = credit_frame_pipeline
        X = X.set_axis(_shuffled_labels(len(X), seed=1))
        model = make(UnlearningClassifier(LogisticRegression())).fit(X, y)
        return model, X, y, X
    X, y = _small()
    if kind.startswith("net"):
        X = X.astype(np.float32)
        model = _net()
    else:
        model = UnlearningClassifier(LogisticRegression())
    if kind.endswith("frame"):
        X = _frame(X)
    return model.fit(X, y), X, y, np.asarray(X)


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """Small problems: one BLAS thread avoids contention on a busy machine."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def fitted():
    """Fitted kinds, shared by this module's tests (none changes a model)."""
    return {}


@pytest.fixture(params=KINDS)
def kind(request, fitted, credit_frame_pipeline):
    name = request.param
    if name not in fitted:
        fitted[name] = _model_kind(name, credit_frame_pipeline)
    return (name, *fitted[name])


def _labels(X):
    """What rows are called: the DataFrame's index, else positions."""
    return X.index.to_numpy() if isinstance(X, pd.DataFrame) else np.arange(len(X))


def _check_per_row(values, X):
    if isinstance(X, pd.DataFrame):
        assert isinstance(values, pd.Series)
        assert values.index.equals(X.index)
        values = values.to_numpy()
    else:
        assert isinstance(values, np.ndarray)
    assert values.shape == (len(X),)
    assert np.all(np.isfinite(values))
    return values


def _check_rows(found, X, k):
    """Row names: an Index of ``X.index`` labels, or an int array of positions."""
    if isinstance(X, pd.DataFrame):
        assert isinstance(found, pd.Index)
        assert found.isin(X.index).all()
    else:
        assert isinstance(found, np.ndarray)
        assert found.dtype.kind == "i"
        assert np.all((0 <= found) & (found < len(X)))
    assert len(found) <= k
    assert len(np.unique(np.asarray(found))) == len(found)
    return np.asarray(found)


def _losses(model, X, y):
    """``-log p(y_i | x_i)`` from ``predict_proba``, computed here."""
    P = np.asarray(model.predict_proba(X), dtype=np.float64)
    col = np.searchsorted(model.classes_, y)
    return -np.log(P[np.arange(len(y)), col])


def test_influence_scores(kind):
    name, model, X, y, _ = kind
    psi = _check_per_row(influence_scores(model, X, y), X)
    assert np.any(psi < 0) and np.any(psi > 0)
    vector = influence_scores(model, X, y, criterion=["log_loss", "brier"])
    if isinstance(X, pd.DataFrame):
        assert isinstance(vector, pd.DataFrame) and vector.index.equals(X.index)
    assert vector.shape == (len(X), 2)
    np.testing.assert_allclose(np.asarray(vector)[:, 0], psi, rtol=1e-6, atol=1e-12)


def test_self_influence(kind):
    name, model, X, y, _ = kind
    s = _check_per_row(self_influence(model, X, y), X)
    assert np.all(s >= -1e-12)


def test_find_mislabeled(kind):
    name, model, X, y, _ = kind
    labels, k = _labels(X), 20
    # the default is the loss ranking, computed here from predict_proba
    found = _check_rows(find_mislabeled(model, X, y, k), X, k)
    expected = labels[np.argsort(-_losses(model, X, y), kind="stable")[:k]]
    np.testing.assert_array_equal(found, expected)
    found = _check_rows(find_mislabeled(model, X, y, k, rank="self_influence"), X, k)
    s = np.asarray(self_influence(model, X, y))
    np.testing.assert_array_equal(found, labels[np.argsort(-s, kind="stable")[:k]])
    found = _check_rows(find_mislabeled(model, X, y, k, rank="influence"), X, k)
    psi = np.asarray(influence_scores(model, X, y, criterion="log_loss"))
    assert set(found) <= set(labels[np.argsort(psi, kind="stable")[:k]])


def test_calibration_triage(kind):
    name, model, X, y, rows = kind
    labels, k = _labels(X), 24
    before = np.asarray(model.predict_proba(X))
    t = calibration_triage(model, X, y, k, eta=0.0)
    parts = [_check_rows(t[p], X, k) for p in ("over_confident", "over_uncertain")]
    parts.append(_check_rows(t.other_noise, X, k))
    psi = _check_per_row(t.influence, X)
    conf = _check_per_row(t.confidence, X)
    flagged = np.concatenate(parts)
    assert len(np.unique(flagged)) == len(flagged) == k
    assert set(flagged) == set(labels[np.argsort(psi, kind="stable")[:k]])
    np.testing.assert_allclose(conf, before.max(axis=1), rtol=1e-5)
    if isinstance(X, pd.DataFrame):
        assert isinstance(t.lam, pd.Series) and t.lam.index.equals(t.over_uncertain)
    assert len(t.lam) == len(parts[1])
    # eta = 0: the patched copy predicts like the model, which is unchanged
    after = np.asarray(t.estimator.predict_proba(rows))
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-7)
    t = calibration_triage(model, X, y, k, eta=1.0, patch_criterion="log_loss")
    assert not np.allclose(np.asarray(t.estimator.predict_proba(rows)), before)
    np.testing.assert_array_equal(np.asarray(model.predict_proba(X)), before)


# ------------------------------------------------- the pipeline, by hand
@pytest.fixture
def by_hand(fitted, credit_frame_pipeline):
    """The pipeline, its rows, and the logistic math of its last step.

    ``G`` holds the per-row gradients of the log loss and ``H`` the Hessian
    of ``sum_i loss_i + ||w||^2 / (2C)`` (C = 1), both on the features the
    fitted preprocessing gives, from the fitted coefficients.
    """
    if "pipeline" not in fitted:
        fitted["pipeline"] = _model_kind("pipeline", credit_frame_pipeline)
    pipe, X, y, _ = fitted["pipeline"]
    Z = pipe[:-1].transform(X)
    Z = Z.toarray() if sp.issparse(Z) else np.asarray(Z, dtype=np.float64)
    lr = pipe[-1].estimator_
    Zt = np.hstack([Z, np.ones((len(Z), 1))])
    theta = np.r_[lr.coef_.ravel(), lr.intercept_]
    p = expit(Zt @ theta)
    G = (p - y)[:, None] * Zt
    H = (Zt * (p * (1 - p))[:, None]).T @ Zt + np.diag(np.r_[np.ones(Z.shape[1]), 0])
    return pipe, X, y, Zt, theta, G, H


def test_pipeline_influence_is_the_last_steps_on_transformed_rows(by_hand):
    pipe, X, y, Zt, theta, G, H = by_hand
    psi = influence_scores(pipe, X, y)  # C: the mean training log loss
    assert psi.index.equals(X.index)
    np.testing.assert_allclose(psi, G @ np.linalg.solve(H, G.mean(axis=0)), rtol=1e-8)
    s = self_influence(pipe, X, y)
    assert s.index.equals(X.index)
    ref = np.einsum("np,pn->n", G, np.linalg.solve(H, G.T))
    np.testing.assert_allclose(s, ref, rtol=1e-8)
    # a validation set: raw rows too, through the same preprocessing
    val = slice(0, 300)
    psi = influence_scores(pipe, X, y, validation=(X.iloc[val], y[val]))
    np.testing.assert_allclose(
        psi, G @ np.linalg.solve(H, G[val].mean(axis=0)), rtol=1e-8
    )


def test_pipeline_algorithm_2_returns_index_labels(by_hand):
    pipe, X, y, Zt, theta, G, H = by_hand
    k = 80
    psi = G @ np.linalg.solve(H, G.mean(axis=0))
    conf = pipe.predict_proba(X).max(axis=1)
    L_if = np.argsort(psi, kind="stable")[:k]
    order = np.argsort(conf, kind="stable")
    S = [i for i in L_if if i not in set(order[:k]) | set(order[-k:])]
    found = find_mislabeled(pipe, X, y, k, rank="influence")
    assert isinstance(found, pd.Index) and len(S) > 0
    np.testing.assert_array_equal(found, X.index[S])
    found = find_mislabeled(pipe, X, y, k, rank="self_influence")
    s = np.einsum("np,pn->n", G, np.linalg.solve(H, G.T))
    np.testing.assert_array_equal(found, X.index[np.argsort(-s)[:k]])


def test_pipeline_triage_patch_by_hand(by_hand):
    pipe, X, y, Zt, theta, G, H = by_hand
    pos = pd.Series(np.arange(len(X)), index=X.index)
    t = calibration_triage(pipe, X, y, 60, eta=0.5, patch_criterion="log_loss")
    marked = pos[t.over_confident.union(t.other_noise)].to_numpy()
    up = pos[t.lam.index].to_numpy()
    direction = G[marked].sum(axis=0) - t.lam.to_numpy() @ G[up]
    coef = theta + 0.5 * np.linalg.solve(H, direction)
    np.testing.assert_allclose(t.coef, coef, rtol=1e-8, atol=1e-12)
    assert isinstance(t.estimator, Pipeline)
    patched = t.estimator.predict_proba(X)[:, 1]  # raw rows in
    np.testing.assert_allclose(patched, expit(Zt @ coef), rtol=1e-8)
    lr = pipe[-1].estimator_
    np.testing.assert_array_equal(np.r_[lr.coef_.ravel(), lr.intercept_], theta)


# ------------------------------------------ the default finds the flips
def _flip(y, seed=1):
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(y), len(y) // 10, replace=False)
    noisy = y.copy()
    noisy[flipped] = 1 - noisy[flipped]
    return noisy, flipped


@pytest.mark.parametrize("table", ["arrays", "pipeline"])
def test_default_finds_as_many_flips_as_a_loss_ranking(table, credit_frame_pipeline):
    """10% of the labels flipped, 20% of the rows inspected.

    Measured: the default finds 97 / 100 flips on the arrays and 61 / 100
    on the German credit pipeline, as many as the loss ranking.
    """
    if table == "pipeline":
        X, y, make = credit_frame_pipeline
        X = X.set_axis(_shuffled_labels(len(X)))
        model = make(UnlearningClassifier(LogisticRegression()))
    else:
        X, y = make_classification(n_samples=1000, random_state=0)
        model = UnlearningClassifier(LogisticRegression())
    noisy, flipped = _flip(y)
    model.fit(X, noisy)
    labels, k = _labels(X), len(y) // 5
    by_loss = labels[np.argsort(-_losses(model, X, noisy), kind="stable")[:k]]
    found = find_mislabeled(model, X, noisy, k)
    hits = np.isin(np.asarray(found), labels[flipped]).sum()
    hits_by_loss = np.isin(by_loss, labels[flipped]).sum()
    assert hits_by_loss > 2 * 0.2 * len(flipped)  # random rows find 20%
    assert hits >= 0.9 * hits_by_loss
