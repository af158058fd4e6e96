"""Downdating fitted preprocessing: exact scaler statistics, the map M, notes."""

import copy

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer, make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    StandardScaler,
)

from sklearn_unlearn.datasets import load_german_credit
from sklearn_unlearn.preprocessing import (
    PreprocessingRecord,
    PreprocessingStateWarning,
    affine_map_is_identity,
    downdate_preprocessing,
)

RTOL = 1e-9


# ---------------------------------------------------------------- helpers
def assert_scaler_matches(got, ref):
    """Same statistics as a refit, to 1e-9 (relative to the column's size)."""
    for attr in ("mean_", "var_", "scale_"):
        a, b = getattr(got, attr), getattr(ref, attr)
        if b is None:
            assert a is None, attr
            continue
        size = np.maximum(np.abs(b), 1.0 if attr == "mean_" else 0.0)
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=0, err_msg=attr)
        assert np.all(np.abs(a - b) <= RTOL * np.maximum(size, 1e-300)), attr
    n_got, n_ref = got.n_samples_seen_, ref.n_samples_seen_
    assert np.shape(n_got) == np.shape(n_ref)
    assert np.asarray(n_got).dtype == np.asarray(n_ref).dtype
    np.testing.assert_allclose(n_got, n_ref, rtol=RTOL)


def assert_map(old, new, M, X):
    """``[old(x), 1] == M @ [new(x), 1]`` for every row of ``X``."""
    z_old, z_new = old.transform(X), new.transform(X)
    if sp.issparse(z_old):
        z_old, z_new = z_old.toarray(), z_new.toarray()
    ones = np.ones((z_old.shape[0], 1))
    lhs = np.hstack([z_old, ones])
    rhs = np.hstack([z_new, ones]) @ M.T
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


def state(est):
    return joblib.hash(est)


def split(n, n_remove, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, n_remove, replace=False)] = True
    return mask


@pytest.fixture
def numeric():
    rng = np.random.default_rng(42)
    X = rng.normal(size=(200, 4)) * [1.0, 10.0, 0.01, 3.0] + [0.0, 50.0, -2.0, 1e3]
    w = rng.uniform(0.2, 3.0, size=200)
    return X, w


@pytest.fixture(scope="module")
def credit():
    X, y = load_german_credit(return_X_y=True, as_frame=True)
    num = X.select_dtypes("number").columns.tolist()
    cat = X.select_dtypes("category").columns.tolist()
    return X, y, num, cat


# ------------------------------------------------------------ the scaler
@pytest.mark.parametrize("with_mean", [True, False])
@pytest.mark.parametrize("with_std", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_scaler_remove_matches_refit(numeric, with_mean, with_std, weighted):
    X, w = numeric
    w = w if weighted else None

    def make():
        return StandardScaler(with_mean=with_mean, with_std=with_std)

    scaler = make().fit(X, sample_weight=w)
    record = PreprocessingRecord.from_fitted(scaler, X, sample_weight=w)
    assert record.scaler_weighted[""] is (weighted and (with_mean or with_std))
    gone = split(len(X), 17)
    before = state(scaler)
    new, new_record, M, notes = downdate_preprocessing(
        scaler, record, X[gone], sample_weight_remove=None if w is None else w[gone]
    )
    assert state(scaler) == before
    ref = make().fit(X[~gone], sample_weight=None if w is None else w[~gone])
    assert_scaler_matches(new, ref)
    assert_map(scaler, new, M, X)
    assert notes == []
    assert new_record.n_rows == len(X) - 17
    assert affine_map_is_identity(M) is (not with_mean and not with_std)


@pytest.mark.parametrize("weighted", [False, True])
def test_scaler_remove_and_add(numeric, weighted):
    X, w = numeric
    rng = np.random.default_rng(1)
    X_new = rng.normal(size=(30, 4)) * 5 + 7
    w_new = rng.uniform(0.5, 2.0, size=30)
    w = w if weighted else None
    scaler = StandardScaler().fit(X, sample_weight=w)
    record = PreprocessingRecord.from_fitted(scaler, X, sample_weight=w)
    gone = split(len(X), 25, seed=3)
    new, new_record, M, _ = downdate_preprocessing(
        scaler,
        record,
        X[gone],
        X_new,
        sample_weight_remove=None if w is None else w[gone],
        sample_weight_add=w_new if weighted else None,
    )
    ref = StandardScaler().fit(
        np.vstack([X[~gone], X_new]),
        sample_weight=None if w is None else np.r_[w[~gone], w_new],
    )
    assert_scaler_matches(new, ref)
    assert_map(scaler, new, M, np.vstack([X, X_new]))
    # chained requests: the new record continues from where this one stopped
    new2, _, M2, _ = downdate_preprocessing(
        new,
        new_record,
        X_new[:10],
        sample_weight_remove=w_new[:10] if weighted else None,
    )
    ref2 = StandardScaler().fit(
        np.vstack([X[~gone], X_new[10:]]),
        sample_weight=None if w is None else np.r_[w[~gone], w_new[10:]],
    )
    assert_scaler_matches(new2, ref2)


def test_scaler_add_only(numeric):
    X, _ = numeric
    scaler = StandardScaler().fit(X[:150])
    record = PreprocessingRecord.from_fitted(scaler, X[:150])
    new, record, M, _ = downdate_preprocessing(scaler, record, None, X[150:])
    assert_scaler_matches(new, StandardScaler().fit(X))
    assert record.n_rows == 200


def test_zero_variance_column(numeric):
    X, _ = numeric
    X = X.copy()
    X[:, 1] = 3.7  # constant everywhere
    X[:, 2] = 0.0
    X[:5, 2] = 1.0  # constant once the first five rows are gone
    scaler = StandardScaler().fit(X)
    record = PreprocessingRecord.from_fitted(scaler, X)
    new, _, M, notes = downdate_preprocessing(scaler, record, X[:5])
    ref = StandardScaler().fit(X[5:])
    assert ref.scale_[1] == ref.scale_[2] == 1.0
    assert_scaler_matches(new, ref)
    assert_map(scaler, new, M, X)
    assert len(notes) == 1 and "'x2' is constant on the remaining rows" in notes[0]


@pytest.mark.parametrize(
    "outlier, phrase", [(1e7, "is known only to a relative"), (1e9, "is constant")]
)
def test_cancellation_is_noted(outlier, phrase):
    # the forgotten row held almost all the variance: the rest is lost to
    # rounding in the stored statistics, and the notes say so
    X = np.random.default_rng(0).normal(size=(200, 1))
    X[0, 0] = outlier
    scaler = StandardScaler().fit(X)
    record = PreprocessingRecord.from_fitted(scaler, X)
    _, _, _, notes = downdate_preprocessing(scaler, record, X[:1])
    assert len(notes) == 1 and phrase in notes[0]


def test_missing_values_counted_per_feature(numeric):
    X, w = numeric
    X = X.copy()
    X[::7, 0] = np.nan
    X[3::11, 3] = np.nan
    for sw in (None, w):
        scaler = StandardScaler().fit(X, sample_weight=sw)
        record = PreprocessingRecord.from_fitted(scaler, X, sample_weight=sw)
        gone = split(len(X), 30, seed=5)
        new, _, M, _ = downdate_preprocessing(
            scaler,
            record,
            X[gone],
            sample_weight_remove=None if sw is None else sw[gone],
        )
        ref = StandardScaler().fit(
            X[~gone], sample_weight=None if sw is None else sw[~gone]
        )
        assert_scaler_matches(new, ref)
        assert_map(scaler, new, M, X[~np.isnan(X).any(axis=1)])


@pytest.mark.parametrize("with_std", [True, False])
def test_sparse_input(numeric, with_std):
    X, w = numeric
    X = X.copy()
    X[np.abs(X) < 1.0] = 0.0
    Xs = sp.csr_matrix(X)
    scaler = StandardScaler(with_mean=False, with_std=with_std).fit(Xs, sample_weight=w)
    record = PreprocessingRecord.from_fitted(scaler, Xs, sample_weight=w)
    gone = split(len(X), 20, seed=9)
    new, _, M, _ = downdate_preprocessing(
        scaler, record, Xs[gone], sample_weight_remove=w[gone]
    )
    ref = StandardScaler(with_mean=False, with_std=with_std).fit(
        Xs[~gone], sample_weight=w[~gone]
    )
    assert_scaler_matches(new, ref)
    assert_map(scaler, new, M, Xs)


def test_chained_scalers(numeric):
    X, _ = numeric
    pre = make_pipeline(StandardScaler(), StandardScaler(with_mean=False)).fit(X)
    record = PreprocessingRecord.from_fitted(pre, X)
    gone = split(len(X), 40, seed=2)
    new, _, M, notes = downdate_preprocessing(pre, record, X[gone])
    ref = make_pipeline(StandardScaler(), StandardScaler(with_mean=False)).fit(X[~gone])
    assert_scaler_matches(new[0], ref[0])
    # the second scaler sees standardised data: compare in absolute terms
    np.testing.assert_allclose(new[1].var_, ref[1].var_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(new[1].mean_, ref[1].mean_, rtol=0, atol=1e-12)
    assert_map(pre, new, M, X)
    assert notes == []


# ----------------------------------------------------- column transformers
@pytest.mark.parametrize("sparse_output", [False, True])
def test_column_transformer_with_encoder(credit, sparse_output):
    X, _, num, cat = credit

    def make():
        return ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore"), cat),
                ("num", StandardScaler(), num[:4]),
                ("skip", "drop", num[4:5]),
            ],
            remainder="passthrough",
            sparse_threshold=1.0 if sparse_output else 0.0,
            verbose_feature_names_out=False,
        )

    ct = make().fit(X)
    assert sp.issparse(ct.transform(X[:3])) is sparse_output
    record = PreprocessingRecord.from_fitted(ct, X)
    before = state(ct)
    gone = split(len(X), 20, seed=11)
    new, _, M, notes = downdate_preprocessing(ct, record, X[gone])
    assert state(ct) == before
    ref = make().fit(X[~gone])
    assert_scaler_matches(
        new.named_transformers_["num"], ref.named_transformers_["num"]
    )
    assert_map(ct, new, M, X)
    # the scaler's block sits after the one-hot columns; passthrough is fixed
    block = ct.output_indices_["num"]
    changed = np.flatnonzero(np.abs(M - np.eye(len(M))).sum(axis=1) > 0)
    assert set(changed) <= set(range(block.start, block.stop))
    assert len(changed) > 0
    assert notes == []


def test_column_transformer_weights_and_remainder_scaler(numeric):
    X, _ = numeric

    def make():
        return ColumnTransformer(
            [("a", StandardScaler(), [2, 0]), ("b", "passthrough", [1])],
            remainder=StandardScaler(with_std=False),
            transformer_weights={"a": 2.5},
        )

    ct = make().fit(X)
    record = PreprocessingRecord.from_fitted(ct, X)
    new, _, M, _ = downdate_preprocessing(ct, record, X[:30])
    ref = make().fit(X[30:])
    assert_scaler_matches(new.named_transformers_["a"], ref.named_transformers_["a"])
    assert_scaler_matches(
        new.named_transformers_["remainder"], ref.named_transformers_["remainder"]
    )
    assert_map(ct, new, M, X)


def test_nested_pipeline_with_imputer(numeric):
    X, _ = numeric
    X = X.copy()
    X[::9, 1] = np.nan

    def make():
        return ColumnTransformer(
            [
                (
                    "num",
                    make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                    [0, 1, 2],
                ),
            ],
            remainder="drop",
        )

    ct = make().fit(X)
    record = PreprocessingRecord.from_fitted(ct, X)
    gone = split(len(X), 25, seed=4)
    new, _, M, notes = downdate_preprocessing(ct, record, X[gone])
    imputer = new.named_transformers_["num"][0]
    assert state(imputer) == state(ct.named_transformers_["num"][0])  # unchanged
    # the scaler is exactly refitted on what it sees: the imputer's output
    ref = StandardScaler().fit(imputer.transform(X[~gone][:, :3]))
    assert_scaler_matches(new.named_transformers_["num"][1], ref)
    assert_map(ct, new, M, X)
    assert notes == [
        "SimpleImputer 'num__simpleimputer': statistics_ (medians) still include "
        "forgotten rows"
    ]
    # without missing values the whole preprocessor equals a refit
    Xc = np.nan_to_num(X, nan=0.5)
    ct = make().fit(Xc)
    record = PreprocessingRecord.from_fitted(ct, Xc)
    new, _, _, _ = downdate_preprocessing(ct, record, Xc[gone])
    ref = make().fit(Xc[~gone])
    assert_scaler_matches(
        new.named_transformers_["num"][1], ref.named_transformers_["num"][1]
    )


def test_feature_union(numeric):
    X, _ = numeric

    def make():
        return FeatureUnion(
            [("s", StandardScaler()), ("raw", "passthrough"), ("off", "drop")],
            transformer_weights={"s": 0.5},
        )

    fu = make().fit(X)
    record = PreprocessingRecord.from_fitted(fu, X)
    new, _, M, _ = downdate_preprocessing(fu, record, X[:40])
    assert_scaler_matches(
        new.transformer_list[0][1], make().fit(X[40:]).transformer_list[0][1]
    )
    assert_map(fu, new, M, X)


# --------------------------------------------------------------- non-affine
def test_non_affine_step_after_scaler_freezes_it(numeric):
    X, _ = numeric
    pre = make_pipeline(
        ColumnTransformer(
            [("s", StandardScaler(), [0, 1]), ("t", StandardScaler(), [2])]
        ),
        ColumnTransformer(
            [("poly", PolynomialFeatures(2), [0, 1])], remainder="passthrough"
        ),
    ).fit(X)
    record = PreprocessingRecord.from_fitted(pre, X)
    before = state(pre)
    new, _, M, notes = downdate_preprocessing(pre, record, X[:20])
    assert state(pre) == before
    # 's' feeds PolynomialFeatures: left alone; 't' only goes through a passthrough
    s_old = pre[0].named_transformers_["s"]
    assert state(new[0].named_transformers_["s"]) == state(s_old)
    assert_scaler_matches(
        new[0].named_transformers_["t"],
        StandardScaler().fit(X[20:, [2]]),
    )
    assert_map(pre, new, M, X)
    assert not affine_map_is_identity(M)
    assert notes == [
        "StandardScaler 'columntransformer-1__s': not downdated because its output "
        "goes through PolynomialFeatures 'columntransformer-2__poly', which is not "
        "an affine map of its input; its mean_/var_/n_samples_seen_ still include "
        "forgotten rows"
    ]


def test_polynomial_features_after_scaler_identity_map(numeric):
    X, _ = numeric
    pre = make_pipeline(StandardScaler(), PolynomialFeatures(2)).fit(X)
    record = PreprocessingRecord.from_fitted(pre, X)
    new, _, M, notes = downdate_preprocessing(pre, record, X[:20])
    assert affine_map_is_identity(M)
    assert M.shape == (16, 16)
    assert state(new) == state(pre)
    assert len(notes) == 1 and "PolynomialFeatures 'polynomialfeatures'" in notes[0]


# -------------------------------------------------------------------- notes
def test_category_seen_only_in_forgotten_rows(credit):
    X, _, num, cat = credit
    ct = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), cat), (StandardScaler(), num)
    ).fit(X)
    record = PreprocessingRecord.from_fitted(ct, X)
    rare = (X["purpose"] == "A48").to_numpy()
    assert 0 < rare.sum() < 20
    new, new_record, M, notes = downdate_preprocessing(ct, record, X[rare])
    assert notes == [
        "OneHotEncoder 'onehotencoder': 1 category of feature 'purpose' was "
        "seen only in forgotten rows; the encoder still holds it"
    ]  # the note names the feature, never the forgotten value
    enc = ct.named_transformers_["onehotencoder"]
    j = cat.index("purpose")
    k = list(enc.categories_[j]).index("A48")
    assert record.category_counts["onehotencoder"][j][k] == rare.sum()
    assert new_record.category_counts["onehotencoder"][j][k] == 0
    assert_map(ct, new, M, X)
    # adding one back: no note; adding an unknown category: a note
    _, _, _, notes = downdate_preprocessing(new, new_record, None, X[rare][:1])
    assert notes == []
    odd = X[:1].copy()
    odd["purpose"] = odd["purpose"].cat.add_categories(["A499"])
    odd.loc[odd.index[0], "purpose"] = "A499"
    _, _, _, notes = downdate_preprocessing(ct, record, X[:1], odd)
    assert notes == [
        "OneHotEncoder 'onehotencoder': added rows hold 'A499' of feature "
        "'purpose', unknown to the encoder, which ignores them; a refit would "
        "learn them"
    ]


def test_infrequent_categories_note():
    X = np.array([["a"] * 10 + ["b"] * 4 + ["c"] * 3]).T.astype(object)
    enc = OneHotEncoder(min_frequency=4, handle_unknown="infrequent_if_exist").fit(X)
    record = PreprocessingRecord.from_fitted(enc, X)
    new, _, _, notes = downdate_preprocessing(enc, record, X[10:11])  # one 'b'
    assert len(notes) == 1 and "infrequent categories of feature 'x0'" in notes[0]
    assert "would differ after a refit (2 instead of 1)" in notes[0]
    assert "'b'" not in notes[0] and "'c'" not in notes[0]


def test_ordinal_encoder_counts():
    X = pd.DataFrame({"c": ["x", "y", "y", "z"]})
    enc = OrdinalEncoder().fit(X)
    record = PreprocessingRecord.from_fitted(enc, X)
    _, _, M, notes = downdate_preprocessing(enc, record, X.iloc[[1]])
    assert notes == []
    assert affine_map_is_identity(M)
    _, _, _, notes = downdate_preprocessing(enc, record, X.iloc[[3]])
    assert notes == [
        "OrdinalEncoder: 1 category of feature 'c' was seen only in forgotten "
        "rows; the encoder still holds it"
    ]


class _Shift(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        self.shift_ = np.asarray(X).mean(axis=0)
        return self

    def transform(self, X):
        return np.asarray(X) - self.shift_


def test_other_steps_are_named(numeric):
    X, _ = numeric
    ct = ColumnTransformer(
        [
            ("mm", MinMaxScaler(), [0]),
            ("custom", _Shift(), [1]),
            ("f", FunctionTransformer(np.log1p), [2]),
            ("s", StandardScaler(), [3]),
        ]
    ).fit(np.abs(X))
    record = PreprocessingRecord.from_fitted(ct, np.abs(X))
    _, _, M, notes = downdate_preprocessing(ct, record, np.abs(X)[:10])
    assert notes == [
        "MinMaxScaler 'mm': data_min_/data_max_ still include forgotten rows",
        "_Shift 'custom': unknown transformer: its fitted state was learned on rows "
        "that include the forgotten ones and was not downdated",
    ]
    assert not affine_map_is_identity(M)


# ---------------------------------------------------------- real data, M
def test_german_credit_pipeline_matches_refit(credit):
    X, _, num, cat = credit

    def make():
        return make_pipeline(
            make_column_transformer(
                (StandardScaler(), num), (OneHotEncoder(handle_unknown="ignore"), cat)
            )
        )

    pre = make().fit(X)
    record = PreprocessingRecord.from_fitted(pre, X)
    gone = split(len(X), 20, seed=7)
    new, new_record, M, notes = downdate_preprocessing(pre, record, X[gone])
    ref = make().fit(X[~gone])
    assert_scaler_matches(
        new[0].named_transformers_["standardscaler"],
        ref[0].named_transformers_["standardscaler"],
    )
    np.testing.assert_allclose(
        new.transform(X[~gone]), ref.transform(X[~gone]), rtol=1e-9, atol=1e-12
    )
    rng = np.random.default_rng(0)
    fresh = X.sample(50, random_state=1).copy()
    fresh[num] = fresh[num] + rng.integers(-3, 4, size=(50, len(num)))
    assert_map(pre, new, M, fresh)
    assert new_record.n_rows == 980


# ------------------------------------------------------------------ errors
def test_errors(numeric):
    X, w = numeric
    scaler = StandardScaler().fit(X, sample_weight=w)
    with pytest.raises(ValueError, match="sample weights"):
        PreprocessingRecord.from_fitted(scaler, X)
    with pytest.raises(ValueError, match="other rows"):
        PreprocessingRecord.from_fitted(scaler, X[:50], sample_weight=w[:50])
    record = PreprocessingRecord.from_fitted(scaler, X, sample_weight=w)
    with pytest.raises(ValueError, match="sample_weight_remove"):
        downdate_preprocessing(scaler, record, X[:3])
    with pytest.raises(ValueError, match="no row"):
        downdate_preprocessing(scaler, record, X, sample_weight_remove=w)
    with pytest.raises(ValueError, match="not built from this preprocessor"):
        downdate_preprocessing(make_pipeline(scaler), record, X[:3])
    with pytest.raises(ValueError, match="entries"):
        downdate_preprocessing(scaler, record, X[:3], sample_weight_remove=w[:2])
    with pytest.raises(ValueError, match="Nothing"):
        downdate_preprocessing(scaler, record, None)
    with pytest.raises(TypeError):
        downdate_preprocessing(scaler, {}, X[:3])
    Xc = np.array([["a"], ["b"], ["b"]], dtype=object)
    enc = OneHotEncoder().fit(Xc)
    rec = PreprocessingRecord.from_fitted(enc, Xc)
    with pytest.raises(ValueError, match="removed than were trained on"):
        downdate_preprocessing(enc, rec, Xc[[0, 0]])
    with pytest.raises(ValueError, match="never saw"):
        downdate_preprocessing(enc, rec, np.array([["c"]], dtype=object))


def test_record_holds_no_rows(credit):
    X, _, num, cat = credit
    ct = make_column_transformer((OneHotEncoder(), cat), (StandardScaler(), num)).fit(X)
    record = PreprocessingRecord.from_fitted(ct, X)
    sizes = [c.size for v in record.category_counts.values() for c in v]
    assert sum(sizes) == sum(
        len(c) for c in ct.named_transformers_["onehotencoder"].categories_
    )
    assert record.n_rows == len(X) and record.total_weight == len(X)
    assert "n_rows=1000" in repr(record)
    copy.deepcopy(record)


def test_affine_map_is_identity():
    assert affine_map_is_identity(np.eye(4))
    M = np.eye(4)
    M[0, 3] = 1e-12
    assert not affine_map_is_identity(M)
    assert affine_map_is_identity(M, atol=1e-9)
    with pytest.raises(ValueError):
        affine_map_is_identity(np.ones((2, 3)))


def test_warning_class():
    assert issubclass(PreprocessingStateWarning, UserWarning)
