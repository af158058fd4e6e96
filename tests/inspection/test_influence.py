"""Influence scores against finite differences of refits under row up-weighting."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.inspection import influence_scores, self_influence
from sklearn_unlearn.methods import SSSE

TIGHT = dict(solver="newton-cholesky", tol=1e-10, max_iter=1000)


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X @ [1.0, -1.0, 0.5] + rng.logistic(size=n) > 0).astype(int)
    return X, y


@pytest.mark.parametrize("validation", [False, True])
def test_psi_matches_finite_differences_of_upweighting(validation):
    X, y = _data()
    Xv, yv = _data(40, seed=1)
    Xc, yc = (Xv, yv) if validation else (X, y)
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    psi = influence_scores(clf, X, y, validation=(Xv, yv) if validation else None)
    h = 1e-4
    for j in (0, 7, 33):
        C = []
        for w_j in (1 + h, 1 - h):
            w = np.ones(len(y))
            w[j] = w_j
            lr = LogisticRegression(**TIGHT).fit(X, y, sample_weight=w)
            C.append(log_loss(yc, lr.predict_proba(Xc)))
        # up-weighting row j moves C by -psi_j (psi: the change on deleting it)
        assert -(C[0] - C[1]) / (2 * h) == pytest.approx(psi[j], rel=1e-4, abs=1e-9)


def test_same_scores_from_wrapper_plain_model_and_other_methods():
    X, y = _data()
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    lr = LogisticRegression(**TIGHT).fit(X, y)
    ssse = UnlearningClassifier(LogisticRegression(), method=SSSE()).fit(X, y)
    ref = influence_scores(clf, X, y, criterion="brier")
    np.testing.assert_allclose(
        influence_scores(lr, X, y, criterion="brier"), ref, rtol=1e-6
    )
    np.testing.assert_allclose(
        influence_scores(ssse, X, y, criterion="brier"), ref, rtol=1e-9
    )


def test_vector_criterion_gives_columns():
    X, y = _data()
    lr = LogisticRegression().fit(X, y)
    psi = influence_scores(lr, X, y, criterion=["log_loss", "ece"], group_by="class")
    assert psi.shape == (60, 4)


def test_self_influence_matches_explicit_inverse():
    X, y = _data()
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    a, theta = clf.adapter_, clf.state_.theta
    y_enc = a.encode_target(y)
    H = a.hessian(theta, X, y_enc, np.ones(60)) + np.diag(a.penalty_mask)
    G = a.per_sample_gradients(theta, X, y_enc)
    ref = np.einsum("np,pn->n", G, np.linalg.inv(H) @ G.T)
    np.testing.assert_allclose(self_influence(clf, X, y), ref, rtol=1e-10)


def test_bad_input():
    X, y = _data()
    lr = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        influence_scores(lr, X[:, :2], y)
    with pytest.raises(ValueError, match="rows but y"):
        influence_scores(lr, X, y[:5])
    with pytest.raises(ValueError, match="not seen at fit"):
        influence_scores(lr, X, y + 3)
