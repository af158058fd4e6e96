"""UnlearnPipeline: API surface, all-or-nothing updates, and the end-to-end check."""

import inspect
import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import make_column_transformer
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.pipeline import make_pipeline as sk_make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from sklearn_unlearn import UnlearningClassifier, UnlearningRegressor
from sklearn_unlearn._fingerprint import fingerprint_rows, to_hex
from sklearn_unlearn._request_methods import KEEP_WEIGHTS
from sklearn_unlearn.datasets import load_german_credit
from sklearn_unlearn.methods import Newton
from sklearn_unlearn.pipeline import UnlearnPipeline, make_pipeline
from sklearn_unlearn.preprocessing import PreprocessingStateWarning


class RefitOnRetain(ClassifierMixin, BaseEstimator):
    """A last step honouring the ``_update`` contract by refitting on ``retain``."""

    def __init__(self, fail=False):
        self.fail = fail

    def fit(self, X, y, sample_weight=None):
        self.model_ = LogisticRegression(solver="newton-cholesky", tol=1e-12)
        self.model_.fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.model_.classes_
        self.calls_ = []
        return self

    def _set_row_keys(self, keys, sample_weight=None, key=None):
        self.row_keys_ = list(keys)

    def decision_function(self, X):
        return self.model_.decision_function(X)

    def predict(self, X):
        return self.model_.predict(X)

    def unlearn(self, X, y, sample_weight=None):  # pragma: no cover - API marker
        raise NotImplementedError

    def relabel(self, X, y_old, y_new):  # pragma: no cover - API marker
        raise NotImplementedError

    def update(self, remove=None, add=None):  # pragma: no cover - API marker
        raise NotImplementedError

    def _update(
        self, operation, remove, add, retain, feature_map=None, notes=(), row_keys=None
    ):
        self.calls_.append(
            dict(
                operation=operation,
                remove=remove,
                add=add,
                retain=retain,
                feature_map=feature_map,
                notes=list(notes),
                row_keys=row_keys,
            )
        )
        if self.fail:
            raise ValueError("refused")
        if retain is not None:
            X, y, w = retain
            self.model_ = clone(self.model_).fit(X, y, sample_weight=w)
        return self


class OldHook(RefitOnRetain):
    def _update(self, operation, remove, add, retain):
        return super()._update(operation, remove, add, retain)


@pytest.fixture(scope="module")
def credit():
    X, y = load_german_credit(return_X_y=True, as_frame=True)
    num = X.select_dtypes("number").columns.tolist()
    cat = X.select_dtypes("category").columns.tolist()
    return X, y, num, cat


def columns(num, cat):
    return make_column_transformer(
        (StandardScaler(), num), (OneHotEncoder(handle_unknown="ignore"), cat)
    )


def mask(n, k, seed=0):
    m = np.zeros(n, dtype=bool)
    m[np.random.default_rng(seed).choice(n, k, replace=False)] = True
    return m


def scaler_of(pipe):
    return pipe[0].named_transformers_["standardscaler"]


def assert_same_scaler(a, b):
    for attr in ("mean_", "var_", "scale_", "n_samples_seen_"):
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-9)


# ------------------------------------------------------------- API surface
def test_available_if_hides_updates():
    plain = make_pipeline(StandardScaler(), LogisticRegression())
    for name in ("unlearn", "relabel", "update"):
        assert not hasattr(plain, name)
    assert not hasattr(make_pipeline(StandardScaler(), "passthrough"), "unlearn")
    pipe = make_pipeline(StandardScaler(), UnlearningClassifier(LogisticRegression()))
    for name in ("unlearn", "relabel", "update"):
        assert hasattr(pipe, name)
    assert isinstance(pipe, Pipeline)


def test_make_pipeline_params_and_clone():
    steps = (
        StandardScaler(),
        StandardScaler(),
        UnlearningClassifier(LogisticRegression()),
    )
    pipe = make_pipeline(*steps, verbose=False)
    ref = sk_make_pipeline(*steps)
    assert [n for n, _ in pipe.steps] == [n for n, _ in ref.steps]
    assert [n for n, _ in pipe.steps][:2] == ["standardscaler-1", "standardscaler-2"]
    params = pipe.get_params()
    assert params["unlearningclassifier__estimator__C"] == 1.0
    assert params["memory"] is None and params["transform_input"] is None
    twin = clone(pipe)
    assert type(twin) is UnlearnPipeline
    assert twin.get_params().keys() == params.keys()
    twin.set_params(unlearningclassifier__estimator__C=0.5)
    assert twin[-1].estimator.C == 0.5 and pipe[-1].estimator.C == 1.0
    assert type(pipe[:-1]) is UnlearnPipeline


# ------------------------------------------------------- plumbing (a fake)
def test_fit_records_raw_rows(credit):
    X, y, num, cat = credit
    pipe = make_pipeline(columns(num, cat), RefitOnRetain()).fit(X, y)
    assert pipe.preprocessing_record_.n_rows == len(X)
    assert len(pipe.fingerprints_) == len(X)
    assert pipe.preprocessing_notes_ == []
    secret = pipe.fingerprint_key_.secret()
    assert list(to_hex(pipe[-1].row_keys_)) == list(fingerprint_rows(X, y, secret))


def test_unlearn_rows_in_new_features_match_refit(credit):
    X, y, num, cat = credit
    pipe = make_pipeline(columns(num, cat), RefitOnRetain()).fit(X, y)
    old_pre = pickle.loads(pickle.dumps(pipe[:-1]))
    gone = mask(len(X), 20)
    pipe.unlearn(X[gone], y[gone], X_retain=X[~gone], y_retain=y[~gone])
    ref = sk_make_pipeline(
        columns(num, cat), LogisticRegression(solver="newton-cholesky", tol=1e-12)
    ).fit(X[~gone], y[~gone])
    np.testing.assert_allclose(
        pipe.decision_function(X[~gone]), ref.decision_function(X[~gone]), atol=1e-6
    )
    assert_same_scaler(scaler_of(pipe), scaler_of(ref))
    call = pipe[-1].calls_[-1]
    M = call["feature_map"]
    Z_new = call["retain"][0]
    Z_old = old_pre.transform(X[~gone])
    ones = np.ones((len(Z_new), 1))
    np.testing.assert_allclose(
        np.hstack([Z_old, ones]), np.hstack([Z_new, ones]) @ M.T, atol=1e-10
    )
    np.testing.assert_allclose(call["remove"][0], pipe[:-1].transform(X[gone]))
    assert list(to_hex(call["row_keys"]["remove"])) == list(
        fingerprint_rows(X[gone], y[gone], pipe.fingerprint_key_.secret())
    )
    assert call["notes"] == [] and call["operation"] == "unlearn"
    assert pipe.preprocessing_record_.n_rows == 980


def test_update_remove_and_add(credit):
    X, y, num, cat = credit
    old, new = np.arange(len(X)) < 900, np.arange(len(X)) >= 900
    pipe = make_pipeline(columns(num, cat), RefitOnRetain()).fit(X[old], y[old])
    gone = mask(len(X), 30, seed=1) & old
    keep = old & ~gone
    pipe.update(
        remove=(X[gone], y[gone]),
        add=(X[new], y[new]),
        X_retain=X[keep | new],
        y_retain=y[keep | new],
    )
    ref = sk_make_pipeline(
        columns(num, cat), LogisticRegression(solver="newton-cholesky", tol=1e-12)
    ).fit(X[keep | new], y[keep | new])
    assert_same_scaler(scaler_of(pipe), scaler_of(ref))
    np.testing.assert_allclose(
        pipe.decision_function(X), ref.decision_function(X), atol=1e-6
    )
    assert len(pipe.fingerprints_) == (keep | new).sum()


def test_relabel_leaves_preprocessing(credit):
    X, y, num, cat = credit
    pipe = make_pipeline(columns(num, cat), RefitOnRetain()).fit(X, y)
    pre, record = pipe.steps[0][1], pipe.preprocessing_record_
    y2 = y.copy()
    y2[:5] = 1 - y2[:5]
    pipe.relabel(X[:5], y[:5], y2[:5], X_retain=X, y_retain=y2)
    call = pipe[-1].calls_[-1]
    assert call["feature_map"] is None and call["add"][2] is KEEP_WEIGHTS
    assert pipe.steps[0][1] is pre and pipe.preprocessing_record_ is record
    assert call["notes"] == []
    pipe.unlearn(X[:5], y2[:5], X_retain=X[5:], y_retain=y2[5:])  # new labels held


def test_failed_hook_changes_nothing(credit):
    X, y, num, cat = credit
    pipe = make_pipeline(columns(num, cat), RefitOnRetain(fail=True)).fit(X, y)
    pre, record = pipe.steps[0][1], pipe.preprocessing_record_
    before = joblib.hash(pre)
    held = pipe.fingerprints_.counter()
    with pytest.raises(ValueError, match="refused"):
        pipe.unlearn(X[:10], y[:10])
    assert pipe.steps[0][1] is pre and joblib.hash(pre) == before
    assert pipe.preprocessing_record_ is record
    assert pipe.fingerprints_.counter() == held
    pipe[-1].fail = False
    pipe.unlearn(X[:10], y[:10])
    assert pipe.preprocessing_record_.n_rows == 990


def test_bad_requests_change_nothing(credit):
    X, y, num, cat = credit
    pipe = make_pipeline(columns(num, cat), RefitOnRetain()).fit(X[:500], y[:500])
    before = joblib.hash(pipe)
    with pytest.raises(ValueError, match="never trained on"):
        pipe.unlearn(X[495:505], y[495:505])
    with pytest.raises(ValueError, match="not the rows that remain"):
        pipe.unlearn(X[:5], y[:5], X_retain=X[:500], y_retain=y[:500])
    with pytest.raises(ValueError, match="every training row"):
        pipe.unlearn(X[:500], y[:500])
    with pytest.raises(TypeError, match="tuple"):
        pipe.update(remove=X[:5])
    assert joblib.hash(pipe) == before
    old = make_pipeline(columns(num, cat), OldHook()).fit(X[:500], y[:500])
    before = joblib.hash(old)
    with pytest.raises(TypeError, match="feature_map"):
        old.unlearn(X[:5], y[:5])
    assert joblib.hash(old) == before


def test_weights_mismatch_rejected(credit):
    X, y, num, _ = credit
    pipe = make_pipeline(StandardScaler(), RefitOnRetain())
    with pytest.raises(ValueError, match="one weight per row"):
        pipe.fit(
            X[num],
            y,
            standardscaler__sample_weight=np.ones(len(X)),
            refitonretain__sample_weight=np.full(len(X), 2.0),
        )


def test_warning_once_and_notes(credit):
    X, y, num, cat = credit
    pre = make_column_transformer(
        (sk_make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
        (OneHotEncoder(handle_unknown="ignore"), cat),
    )
    pipe = make_pipeline(pre, RefitOnRetain()).fit(X, y)
    with pytest.warns(PreprocessingStateWarning, match="medians"):
        pipe.unlearn(X[:5], y[:5])
    with warnings.catch_warnings():
        warnings.simplefilter("error", PreprocessingStateWarning)
        pipe.unlearn(X[5:10], y[5:10])
    assert pipe.preprocessing_notes_ == [
        "SimpleImputer 'columntransformer__pipeline__simpleimputer': statistics_ "
        "(medians) still include forgotten rows"
    ]
    assert pipe[-1].calls_[-1]["notes"] == pipe.preprocessing_notes_
    pipe.fit(X, y)  # a new fit warns again
    with pytest.warns(PreprocessingStateWarning):
        pipe.unlearn(X[:5], y[:5])


def test_forget_at_fit(credit):
    X, y, num, cat = credit
    gone = mask(len(X), 20, seed=3)
    pipe = make_pipeline(columns(num, cat), RefitOnRetain())
    pipe.fit(X, y, refitonretain__forget=gone)
    ref = sk_make_pipeline(columns(num, cat)).fit(X[~gone])
    assert_same_scaler(scaler_of(pipe), scaler_of(ref))
    assert len(pipe.fingerprints_) == 980
    with pytest.raises(ValueError, match="boolean mask"):
        pipe.fit(X, y, forget=np.flatnonzero(gone))


# ----------------------------------------------- with UnlearningClassifier
def test_no_preprocessing_and_encoder_only(credit):
    X, y, num, cat = credit
    newton = LogisticRegression(solver="newton-cholesky")
    pipe = make_pipeline(UnlearningClassifier(newton))
    pipe.fit(X[num], y).unlearn(X[num][:5], y[:5])
    assert pipe.preprocessing_record_ is None
    assert pipe[-1].ledger_[-1].n_remaining == 995
    pipe = make_pipeline(
        OneHotEncoder(handle_unknown="ignore"),
        UnlearningClassifier(LogisticRegression()),
    ).fit(X[cat], y)
    pipe.unlearn(X[cat][:5], y[:5])
    assert pipe.preprocessing_record_.n_rows == 995
    pickle.loads(pickle.dumps(pipe))


def test_end_to_end_german_credit(credit):
    """Scaler and one-hot encoder before UnlearningClassifier, 2% forgotten."""
    X, y, num, cat = credit
    gone = mask(len(X), 20, seed=0)
    ref = sk_make_pipeline(
        columns(num, cat), LogisticRegression(solver="newton-cholesky", tol=1e-12)
    ).fit(X[~gone], y[~gone])
    d_ref = ref.decision_function(X[~gone])
    scale = np.abs(d_ref).max()

    # the exact Newton step with its cached Hessian, no retained rows
    pipe = make_pipeline(columns(num, cat), UnlearningClassifier(LogisticRegression()))
    pipe.fit(X, y).unlearn(X[gone], y[gone])
    assert_same_scaler(scaler_of(pipe), scaler_of(ref))
    err = np.abs(pipe.decision_function(X[~gone]) - d_ref).max() / scale
    # the same step in fixed features (no preprocessing change): the downdate
    # of the scaler and the reparameterisation add nothing to its error
    Z = pipe[:-1].transform(X)
    fixed = (
        UnlearningClassifier(LogisticRegression()).fit(Z, y).unlearn(Z[gone], y[gone])
    )
    Z_ref = LogisticRegression(solver="newton-cholesky", tol=1e-12).fit(
        Z[~gone], y[~gone]
    )
    err_fixed = (
        np.abs(fixed.decision_function(Z[~gone]) - Z_ref.decision_function(Z[~gone]))
    ).max() / np.abs(Z_ref.decision_function(Z[~gone])).max()
    assert err <= 1.05 * err_fixed + 1e-6
    assert err < 2e-3

    # with one refinement on the retained rows: within 3e-4 of the refit
    pipe = make_pipeline(
        columns(num, cat),
        UnlearningClassifier(LogisticRegression(), method=Newton(refine=1)),
    ).fit(X, y)
    pipe.unlearn(X[gone], y[gone], X_retain=X[~gone], y_retain=y[~gone])
    assert_same_scaler(scaler_of(pipe), scaler_of(ref))
    err = np.abs(pipe.decision_function(X[~gone]) - d_ref).max() / scale
    assert err < 3e-4


def test_weighted_pipeline(credit):
    X, y, num, _ = credit
    Xn = X[num]
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    gone = mask(len(X), 20, seed=5)
    pipe = make_pipeline(
        StandardScaler(),
        UnlearningClassifier(LogisticRegression(), method=Newton(refine=1)),
    ).fit(Xn, y, standardscaler__sample_weight=w, unlearningclassifier__sample_weight=w)
    pipe.unlearn(
        Xn[gone],
        y[gone],
        X_retain=Xn[~gone],
        y_retain=y[~gone],
        sample_weight_retain=w[~gone],
    )
    ref = sk_make_pipeline(
        StandardScaler(), LogisticRegression(solver="newton-cholesky", tol=1e-12)
    ).fit(
        Xn[~gone],
        y[~gone],
        standardscaler__sample_weight=w[~gone],
        logisticregression__sample_weight=w[~gone],
    )
    assert_same_scaler(pipe[0], ref[0])
    d_ref = ref.decision_function(Xn[~gone])
    err = np.abs(pipe.decision_function(Xn[~gone]) - d_ref).max()
    assert err / np.abs(d_ref).max() < 3e-4


# ------------------------------- one front door, and one route for pipelines
def test_request_methods_are_shared():
    from sklearn_unlearn._request_methods import RequestMethodsMixin

    pipe = make_pipeline(StandardScaler(), UnlearningClassifier(LogisticRegression()))
    for name in ("unlearn", "relabel", "update"):
        shared = getattr(RequestMethodsMixin, name)
        assert getattr(UnlearningClassifier, name) is shared
        assert getattr(pipe, name).__func__ is shared
        assert inspect.signature(getattr(pipe, name)) == inspect.signature(
            getattr(UnlearningClassifier(LogisticRegression()), name)
        )


@pytest.mark.parametrize("wrap", ["pipeline", "estimator"])
@pytest.mark.parametrize(
    "op, match",
    [
        ("unlearn", "No rows to forget"),
        ("relabel", "No rows to relabel"),
        ("update", "Nothing to remove or add"),
        ("update-empty", "Nothing to remove or add"),
    ],
)
def test_empty_requests_are_refused(credit, wrap, op, match):
    X, y, num, _ = credit
    Xn = X[num]
    if wrap == "pipeline":
        model = make_pipeline(
            StandardScaler(), UnlearningClassifier(LogisticRegression())
        )
    else:
        model = UnlearningClassifier(LogisticRegression())
    model.fit(Xn, y)
    before = joblib.hash(model)
    calls = {
        "unlearn": lambda: model.unlearn(Xn[:0], y[:0]),
        "relabel": lambda: model.relabel(Xn[:0], y[:0], y[:0]),
        "update": lambda: model.update(),
        "update-empty": lambda: model.update(
            remove=(Xn[:0], y[:0]), add=(Xn[:0], y[:0])
        ),
    }
    with pytest.raises(ValueError, match=match):
        calls[op]()
    assert joblib.hash(model) == before


@pytest.mark.parametrize(
    "make, steps",
    [
        (
            lambda: UnlearningClassifier(
                sk_make_pipeline(StandardScaler(), LogisticRegression(C=0.5))
            ),
            "StandardScaler(), UnlearningClassifier(LogisticRegression(C=0.5))",
        ),
        (
            lambda: UnlearningRegressor(sk_make_pipeline(StandardScaler(), Ridge())),
            "StandardScaler(), UnlearningRegressor(Ridge())",
        ),
        (
            lambda: UnlearningClassifier(
                make_pipeline(StandardScaler(), LogisticRegression())
            ),
            "StandardScaler(), UnlearningClassifier(LogisticRegression())",
        ),
    ],
)
def test_an_estimator_wrapping_a_pipeline_is_refused_at_fit(credit, make, steps):
    """Preprocessing goes in front of the estimator, never inside it: fit
    says so, names the replacement, and fits nothing."""
    X, y, num, _ = credit
    model = make()
    name = type(model).__name__
    expected = (
        f"{name} wraps a model, not a Pipeline: put it last in "
        f"sklearn_unlearn.pipeline.make_pipeline({steps}), which downdates the "
        "preprocessing exactly and works on DataFrames."
    )
    with pytest.raises(TypeError) as info:
        model.fit(X[num], y)
    assert str(info.value) == expected
    assert not [k for k in vars(model) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    for _, step in model.estimator.steps:
        with pytest.raises(NotFittedError):
            check_is_fitted(step)


def test_weighted_pipeline_matches_refit(credit):
    """Weights on the model's rows, the preprocessing downdated, new features."""
    X, y, num, cat = credit
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    gone = mask(len(X), 20, seed=7)
    pipe = make_pipeline(
        columns(num, cat),
        UnlearningClassifier(LogisticRegression(), method=Newton(refine=1)),
    ).fit(X, y, unlearningclassifier__sample_weight=w)
    assert pipe.preprocessing_record_.total_weight == pytest.approx(w.sum())
    pipe.unlearn(
        X[gone],
        y[gone],
        X_retain=X[~gone],
        y_retain=y[~gone],
        sample_weight_retain=w[~gone],
    )
    ref = sk_make_pipeline(
        columns(num, cat), LogisticRegression(solver="newton-cholesky", tol=1e-12)
    ).fit(X[~gone], y[~gone], logisticregression__sample_weight=w[~gone])
    assert_same_scaler(scaler_of(pipe), scaler_of(ref))
    assert pipe.preprocessing_record_.n_rows == 980
    assert pipe.preprocessing_record_.total_weight == pytest.approx(w[~gone].sum())
    d_ref = ref.decision_function(X[~gone])
    err = np.abs(pipe.decision_function(X[~gone]) - d_ref).max()
    assert err / np.abs(d_ref).max() < 3e-4
    assert len(pipe.fingerprints_) == len(pipe[-1].fingerprints_) == 980
    assert pipe[-1].ledger_[-1].removed == tuple(
        fingerprint_rows(X[gone], y[gone], pipe.fingerprint_key_.secret())
    )


def test_relabel_and_warning_with_unlearning_classifier(credit):
    X, y, num, cat = credit
    pre = make_column_transformer(
        (sk_make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
        (OneHotEncoder(handle_unknown="ignore"), cat),
    )
    pipe = make_pipeline(pre, UnlearningClassifier(LogisticRegression()))
    pipe.fit(X, y)
    steps, record = list(pipe.steps[:-1]), pipe.preprocessing_record_
    y2 = y.copy()
    y2[:5] = 1 - y2[:5]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PreprocessingStateWarning)
        pipe.relabel(X[:5], y[:5], y2[:5])  # label-free steps: nothing to note
    assert pipe.steps[:-1] == steps
    assert pipe.preprocessing_record_ is record
    with pytest.warns(PreprocessingStateWarning, match="medians") as rec:
        pipe.unlearn(X[:5], y2[:5])
    assert rec[0].filename == __file__
    assert pipe.steps[0][1] is not steps[0][1]
    assert any("medians" in note for note in pipe[-1].ledger_[-1].notes)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PreprocessingStateWarning)
        pipe.unlearn(X[5:10], y[5:10])
    pipe.fit(X, y)  # a new fit warns again
    with pytest.warns(PreprocessingStateWarning):
        pipe.unlearn(X[:5], y[:5])


def test_retrain_forgets_through_fit_forget(credit):
    """``Retrain`` takes the rows that remain from the ``forget`` mask itself."""
    X, y, num, cat = credit
    gone = mask(len(y), 40)
    model = UnlearningClassifier(LogisticRegression(), method="retrain")
    pipe = make_pipeline(columns(num, cat), model).fit(X, y, forget=gone)
    refit = make_pipeline(
        columns(num, cat), UnlearningClassifier(LogisticRegression())
    ).fit(X[~gone], y[~gone])
    np.testing.assert_allclose(
        pipe.predict_proba(X), refit.predict_proba(X), rtol=1e-6, atol=1e-8
    )
    assert pipe[-1].ledger_[-1].n_removed == 40
    assert pipe[-1].ledger_[-1].method == "Retrain"


def test_requests_are_checked_against_the_fitted_frame(credit):
    """Columns by name (order restored), kinds, then fingerprints; a miss
    says what differs. Every refusal leaves the pipeline as it was."""
    X, y, num, cat = credit
    pipe = make_pipeline(
        columns(num, cat), UnlearningClassifier(LogisticRegression())
    ).fit(X, y)
    held = pipe.fingerprints_.counter()
    with pytest.raises(ValueError, match=r"missing column\(s\) \['age'\]"):
        pipe.unlearn(X.drop(columns="age")[:3], y[:3])
    with pytest.raises(TypeError, match="fitted on a DataFrame"):
        pipe.unlearn(X.to_numpy()[:3], y[:3])
    odd = X.copy()
    odd["age"] = odd["age"].astype(str)
    with pytest.raises(ValueError, match="'age' .other here, numeric at fit"):
        pipe.unlearn(odd[:3], y[:3])
    with pytest.raises(ValueError, match="match training rows, but not with the label"):
        pipe.unlearn(X[:3], 1 - y[:3])
    nan = X.copy()
    nan["age"] = nan["age"].astype(float)
    nan.loc[nan.index[0], "age"] = np.nan
    with pytest.raises(ValueError, match=r"hold NaN in column\(s\) \['age'\]"):
        pipe.unlearn(nan[:3], y[:3])
    assert pipe.fingerprints_.counter() == held
    pipe.unlearn(X[X.columns[::-1]][:3], y[:3])  # reordered columns are fine
    assert len(pipe.fingerprints_) == len(X) - 3


def test_a_net_behind_fitted_preprocessing_is_refused_at_fit():
    torch = pytest.importorskip("torch")
    skorch = pytest.importorskip("skorch")
    X = np.random.RandomState(0).randn(60, 3).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = skorch.NeuralNetClassifier(
        torch.nn.Linear,
        module__in_features=3,
        module__out_features=2,
        max_epochs=1,
        criterion=torch.nn.CrossEntropyLoss,
        train_split=None,
        verbose=0,
    )
    pipe = make_pipeline(StandardScaler(), UnlearningClassifier(net))
    with pytest.raises(ValueError, match=r"skorch net cannot forget behind .*scaler"):
        pipe.fit(X, y)


def test_validation_rows_behind_preprocessing_are_refused_at_fit(credit):
    """They would reach PUMA in raw features; nothing is fitted."""
    from sklearn_unlearn.methods import PUMA

    X, y, num, _ = credit
    Xn = X[num]
    pipe = make_pipeline(
        StandardScaler(), UnlearningClassifier(LogisticRegression(), method=PUMA())
    )
    with pytest.raises(ValueError, match="untransformed.*standardscaler"):
        pipe.fit(
            Xn,
            y,
            unlearningclassifier__X_val=Xn.iloc[:50],
            unlearningclassifier__y_val=y[:50],
        )
    with pytest.raises(NotFittedError):
        check_is_fitted(pipe[-1])
    # without preprocessing the rows go to the model as they are
    bare = make_pipeline(UnlearningClassifier(LogisticRegression(), method=PUMA()))
    bare.fit(
        Xn,
        y,
        unlearningclassifier__X_val=Xn.iloc[:50],
        unlearningclassifier__y_val=y[:50],
    )
    assert bare[-1].method_.validation[0] is not None
