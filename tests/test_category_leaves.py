"""A category only forgotten rows held leaves the encoder and the model.

Checked against an independent reference: a scikit-learn pipeline refitted
on the remaining rows (its encoder never learns the category).
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_unlearn import UnlearningClassifier, UnlearningRegressor
from sklearn_unlearn._drop_columns import (
    ColumnDropRefused,
    drop_input_columns,
    prepare_column_drop,
)
from sklearn_unlearn.adapters._third_derivative import SampledThirdDerivative
from sklearn_unlearn.curvature import CholeskyCurvature
from sklearn_unlearn.methods import Newton
from sklearn_unlearn.pipeline import UnlearnPipeline, make_pipeline

RARE = "zz_rare"
RARE_ROWS = [5, 17, 40]
N = 300


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _data(seed=0, missing=False):
    rng = np.random.default_rng(seed)
    colors = rng.choice(["red", "green", "blue"], size=N).astype(object)
    colors[RARE_ROWS] = RARE
    sizes = rng.choice(["s", "m", "l"], size=N).astype(object)
    if missing:
        sizes[[3, 11, 90]] = np.nan
    X = pd.DataFrame(
        {
            "x1": rng.normal(size=N),
            "x2": rng.normal(size=N),
            "color": colors,
            "size": sizes,
        }
    )
    signal = X.x1 + (X.color == "red") - 0.5 * (X.color == RARE) + rng.normal(size=N)
    targets = {
        "binary": (signal > 0.5).astype(int).to_numpy(),
        "multinomial": np.digitize(signal, [-0.3, 0.9]),
        "ridge": signal.to_numpy() + 3.0 * (X.color == RARE).to_numpy(),
    }
    return X, targets


def _ct(encoder=None, nested=False):
    encoder = encoder or OneHotEncoder(handle_unknown="ignore")
    if nested:
        encoder = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                ("onehot", encoder),
            ]
        )
    return ColumnTransformer(
        [("num", StandardScaler(), ["x1", "x2"]), ("cat", encoder, ["color", "size"])]
    )


def _models(kind):
    if kind == "ridge":
        return UnlearningRegressor(Ridge(alpha=1.0)), Ridge(alpha=1.0)
    exact = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=1000)
    return UnlearningClassifier(LogisticRegression()), exact


def _fit(kind, *, encoder=None, nested=False, missing=False, method="newton"):
    X, targets = _data(missing=missing)
    y = targets[kind]
    model, _ = _models(kind)
    model.set_params(method=method)
    pipe = make_pipeline(_ct(encoder, nested), model).fit(X, y)
    return pipe, X, y


def _refit(kind, X, y, *, encoder=None, nested=False):
    _, exact = _models(kind)
    return Pipeline([("ct", _ct(encoder, nested)), ("model", exact)]).fit(X, y)


def _forget_mask(extra=(60,)):
    mask = np.zeros(N, dtype=bool)
    mask[RARE_ROWS] = True
    mask[list(extra)] = True
    return mask


def _encoder(pipe, nested=False):
    enc = pipe[0].named_transformers_["cat"]
    return enc[-1] if nested else enc


def _relative(a, b):
    return float(np.linalg.norm(np.ravel(a) - np.ravel(b)) / np.linalg.norm(b))


def _check_like_refit(pipe, ref, X, y, keep, kind, nested=False, tol=1e-8):
    got, want = _encoder(pipe, nested), _encoder(ref, nested)
    assert len(got.categories_) == len(want.categories_)
    for a, b in zip(got.categories_, want.categories_, strict=True):
        assert list(a) == list(b)
    assert RARE not in list(got.categories_[0])
    assert pipe[0].transform(X).shape[1] == ref[0].transform(X).shape[1]
    assert list(pipe[0].get_feature_names_out()) == list(ref[0].get_feature_names_out())
    model = pipe[-1].estimator_
    assert pipe[-1].n_features_in_ == ref[-1].n_features_in_
    assert model.coef_.shape == ref[-1].coef_.shape
    assert _relative(model.coef_, ref[-1].coef_) <= tol
    assert np.allclose(model.intercept_, ref[-1].intercept_, rtol=tol, atol=tol)
    # the remaining rows, and rows holding the dropped category (all zeros)
    rows = pd.concat([X[keep].iloc[:50], X.iloc[RARE_ROWS]])
    if kind == "ridge":
        assert np.allclose(pipe.predict(rows), ref.predict(rows), atol=100 * tol)
    else:
        p, q = pipe.predict_proba(rows), ref.predict_proba(rows)
        assert np.allclose(p, q, atol=100 * tol)
        assert np.array_equal(pipe.predict(X[keep]), ref.predict(X[keep]))


@pytest.mark.parametrize("kind", ["binary", "multinomial", "ridge"])
def test_matches_refit_with_retained_rows(kind):
    pipe, X, y = _fit(kind)
    forget = _forget_mask()
    pipe.unlearn(X[forget], y[forget], X_retain=X[~forget], y_retain=y[~forget])
    ref = _refit(kind, X[~forget], y[~forget])
    _check_like_refit(pipe, ref, X, y, ~forget, kind, tol=1e-8)
    notes = pipe[-1].ledger_[-1].notes
    assert any("1 category of feature 'color'" in n and "dropped" in n for n in notes)
    assert not any("still holds" in n for n in notes)
    assert not any("still holds" in n for n in pipe.preprocessing_notes_)
    counts = pipe.preprocessing_record_.category_counts["columntransformer__cat"]
    assert [len(c) for c in counts] == [len(c) for c in _encoder(pipe).categories_]
    assert np.all(counts[0] > 0)


def _without_drop(monkeypatch):
    monkeypatch.setattr(UnlearnPipeline, "_category_drop", lambda *a: None)


@pytest.mark.parametrize("kind", ["binary", "multinomial", "ridge"])
def test_one_step_without_retained_rows(kind, monkeypatch):
    pipe, X, y = _fit(kind)
    forget = _forget_mask()
    pipe.unlearn(X[forget], y[forget])
    ref = _refit(kind, X[~forget], y[~forget])
    entry = pipe[-1].ledger_[-1]
    if kind == "ridge":  # one Newton step is exact
        _check_like_refit(pipe, ref, X, y, ~forget, kind, tol=1e-8)
    else:  # as close as the step itself: its estimated distance
        theta_ref = np.c_[ref[-1].coef_, ref[-1].intercept_].ravel()
        distance = np.linalg.norm(pipe[-1].state_.theta - theta_ref)
        if entry.param_error_estimate is not None:
            assert distance <= 1.5 * entry.param_error_estimate
        assert distance <= 1e-2 * np.linalg.norm(theta_ref)
        assert _encoder(pipe).categories_[0].tolist() == ["blue", "green", "red"]
    # the same step without the drop: the other coefficients are the same,
    # the dropped one is ~0 (the cached Hessian's row is the penalty alone)
    kept = pipe[-1].estimator_.coef_
    other, _, _ = _fit(kind)
    _without_drop(monkeypatch)
    other.unlearn(X[forget], y[forget])
    full = np.atleast_2d(other[-1].estimator_.coef_)
    j = 2 + list(_encoder(other).categories_[0]).index(RARE)
    assert np.max(np.abs(full[:, j])) <= 1e-8 * max(1.0, np.linalg.norm(full))
    assert np.allclose(np.delete(full, j, axis=1), np.atleast_2d(kept), atol=1e-12)


def test_nested_imputer_then_encoder():
    pipe, X, y = _fit("binary", nested=True, missing=True)
    forget = _forget_mask()
    pipe.unlearn(X[forget], y[forget], X_retain=X[~forget], y_retain=y[~forget])
    ref = _refit("binary", X[~forget], y[~forget], nested=True)
    _check_like_refit(pipe, ref, X, y, ~forget, "binary", nested=True, tol=1e-8)


def test_fit_with_forget_drops_too():
    X, targets = _data()
    y = targets["binary"]
    forget = _forget_mask()
    pipe = make_pipeline(_ct(), UnlearningClassifier(LogisticRegression()))
    pipe.fit(X, y, forget=forget)
    ref = _refit("binary", X[~forget], y[~forget])
    _check_like_refit(pipe, ref, X, y, ~forget, "binary", tol=1e-8)


@pytest.mark.parametrize(
    "encoder",
    [
        OneHotEncoder(handle_unknown="error"),
        OneHotEncoder(handle_unknown="ignore", drop="first"),
        OneHotEncoder(handle_unknown="ignore", min_frequency=1),
    ],
    ids=["handle_unknown_error", "drop_first", "infrequent"],
)
def test_no_drop_where_it_would_not_be_exact(encoder):
    pipe, X, y = _fit("binary", encoder=encoder)
    width = pipe[-1].n_features_in_
    forget = _forget_mask()
    pipe.unlearn(X[forget], y[forget], X_retain=X[~forget], y_retain=y[~forget])
    assert RARE in list(_encoder(pipe).categories_[0])
    assert pipe[-1].n_features_in_ == width == pipe[0].transform(X).shape[1]
    residue = [n for n in pipe.preprocessing_notes_ if "still holds" in n]
    assert len(residue) == 1 and "feature 'color'" in residue[0]
    assert residue[0] in pipe[-1].ledger_[-1].notes


def test_no_drop_for_a_method_with_other_state():
    pipe, X, y = _fit("binary", method="first_order")
    width = pipe[-1].n_features_in_
    forget = _forget_mask()
    pipe.unlearn(X[forget], y[forget])
    assert RARE in list(_encoder(pipe).categories_[0])
    assert pipe[-1].n_features_in_ == width
    assert any("still holds" in n for n in pipe.preprocessing_notes_)


@pytest.mark.parametrize("kind", ["binary", "multinomial"])
def test_later_requests_after_the_drop(kind):
    pipe, X, y = _fit(kind)
    forget = _forget_mask()
    pipe.unlearn(X[forget], y[forget], X_retain=X[~forget], y_retain=y[~forget])
    # a second deletion
    more = np.zeros(N, dtype=bool)
    more[[70, 71, 72]] = True
    keep = ~(forget | more)
    pipe.unlearn(X[more], y[more], X_retain=X[keep], y_retain=y[keep])
    _check_like_refit(pipe, _refit(kind, X[keep], y[keep]), X, y, keep, kind)
    # a relabelling
    i = np.flatnonzero(keep)[:2]
    y_new = y.copy()
    y_new[i] = (y[i] + 1) % len(np.unique(y))
    pipe.relabel(X.iloc[i], y[i], y_new[i], X_retain=X[keep], y_retain=y_new[keep])
    ref = _refit(kind, X[keep], y_new[keep])
    _check_like_refit(pipe, ref, X, y_new, keep, kind)
    # adding back a row with the dropped category: ignored by the encoder,
    # as the refit's encoder would (it only learns categories at fit)
    pipe.update(add=(X.iloc[[5]], y[[5]]))
    assert RARE not in list(_encoder(pipe).categories_[0])


def test_pickle_and_ledger_hold_no_dropped_category():
    pipe, X, y = _fit("binary")
    assert RARE.encode() in pickle.dumps(pipe)  # the test can see it
    forget = _forget_mask()
    pipe.unlearn(X[forget], y[forget], X_retain=X[~forget], y_retain=y[~forget])
    blob = pickle.dumps(pipe)
    assert RARE.encode() not in blob
    ledger = pipe[-1].ledger_
    assert RARE not in ledger.to_json()
    assert RARE not in ledger.to_frame().to_csv()
    assert not any(RARE in n for n in pipe.preprocessing_notes_)
    loaded = pickle.loads(blob)
    assert np.array_equal(loaded.predict(X), pipe.predict(X))
    loaded.unlearn(X.iloc[[80]], y[[80]])


def test_pandas_output_names_leave_too():
    X, targets = _data()
    y = targets["binary"]
    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    ct = _ct(encoder).set_output(transform="pandas")
    pipe = make_pipeline(ct, UnlearningClassifier(LogisticRegression())).fit(X, y)
    assert f"cat__color_{RARE}" in list(pipe[-1].feature_names_in_)
    forget = _forget_mask()
    pipe.unlearn(X[forget], y[forget], X_retain=X[~forget], y_retain=y[~forget])
    names = list(pipe[0].get_feature_names_out())
    assert list(pipe[-1].feature_names_in_) == names
    assert RARE.encode() not in pickle.dumps(pipe)
    ref = _refit("binary", X[~forget], y[~forget], encoder=encoder)
    assert np.allclose(pipe.predict_proba(X), ref.predict_proba(X), atol=1e-8)
    pipe.unlearn(X.iloc[[80]], y[[80]])


def test_refused_request_changes_nothing():
    pipe, X, y = _fit("binary")
    before = pickle.dumps(pipe)
    categories = [c.copy() for c in _encoder(pipe).categories_]
    coef = pipe[-1].estimator_.coef_.copy()
    forget = _forget_mask()
    bad = X[forget].copy()
    bad.iloc[-1, 0] += 1.0  # a row never trained on
    with pytest.raises(ValueError, match="never trained on"):
        pipe.unlearn(bad, y[forget])
    assert [c.tolist() for c in _encoder(pipe).categories_] == [
        c.tolist() for c in categories
    ]
    assert np.array_equal(pipe[-1].estimator_.coef_, coef)
    assert pipe[-1].n_features_in_ == coef.shape[1]
    assert len(pipe[-1].ledger_) == 1
    assert pickle.dumps(pipe) == before


# ------------------------------------------------------------- the pieces
def test_cholesky_without_is_the_principal_submatrix():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(40, 6))
    H = A.T @ A + np.eye(6)
    op = CholeskyCurvature(H)
    low = op.min_eigenvalue()
    keep = np.array([0, 2, 3, 5])
    sub = op.without(keep)
    v = rng.normal(size=4)
    assert np.allclose(sub.solve(v), np.linalg.solve(H[np.ix_(keep, keep)], v))
    assert sub.min_eigenvalue() >= low - 1e-12
    assert op.n_params == 6  # unchanged


def test_third_derivative_without_columns_rectangular_maps():
    from sklearn_unlearn.methods._base import Rows

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    X[:, 2] = 0.0  # no row uses column 2
    y = (X[:, 0] + rng.normal(size=80) > 0).astype(int)
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    third = clf.state_.third
    assert isinstance(third, SampledThirdDerivative)
    M = np.eye(5)
    M[0, 0], M[0, 4] = 2.0, 0.5  # a rescaled, shifted first column
    moved = third.reparameterized(M, np.linalg.inv(M))
    keep = np.array([0, 1, 3, 4])
    step = rng.normal(size=5)
    step[2] = 0.0
    full = moved.half_contraction(step, 80.0)
    small = moved.without_columns(keep)
    assert np.allclose(small.half_contraction(step[keep], 80.0), full[keep])
    # a request after the drop goes through the rectangular maps
    rows = Rows(X[:3][:, [0, 1, 3]], clf.adapter_.encode_target(y[:3]), np.ones(3))
    none = Rows(np.zeros((0, 3)), np.zeros(0), np.zeros(0))
    keys = np.zeros((3, 2), dtype=np.uint64)
    adapter = clf.adapter_
    small_adapter = type(adapter).__new__(type(adapter))
    small_adapter.__dict__.update(adapter.__dict__)
    small_adapter.n_features_in_, small_adapter.n_cols = 3, 4
    small_adapter.n_params = 4
    again = small.reparameterized(np.eye(4), np.eye(4)).with_request(
        small_adapter, clf.state_.theta[keep], rows, keys, none, keys[:0]
    )
    assert again.half_contraction(step[keep], 77.0).shape == (4,)


def test_drop_input_columns_refuses_a_used_column():
    X, targets = _data()
    Z = np.c_[X.x1, X.x2, (X.color == "red").astype(float)]
    clf = UnlearningClassifier(LogisticRegression()).fit(Z, targets["binary"])
    coef = clf.estimator_.coef_.copy()
    with pytest.raises(ColumnDropRefused, match="not ~0"):
        drop_input_columns(clf, [2])
    assert np.array_equal(clf.estimator_.coef_, coef) and clf.n_features_in_ == 3
    with pytest.raises(ColumnDropRefused):
        prepare_column_drop(clf, [5])


def test_drop_input_columns_on_an_unused_column():
    X, targets = _data()
    y = targets["binary"]
    Z = np.c_[X.x1, X.x2, np.zeros(N)]
    clf = UnlearningClassifier(LogisticRegression(), method=Newton()).fit(Z, y)
    drop_input_columns(clf, [2])
    ref = UnlearningClassifier(LogisticRegression()).fit(Z[:, :2], y)
    assert clf.n_features_in_ == 2 and clf.estimator_.n_features_in_ == 2
    assert np.allclose(clf.estimator_.coef_, ref.estimator_.coef_, atol=1e-10)
    assert np.allclose(clf.state_.curvature.matrix_, ref.state_.curvature.matrix_)
    assert np.allclose(clf.state_.gram, ref.state_.gram)
    assert np.allclose(clf.predict_proba(Z[:, :2]), ref.predict_proba(Z[:, :2]))
