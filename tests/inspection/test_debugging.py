"""Algorithms 2 and 3 against a direct restatement, and what they find."""

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_moons
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import PolynomialFeatures

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.inspection import (
    calibration_triage,
    expected_calibration_error,
    find_mislabeled,
    influence_scores,
)


def _noisy(n=300, n_flip=30, seed=0):
    X, y = make_classification(n_samples=n, random_state=seed)
    y_noisy = y.copy()
    y_noisy[:n_flip] = 1 - y_noisy[:n_flip]
    return X, y_noisy


def _algorithm_2(lr, X, y, k):
    psi = influence_scores(lr, X, y, criterion="log_loss")
    conf = lr.predict_proba(X).max(axis=1)
    L_if = list(np.argsort(psi, kind="stable")[:k])
    order = np.argsort(conf, kind="stable")
    L_cf, H_cf = set(order[:k]), set(order[-k:])
    S = [i for i in L_if if i not in L_cf | H_cf]
    noisy = [i for i in L_if if i in L_cf]
    if S and noisy and psi[S].mean() > psi[noisy].mean():
        return []
    return S


@pytest.mark.parametrize("k", [10, 30, 60])
def test_find_mislabeled_is_algorithm_2(k):
    X, y = _noisy()
    lr = LogisticRegression().fit(X, y)
    np.testing.assert_array_equal(
        find_mislabeled(lr, X, y, k, rank="influence"), _algorithm_2(lr, X, y, k)
    )


def test_find_mislabeled_beats_random():
    X, y = _noisy(n_flip=30)
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    found = find_mislabeled(clf, X, y, k=60)
    precision = np.isin(found, np.arange(30)).mean()
    assert precision > 3 * 0.1  # random rows are flipped 10% of the time


def test_triage_partitions_the_harmful_rows():
    X, y = _noisy()
    lr = LogisticRegression().fit(X, y)
    t = calibration_triage(lr, X, y, k=60, eta=0.0)
    parts = [t.over_confident, t.over_uncertain, t.other_noise]
    assert sum(len(p) for p in parts) == 60
    assert len(np.unique(np.concatenate(parts))) == 60
    psi = influence_scores(lr, X, y, criterion="ece")
    np.testing.assert_array_equal(
        np.sort(np.concatenate(parts)), np.sort(np.argsort(psi)[:60])
    )
    assert np.all(t.confidence[t.over_confident] >= np.median(t.confidence))
    np.testing.assert_array_equal(t.estimator.coef_, lr.coef_)  # eta = 0


def test_patch_is_puma_step_with_explicit_inverse():
    X, y = _noisy()
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    t = calibration_triage(clf, X, y, k=60, eta=0.5, patch_criterion="log_loss")
    a, theta = clf.adapter_, clf.state_.theta
    y_enc = a.encode_target(y)
    H = a.hessian(theta, X, y_enc, np.ones(len(y))) + np.diag(a.penalty_mask)
    G = a.per_sample_gradients(theta, X, y_enc)
    marked = np.union1d(t.over_confident, t.other_noise)
    direction = G[marked].sum(0) - t.lam @ G[t.over_uncertain]
    np.testing.assert_allclose(t.coef, theta + 0.5 * np.linalg.solve(H, direction))
    assert np.all(t.lam >= 0)
    assert clf.adapter_.get_theta(clf.estimator_) == pytest.approx(theta)  # untouched


def test_patch_lowers_calibration_error():
    poly = PolynomialFeatures(3, include_bias=False)

    def moons(n, seed):
        X, y = make_moons(n_samples=n, noise=0.25, random_state=seed)
        return poly.fit_transform(X), y

    X, y = moons(1000, 0)
    Xv, yv = moons(500, 1)
    Xt, yt = moons(2000, 2)
    flip = np.random.default_rng(0).choice(1000, 20, replace=False)
    y[flip] = 1 - y[flip]
    lr = LogisticRegression().fit(X, y)
    t = calibration_triage(lr, X, y, k=50, eta=1.0, validation=(Xv, yv))
    before = expected_calibration_error(yt, lr.predict_proba(Xt))
    after = expected_calibration_error(yt, t.estimator.predict_proba(Xt))
    assert after < 0.8 * before
    assert t.estimator.score(Xt, yt) >= lr.score(Xt, yt) - 0.01


def test_bad_input():
    X, y = _noisy()
    lr = LogisticRegression().fit(X, y)
    for k in (0, 301, 2.5, True):
        with pytest.raises(ValueError, match="k must be an integer"):
            find_mislabeled(lr, X, y, k)
    with pytest.raises(ValueError, match="eta"):
        calibration_triage(lr, X, y, 10, eta=-1.0)
    with pytest.raises(ValueError, match="one scalar criterion"):
        find_mislabeled(lr, X, y, 10, criterion=["log_loss", "brier"], rank="influence")
    ridge = Ridge().fit(X, y.astype(float))
    with pytest.raises(TypeError, match="class probabilities"):
        find_mislabeled(
            ridge, X, y.astype(float), 10, criterion="squared_error", rank="influence"
        )
    with pytest.raises(TypeError, match="class probabilities"):
        find_mislabeled(ridge, X, y.astype(float), 10)
    with pytest.raises(ValueError, match="rank must be"):
        find_mislabeled(lr, X, y, 10, rank="margin")
    with pytest.raises(ValueError, match="never saw"):
        find_mislabeled(lr, X, np.where(y == 1, 7, y), 10)


@pytest.mark.parametrize("rank", ["loss", "self_influence"])
def test_the_plain_rankings_are_what_they_say(rank):
    from sklearn_unlearn.inspection import self_influence

    X, y = _noisy()
    lr = LogisticRegression().fit(X, y)
    found = find_mislabeled(lr, X, y, 40, rank=rank)
    if rank == "loss":
        score = -np.log(lr.predict_proba(X)[np.arange(len(y)), y])
    else:
        score = self_influence(lr, X, y)
    np.testing.assert_array_equal(found, np.argsort(-score, kind="stable")[:40])


def test_default_finds_flips_on_a_pipeline_over_a_dataframe(credit_frame_pipeline):
    """The default ranking takes the pipeline path users take."""
    X, y, make = credit_frame_pipeline
    flipped = np.random.default_rng(0).choice(len(y), 100, replace=False)
    y[flipped] = 1 - y[flipped]
    pipe = make(UnlearningClassifier(LogisticRegression())).fit(X, y)
    found = find_mislabeled(pipe, X, y, k=200)
    share = np.isin(found, flipped).mean()
    assert share > 2 * 0.1  # random rows are flipped 10% of the time
