"""The unlearning estimators: all-or-nothing updates, duplicates, privacy, API."""

import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    RidgeClassifier,
)
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_unlearn import FingerprintKey, UnlearningClassifier, UnlearningRegressor
from sklearn_unlearn._fingerprint import fingerprint_rows
from sklearn_unlearn.datasets import load_breast_cancer_original
from sklearn_unlearn.methods import SSSE, FirstOrder, Newton

SEED = 0
N, D = 80, 4

# one key for every model here, so fingerprints compare across models
KEY = FingerprintKey(b"0123456789abcdef0123456789abcdef")


def _data(kind="binary", n=N, seed=SEED):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    lin = X @ np.array([1.0, -1.0, 0.5, 0.0])
    if kind == "binary":
        y = (lin + rng.logistic(size=n) > 0).astype(int)
    elif kind == "multiclass":
        y = np.digitize(lin + rng.logistic(size=n), [-1.0, 1.0])
    else:
        y = lin + rng.normal(size=n)
    return X, y


def _breast_cancer():
    X, y = load_breast_cancer_original(return_X_y=True)
    ok = ~np.isnan(X).any(axis=1)
    return X[ok], y[ok]


def _snapshot(model):
    """Everything an update may change, copied."""
    return {
        "coef_": np.array(model.estimator_.coef_, copy=True),
        "intercept_": np.array(model.estimator_.intercept_, copy=True),
        "n_ledger": len(model.ledger_),
        "counts": dict(model.fingerprints_.counter()),
        "n_rows": len(model.fingerprints_),
        "theta": model.state_.theta.copy(),
        "total_weight": model.state_.total_weight,
        "pickle": pickle.dumps(model),
    }


def _assert_unchanged(model, snap):
    assert_array_equal(model.estimator_.coef_, snap["coef_"])
    assert_array_equal(model.estimator_.intercept_, snap["intercept_"])
    assert len(model.ledger_) == snap["n_ledger"]
    assert dict(model.fingerprints_.counter()) == snap["counts"]
    assert len(model.fingerprints_) == snap["n_rows"]
    assert_array_equal(model.state_.theta, snap["theta"])
    assert model.state_.total_weight == snap["total_weight"]
    assert pickle.dumps(model) == snap["pickle"]


# --------------------------------------------------------- all or nothing
def _req_never_trained(X, y):
    return "unlearn", (X[:2] + np.array([0.0, 0.0, 0.0, 1e-3]), y[:2]), {}


def _req_asked_twice(X, y):
    return "unlearn", (X[[0, 1, 0]], y[[0, 1, 0]]), {}


def _req_nan(X, y):
    Xb = X[:3].copy()
    Xb[1, 2] = np.nan
    return "unlearn", (Xb, y[:3]), {}


def _req_inf(X, y):
    Xb = X[:3].copy()
    Xb[0, 0] = np.inf
    return "unlearn", (Xb, y[:3]), {}


def _req_n_features(X, y):
    return "unlearn", (X[:3, :-1], y[:3]), {}


def _req_lengths(X, y):
    return "unlearn", (X[:3], y[:4]), {}


def _req_retain_mismatch(X, y):
    return "unlearn", (X[:3], y[:3]), {"X_retain": X[4:], "y_retain": y[4:]}


def _req_retain_extra(X, y):
    return "unlearn", (X[:3], y[:3]), {"X_retain": X, "y_retain": y}


def _req_retain_half(X, y):
    return "unlearn", (X[:3], y[:3]), {"X_retain": X[3:]}


def _req_everything(X, y):
    return "unlearn", (X, y), {}


def _req_wrong_weight(X, y):
    return "unlearn", (X[:2], y[:2], np.array([1.0, 5.0])), {}


def _req_bad_add(X, y):
    Xb = X[:2].copy()
    Xb[0, 0] = np.nan
    return "update", ((X[:2], y[:2]), (Xb, y[:2])), {}


def _req_bad_remove_in_update(X, y):
    return "update", ((X[:2] + 1.0, y[:2]), (X[:2], y[:2])), {}


BAD_REQUESTS = {
    "never-trained": (_req_never_trained, "never trained on"),
    "asked-twice": (_req_asked_twice, r"1 of the 3 rows .*positions \[2\]"),
    "nan": (_req_nan, "NaN"),
    "inf": (_req_inf, "infinity"),
    "n-features": (_req_n_features, "3 features, but .* is expecting 4"),
    "lengths": (_req_lengths, "X has 3 rows but y has 4"),
    "retain-mismatch": (_req_retain_mismatch, "1 rows missing"),
    "retain-extra": (_req_retain_extra, "3 rows too many"),
    "retain-half": (_req_retain_half, "both X_retain and y_retain"),
    "everything": (_req_everything, "remove every training row"),
    "wrong-weight": (_req_wrong_weight, "never trained on"),
    "bad-add": (_req_bad_add, "NaN"),
    "bad-remove-in-update": (_req_bad_remove_in_update, "never trained on"),
}

WRAPPERS = {
    "logistic-newton": (UnlearningClassifier, LogisticRegression(), "newton"),
    "logistic-ssse": (UnlearningClassifier, LogisticRegression(), "ssse"),
    "ridge-newton": (UnlearningRegressor, Ridge(), "newton"),
    "ridge-first-order": (UnlearningRegressor, Ridge(), "first_order"),
}


def _fitted(wrapper_id, **fit_kw):
    cls, est, method = WRAPPERS[wrapper_id]
    X, y = _data("binary" if cls is UnlearningClassifier else "real")
    return cls(est, method=method).fit(X, y, **fit_kw), X, y


@pytest.mark.parametrize("request_id", list(BAD_REQUESTS))
@pytest.mark.parametrize("wrapper_id", list(WRAPPERS))
def test_bad_request_raises_and_changes_nothing(wrapper_id, request_id):
    model, X, y = _fitted(wrapper_id)
    model.unlearn(X[-1:], y[-1:])  # not a fresh model: one update already
    X, y = X[:-1], y[:-1]
    build, match = BAD_REQUESTS[request_id]
    op, args, kwargs = build(X, y)
    deep = copy.deepcopy(model)
    snap = _snapshot(model)
    with pytest.raises(ValueError, match=match):
        getattr(model, op)(*args, **kwargs)
    _assert_unchanged(model, snap)
    # the model still works, and like the copy taken before
    model.unlearn(X[:2], y[:2])
    deep.unlearn(X[:2], y[:2])
    assert_array_equal(model.state_.theta, deep.state_.theta)


@pytest.mark.parametrize("wrapper_id", list(WRAPPERS))
def test_already_forgotten_row_raises_and_changes_nothing(wrapper_id):
    model, X, y = _fitted(wrapper_id)
    model.unlearn(X[:2], y[:2])
    snap = _snapshot(model)
    with pytest.raises(ValueError, match="already forgotten"):
        model.unlearn(X[1:3], y[1:3])
    _assert_unchanged(model, snap)


@pytest.mark.parametrize("method", ["newton", "ssse", "first_order"])
def test_unseen_class_label_raises_and_changes_nothing(method):
    X, y = _data("binary")
    model = UnlearningClassifier(LogisticRegression(), method=method).fit(X, y)
    snap = _snapshot(model)
    with pytest.raises(ValueError, match=r"labels \[7\] not seen at fit"):
        model.relabel(X[:2], y[:2], np.array([7, y[1]]))
    _assert_unchanged(model, snap)
    with pytest.raises(ValueError, match="never trained on"):
        model.unlearn(X[:2], np.array([7, y[1]]))
    _assert_unchanged(model, snap)
    with pytest.raises(ValueError, match="not seen at fit"):
        model.update(add=(X[:1], np.array([7])))
    _assert_unchanged(model, snap)


def test_malformed_update_tuple_is_a_type_error():
    model, X, y = _fitted("ridge-newton")
    snap = _snapshot(model)
    with pytest.raises(TypeError, match=r"remove must be a tuple \(X, y\)"):
        model.update(remove=X[:2])
    _assert_unchanged(model, snap)


def test_curvature_breakdown_raises_and_changes_nothing():
    # 6 rows, 5 parameters, no penalty: removing 3 leaves X~^T X~ of rank 3
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(6, D))
    y = rng.normal(size=6)
    model = UnlearningRegressor(LinearRegression()).fit(X, y)
    snap = _snapshot(model)
    with pytest.raises(ValueError, match="Newton cannot apply this request"):
        model.unlearn(X[:3], y[:3])
    _assert_unchanged(model, snap)


def test_unfitted_model_refuses_updates():
    X, y = _data()
    with pytest.raises(sklearn.exceptions.NotFittedError):
        UnlearningClassifier(LogisticRegression()).unlearn(X[:1], y[:1])


# ------------------------------------------------------------- duplicates
@pytest.mark.parametrize(
    "cls, est",
    [
        (UnlearningClassifier, RidgeClassifier(alpha=1.0)),
        (UnlearningRegressor, Ridge(alpha=1.0)),
    ],
)
def test_unlearning_one_duplicate_removes_one_copy_exactly(cls, est):
    X, y = _breast_cancer()
    if cls is UnlearningRegressor:
        y = y.astype(float)
    keys = fingerprint_rows(X, y, KEY.secret())
    values, counts = np.unique(keys, return_counts=True)
    key = values[np.argmax(counts)]
    copies = np.flatnonzero(keys == key)
    assert len(copies) > 2
    model = cls(est, fingerprint_key=KEY).fit(X, y)
    model.unlearn(X[copies[:1]], y[copies[:1]])
    assert model.fingerprints_.counter()[key] == len(copies) - 1
    assert len(model.fingerprints_) == len(y) - 1
    keep = np.ones(len(y), bool)
    keep[copies[-1]] = False  # any copy: they are identical
    ref = clone(est).fit(X[keep], y[keep])
    assert_allclose(model.estimator_.coef_, ref.coef_, rtol=1e-8, atol=1e-12)
    assert_allclose(model.estimator_.intercept_, ref.intercept_, rtol=1e-8)
    # every remaining copy can go, one more cannot
    rest = copies[1:]
    model.unlearn(X[rest], y[rest])
    assert model.fingerprints_.counter()[key] == 0
    snap = _snapshot(model)
    with pytest.raises(ValueError, match="already forgotten"):
        model.unlearn(X[copies[:1]], y[copies[:1]])
    _assert_unchanged(model, snap)
    ref = clone(est).fit(np.delete(X, copies, 0), np.delete(y, copies))
    assert_allclose(model.estimator_.coef_, ref.coef_, rtol=1e-8, atol=1e-12)


def test_duplicates_asked_more_often_than_trained_are_refused():
    X, y = _breast_cancer()
    keys = fingerprint_rows(X, y)
    values, counts = np.unique(keys, return_counts=True)
    key = values[np.argmax(counts)]
    copies = np.flatnonzero(keys == key)
    model = UnlearningClassifier(LogisticRegression(C=0.1)).fit(X, y)
    snap = _snapshot(model)
    too_many = np.concatenate([copies, copies[:1]])
    with pytest.raises(ValueError, match=f"positions \\[{len(copies)}\\]"):
        model.unlearn(X[too_many], y[too_many])
    _assert_unchanged(model, snap)


# -------------------------------------------------------------- forget=
@pytest.mark.parametrize("method", ["newton", "ssse", "first_order"])
def test_fit_with_forget_equals_fit_then_unlearn(method):
    X, y = _data("multiclass")
    forget = np.zeros(N, bool)
    forget[[2, 9, 40]] = True
    a = UnlearningClassifier(LogisticRegression(), method=method, fingerprint_key=KEY)
    a.fit(X, y, forget=forget)
    b = UnlearningClassifier(
        LogisticRegression(), method=method, fingerprint_key=KEY
    ).fit(X, y)
    # fit(forget=) hands Newton the rows that remain (refine="auto" uses them)
    kw = {"X_retain": X[~forget], "y_retain": y[~forget]} if method == "newton" else {}
    b.unlearn(X[forget], y[forget], **kw)
    assert_array_equal(a.state_.theta, b.state_.theta)
    assert_array_equal(a.estimator_.coef_, b.estimator_.coef_)
    assert [e.n_removed for e in a.ledger_] == [e.n_removed for e in b.ledger_]
    assert a.fingerprints_.counter() == b.fingerprints_.counter()


def test_fit_with_forget_and_sample_weight():
    X, y = _data("real")
    w = np.random.default_rng(SEED).integers(1, 4, N).astype(float)
    forget = np.zeros(N, bool)
    forget[:5] = True
    model = UnlearningRegressor(Ridge()).fit(X, y, sample_weight=w, forget=forget)
    ref = Ridge().fit(X[5:], y[5:], sample_weight=w[5:])
    assert_allclose(model.estimator_.coef_, ref.coef_, rtol=1e-8)


def test_all_false_forget_mask_records_no_update():
    X, y = _data()
    model = UnlearningClassifier(LogisticRegression())
    model.fit(X, y, forget=np.zeros(N, bool))
    assert len(model.ledger_) == 1


@pytest.mark.parametrize(
    "forget, error, match",
    [
        (np.array([0, 3]), TypeError, "boolean mask .* got dtype int"),
        (np.zeros(N), TypeError, "boolean mask .* got dtype float"),
        (np.zeros(N - 1, bool), ValueError, r"length n_samples=80, got shape \(79,\)"),
        (np.zeros((N, 1), bool), ValueError, "boolean mask of length"),
    ],
)
def test_forget_must_be_a_boolean_mask(forget, error, match):
    X, y = _data()
    with pytest.raises(error, match=match):
        UnlearningClassifier(LogisticRegression()).fit(X, y, forget=forget)


# ---------------------------------------------------------------- privacy
@pytest.mark.parametrize(
    "cls, est, kind",
    [
        (UnlearningClassifier, LogisticRegression(), "binary"),
        (UnlearningClassifier, LogisticRegression(), "multiclass"),
        (UnlearningRegressor, Ridge(), "real"),
        (UnlearningRegressor, PoissonRegressor(), "count"),
    ],
)
@pytest.mark.parametrize(
    "method", ["newton", "first_order", "ssse", "retrain", Newton(refine=1)]
)
def test_pickle_holds_no_forgotten_row(cls, est, kind, method):
    X, y = _data("real" if kind == "count" else kind)
    if kind == "count":
        y = np.random.default_rng(SEED).poisson(1.0, N).astype(float)
    X[:3] = [  # distinctive values, of the data's own scale
        [1.23456789, -0.987654321, 0.314159265, 2.71828182],
        [-1.11111111, 0.22222222, -0.33333333, 0.44444444],
        [0.00512345, 1.777777, -0.666666, 0.987654],
    ]
    model = cls(est, method=method).fit(X, y)
    model.unlearn(X[:3], y[:3], X_retain=X[3:], y_retain=y[3:])
    blob = pickle.dumps(model)
    for row in X[:3]:
        for dtype in (np.float64, np.float32):
            assert row.astype(dtype).tobytes() not in blob
            for value in row:  # not even one distinctive value
                assert np.array(value, dtype=dtype).tobytes() not in blob


# ----------------------------------------------------------------- ledger
def test_ledger_records_counts_and_fingerprints():
    X, y = _data("multiclass")
    model = UnlearningClassifier(LogisticRegression()).fit(X, y)
    model.unlearn(X[:3], y[:3])
    y_new = (y[3:5] + 1) % 3
    model.relabel(X[3:5], y[3:5], y_new)
    model.update(remove=(X[5:6], y[5:6]), add=(X[5:6] + 1.0, y[5:6]))
    ops = [(e.operation, e.n_removed, e.n_added, e.n_remaining) for e in model.ledger_]
    assert ops == [
        ("fit", 0, N, N),
        ("unlearn", 3, 0, N - 3),
        ("relabel", 2, 2, N - 3),
        ("update", 1, 1, N - 3),
    ]
    secret = model.fingerprint_key_.secret()
    assert model.ledger_[1].removed == tuple(fingerprint_rows(X[:3], y[:3], secret))
    assert model.ledger_[2].removed == tuple(fingerprint_rows(X[3:5], y[3:5], secret))
    assert model.ledger_[2].added == tuple(fingerprint_rows(X[3:5], y_new, secret))
    assert all(e.method == "Newton" for e in model.ledger_)
    assert model.ledger_[1].step_norm > 0
    frame = model.ledger_.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 4
    assert frame["removed"].tolist() == [0, 3, 2, 1]
    assert frame["n_remaining"].tolist() == [N, N - 3, N - 3, N - 3]
    for column in ("operation", "method", "timestamp", "param_error_bound"):
        assert column in frame.columns
    assert "Ledger(4 entries)" == repr(model.ledger_)
    export = model.ledger_.to_json()
    assert fingerprint_rows(X[:1], y[:1], secret)[0] in export
    # without the key nobody can compute the fingerprint of a guessed row
    assert fingerprint_rows(X[:1], y[:1])[0] not in export


# -------------------------------------------------------------------- API
def test_clone_and_params():
    model = UnlearningClassifier(
        LogisticRegression(C=0.5), method=FirstOrder(tau=0.1), error_budget=1.0
    )
    params = model.get_params()
    assert params["method__tau"] == 0.1
    assert params["estimator__C"] == 0.5
    model.set_params(method__tau=0.2, estimator__C=2.0, polish=False)
    assert (model.method.tau, model.estimator.C, model.polish) == (0.2, 2.0, False)
    cloned = clone(model)
    assert cloned.get_params()["method__tau"] == 0.2
    assert cloned.method is not model.method
    X, y = _data()
    with pytest.raises(ValueError, match="FirstOrder's steps carry no error estimate"):
        model.fit(X, y)  # nothing would ever check the budget
    model.set_params(error_budget=None).fit(X, y)
    assert not hasattr(clone(model), "state_")
    # fit does not change the given method or estimator objects
    assert model.method_ is not model.method
    assert not hasattr(model.estimator, "coef_")


@pytest.mark.parametrize("routing", [False, True])
def test_grid_search_slices_forget_per_fold(routing):
    X, y = _data(n=90)
    forget = np.zeros(90, bool)
    forget[::7] = True
    grid = {"method__epsilon": [0.5, 1.0]}
    cv = KFold(3)
    with sklearn.config_context(enable_metadata_routing=routing):
        search = GridSearchCV(
            UnlearningClassifier(LogisticRegression(), method=SSSE()),
            grid,
            cv=cv,
            scoring="neg_log_loss",
        )
        search.fit(X, y, forget=forget)
    for i, eps in enumerate(grid["method__epsilon"]):
        scores = []
        for train, test in cv.split(X):
            m = UnlearningClassifier(LogisticRegression(), method=SSSE(epsilon=eps))
            m.fit(X[train], y[train], forget=forget[train])
            assert m.ledger_[-1].n_removed == forget[train].sum()
            scores.append(-sklearn.metrics.log_loss(y[test], m.predict_proba(X[test])))
        assert_allclose(search.cv_results_["mean_test_score"][i], np.mean(scores))
    best = search.best_estimator_
    assert best.ledger_[-1].n_removed == forget.sum()
    assert len(best.fingerprints_) == 90 - forget.sum()


def test_dataframe_input():
    X, y = _data("real")
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    ys = pd.Series(y, name="target")
    model = UnlearningRegressor(Ridge()).fit(df, ys)
    assert_array_equal(model.feature_names_in_, ["a", "b", "c", "d"])
    model.unlearn(df.iloc[:4], ys.iloc[:4])
    ref = UnlearningRegressor(Ridge()).fit(X, y).unlearn(X[:4], y[:4])
    assert_allclose(model.state_.theta, ref.state_.theta, rtol=1e-12)
    assert_allclose(model.predict(df.iloc[10:15]), ref.predict(X[10:15]))
    # columns renamed: refused, nothing changed
    snap = _snapshot(model)
    with pytest.raises(ValueError, match="feature names"):
        model.unlearn(df.iloc[4:6].set_axis(list("wxyz"), axis=1), ys.iloc[4:6])
    _assert_unchanged(model, snap)
    # rows given back as a DataFrame after a numpy fit are the same rows
    snap = _snapshot(ref)
    with pytest.raises(ValueError, match="already forgotten"):
        ref.unlearn(X[:1], y[:1])
    _assert_unchanged(ref, snap)


def test_integer_rows_match_their_float_copies():
    rng = np.random.default_rng(SEED)
    X = rng.integers(0, 10, (60, 3))
    y = X @ np.array([1, -1, 2]) + rng.integers(0, 3, 60)
    model = UnlearningRegressor(Ridge()).fit(X, y)
    model.unlearn(X[:2].astype(np.float32), y[:2].astype(float))
    assert len(model.fingerprints_) == 58


def test_classifier_exposes_the_wrapped_model():
    X, y = _data("multiclass")
    model = UnlearningClassifier(LogisticRegression()).fit(X, y)
    assert_array_equal(model.classes_, [0, 1, 2])
    assert model.predict_proba(X).shape == (N, 3)
    assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)
    assert model.score(X, y) > 0.5
    ridge = UnlearningClassifier(RidgeClassifier()).fit(X, y)
    assert not hasattr(ridge, "predict_proba")
    assert ridge.decision_function(X).shape == (N, 3)


def test_refit_starts_a_new_ledger_and_fingerprints():
    X, y = _data()
    model = UnlearningClassifier(LogisticRegression()).fit(X, y)
    model.unlearn(X[:3], y[:3])
    model.fit(X[10:], y[10:])
    assert len(model.ledger_) == 1
    assert len(model.fingerprints_) == N - 10
    with pytest.raises(ValueError, match="never trained on"):
        model.unlearn(X[5:6], y[5:6])
    model.unlearn(X[10:11], y[10:11])
    assert len(model.ledger_) == 2


@pytest.mark.parametrize("path", ["array", "pipeline"])
def test_removing_every_row_of_a_class_is_refused(path):
    """A refit would not know the class; the model is left bit-identical."""
    from sklearn.preprocessing import StandardScaler

    from sklearn_unlearn.pipeline import make_pipeline

    rng = np.random.RandomState(0)
    X = rng.randn(60, 3)
    y = np.r_[np.zeros(30, int), np.ones(27, int), np.full(3, 2)]
    clf = UnlearningClassifier(LogisticRegression())
    model = clf if path == "array" else make_pipeline(StandardScaler(), clf)
    model.fit(X, y)
    inner = model if path == "array" else model[-1]
    snap = _snapshot(inner)
    with pytest.raises(ValueError, match="no training row of class 2"):
        model.unlearn(X[-3:], y[-3:])
    with pytest.raises(ValueError, match="no training row of class 2"):
        model.relabel(X[-3:], y[-3:], [0, 0, 1])
    _assert_unchanged(inner, snap)
    model.relabel(X[:1], y[:1], [2])
    assert inner.class_counts_.tolist() == [29, 27, 4]
    model.unlearn(X[-3:], y[-3:])  # the relabelled row still holds class 2
    assert inner.class_counts_.tolist() == [29, 27, 1]


def test_rows_a_refit_would_refuse_are_refused():
    """Targets outside a GLM's loss domain, values whose squares overflow."""
    from sklearn.linear_model import GammaRegressor, PoissonRegressor

    rng = np.random.RandomState(0)
    X = rng.randn(50, 3)
    y = rng.poisson(2, 50).astype(float) + 1.0
    for glm, bad in [(PoissonRegressor(), -1.0), (GammaRegressor(), 0.0)]:
        model = UnlearningRegressor(glm).fit(X, y)
        snap = _snapshot(model)
        with pytest.raises(ValueError, match="outside the domain"):
            model.update(add=(X[:1], [bad]))
        with pytest.raises(ValueError, match="outside the domain"):
            model.relabel(X[:1], y[:1], [bad])
        _assert_unchanged(model, snap)
    clf = UnlearningClassifier(LogisticRegression()).fit(X, (y > 3).astype(int))
    snap = _snapshot(clf)
    with pytest.raises(ValueError, match="squared norm overflows"):
        clf.update(add=(np.array([[1e200, 0.0, 0.0]]), [1]))
    _assert_unchanged(clf, snap)


def test_fit_says_how_far_polish_moved_the_wrapped_fit():
    """An unconverged solver is moved to the optimum, with a warning and the
    distance in the ledger; a converged one gets only the ledger note."""
    from sklearn.exceptions import ConvergenceWarning

    X, y = _breast_cancer()
    with pytest.warns(ConvergenceWarning, match=r"polish moved .* by \d"):
        clf = UnlearningClassifier(LogisticRegression(max_iter=3)).fit(X, y)
    shift = float(clf.ledger_[0].notes[0].split(" by ")[1].split(" ")[0])
    raw = LogisticRegression(max_iter=3).fit(X, y)
    expected = np.linalg.norm(
        clf.state_.theta - np.r_[raw.coef_.ravel(), raw.intercept_]
    ) / np.linalg.norm(clf.state_.theta)
    assert shift == pytest.approx(expected, rel=0.05)
    tight = LogisticRegression(solver="newton-cholesky", tol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = UnlearningClassifier(tight).fit(X, y)
    assert clf.ledger_[0].notes[0].startswith("polish moved")


def test_the_norm_of_a_forgotten_row_is_not_kept():
    """The certificate's radius (the largest row norm) never outlives its row:
    recomputed from the retained rows when given, else dropped, with a note."""
    rng = np.random.RandomState(0)
    X = rng.randn(80, 3)
    X[0] *= 40.0  # the largest row
    y = (X[:, 1] > 0).astype(int)
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    r0 = clf.state_.radius
    assert r0 == pytest.approx(clf.adapter_.max_row_norm(X))
    gone = copy.deepcopy(clf).unlearn(X[:1], y[:1])
    assert np.isinf(gone.state_.radius)
    assert np.isinf(gone.ledger_[-1].param_error_bound)
    assert "largest row norm" in gone.ledger_[-1].notes[0]
    assert np.float64(r0).tobytes() not in pickle.dumps(gone)
    kept = copy.deepcopy(clf).unlearn(X[:1], y[:1], X_retain=X[1:], y_retain=y[1:])
    assert kept.state_.radius == pytest.approx(clf.adapter_.max_row_norm(X[1:]))
    assert kept.state_.radius < r0 / 10
    other = copy.deepcopy(clf).unlearn(X[5:6], y[5:6])  # not the largest: kept
    assert other.state_.radius == r0
