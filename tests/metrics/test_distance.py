import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import roc_auc_score

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.metrics import (
    deletion_metric,
    model_parameters,
    retrain_distance,
    similarity_ratio,
)


@pytest.fixture
def data():
    return make_classification(
        n_samples=120, n_features=6, n_classes=3, n_informative=4, random_state=0
    )


def test_retrain_distance_against_direct(data):
    X, y = data
    a = LogisticRegression(C=0.1).fit(X, y)
    b = LogisticRegression(C=10.0).fit(X[10:], y[10:])
    d = retrain_distance(a, b, X)
    ta = np.concatenate([a.coef_.ravel(), a.intercept_])
    tb = np.concatenate([b.coef_.ravel(), b.intercept_])
    assert d["param_distance"] == pytest.approx(
        np.linalg.norm(ta - tb) / np.linalg.norm(tb)
    )
    assert d["disagreement"] == pytest.approx(np.mean(a.predict(X) != b.predict(X)))
    P, Q = a.predict_proba(X), b.predict_proba(X)
    kl = np.mean([np.sum(p * np.log(p / q)) for p, q in zip(P, Q, strict=True)])
    assert d["mean_kl"] == pytest.approx(kl)
    only = retrain_distance(a, b)
    assert np.isnan(only["disagreement"]) and only["param_distance"] > 0


def test_parameters_through_wrapper(data):
    X, y = data
    w = UnlearningClassifier(LogisticRegression()).fit(X, y)
    assert_allclose(model_parameters(w), model_parameters(w.estimator_))
    with pytest.raises(TypeError, match="cannot read the parameters"):
        model_parameters(object())
    b = LogisticRegression().fit(X[:, :3], y)
    with pytest.raises(ValueError, match="different parameter counts"):
        retrain_distance(w, b)


def test_similarity_ratio_against_hand_aucs(data):
    X, y = data
    orig = LogisticRegression(C=100).fit(X, y)
    retr = LogisticRegression(C=100).fit(X[20:], y[20:])
    mid = LogisticRegression(C=1).fit(X, y)
    S, yS = X[:20], y[:20]

    def aucs(m):
        return np.array(
            [roc_auc_score(yS == c, m.decision_function(S)[:, c]) for c in range(3)]
        )

    d_o = np.abs(aucs(mid) - aucs(orig)).sum()
    d_r = np.abs(aucs(mid) - aucs(retr)).sum()
    assert similarity_ratio(mid, orig, retr, S, yS) == pytest.approx(d_o / (d_o + d_r))
    assert similarity_ratio(retr, orig, retr, S, yS) == 1.0
    assert similarity_ratio(orig, orig, retr, S, yS) == 0.0
    assert similarity_ratio(orig, orig, orig, S, yS) == 0.5
    # a class absent from S counts as AUC 0 for every model: no difference
    absent = yS != 2
    assert 0 <= similarity_ratio(mid, orig, retr, S[absent], yS[absent]) <= 1


def test_deletion_metric_against_direct():
    X, y = make_regression(n_samples=60, n_features=4, random_state=0)
    c, o = Ridge(alpha=0.1).fit(X, y), Ridge(alpha=0.1).fit(X[1:], y[1:])
    r = Ridge(alpha=5.0).fit(X[1:], y[1:])
    expected = (
        np.abs(r.predict(X) - c.predict(X)).sum()
        - np.abs(r.predict(X) - o.predict(X)).sum()
    ) / 60
    assert deletion_metric(r, c, o, X) == pytest.approx(expected)
    Xc, yc = make_classification(n_samples=50, random_state=0)
    full, rest = (
        LogisticRegression().fit(Xc, yc),
        LogisticRegression().fit(Xc[5:], yc[5:]),
    )
    d = deletion_metric(rest, full, rest, Xc)
    direct = np.abs(rest.decision_function(Xc) - full.decision_function(Xc)).mean()
    assert d == pytest.approx(direct)
