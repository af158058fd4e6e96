"""Tests for the bundled offline dataset loaders."""

import hashlib
from collections.abc import Callable
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from sklearn.utils import Bunch

import sklearn_unlearn.datasets as datasets
from sklearn_unlearn.datasets import (
    list_datasets,
    load_adult,
    load_breast_cancer_original,
    load_california_housing,
    load_german_credit,
)

# sha256 of the bundled files, as published in the data README.
SHA256 = {
    "german_credit.csv.gz": (
        "09fea8514b85593d069ae08e05730b8036f7f31cd76915e792e322e1db983939"
    ),
    "breast_cancer_wisconsin_original.csv.gz": (
        "e28e52a5c52aa7a6316fb65c234dbb9a511d02a4f3c4313f33d5d63651c87f94"
    ),
    "adult.csv.gz": (
        "fc118062a34b30362e07629c7ce3ad929675ca93052c1db4b765635fb7e15148"
    ),
    "california_housing.csv.gz": (
        "016d6bdfc4b2c8f5c9103a463f2039f8e3030dff446c22c5e255a1af708a6267"
    ),
}

GERMAN_COLUMNS = [
    "status_checking_account",
    "duration_months",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings",
    "employment_since",
    "installment_rate",
    "personal_status_sex",
    "other_debtors",
    "residence_since",
    "property",
    "age",
    "other_installment_plans",
    "housing",
    "existing_credits",
    "job",
    "num_dependents",
    "telephone",
    "foreign_worker",
]
GERMAN_NUMERICAL = [
    "duration_months",
    "credit_amount",
    "installment_rate",
    "residence_since",
    "age",
    "existing_credits",
    "num_dependents",
]
BREAST_COLUMNS = [
    "clump_thickness",
    "uniformity_cell_size",
    "uniformity_cell_shape",
    "marginal_adhesion",
    "single_epithelial_cell_size",
    "bare_nuclei",
    "bland_chromatin",
    "normal_nucleoli",
    "mitoses",
]
ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
]
ADULT_CATEGORICAL = [
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
]
CALIFORNIA_COLUMNS = [
    "MedInc",
    "HouseAge",
    "AveRooms",
    "AveBedrms",
    "Population",
    "AveOccup",
    "Latitude",
    "Longitude",
]

Loader = Callable[..., object]

# name, loader, n_samples, feature names, all-numeric?, classification?
CASES = [
    ("german_credit", load_german_credit, 1000, GERMAN_COLUMNS, False, True),
    (
        "breast_cancer_original",
        load_breast_cancer_original,
        699,
        BREAST_COLUMNS,
        True,
        True,
    ),
    ("adult", load_adult, 48842, ADULT_COLUMNS, False, True),
    (
        "california_housing",
        load_california_housing,
        20640,
        CALIFORNIA_COLUMNS,
        True,
        False,
    ),
]
CASE_IDS = [case[0] for case in CASES]


@pytest.fixture(scope="module", params=CASES, ids=CASE_IDS)
def loaded(request: pytest.FixtureRequest) -> tuple:
    """Each dataset loaded once per module, both as NumPy and as pandas."""
    name, loader, *rest = request.param
    return (name, loader, *rest, loader(), loader(as_frame=True))


@pytest.fixture(scope="module")
def adult_frame() -> Bunch:
    return load_adult(as_frame=True)


# --------------------------------------------------------------------------
# Bundled files
# --------------------------------------------------------------------------


@pytest.mark.parametrize("filename", sorted(SHA256))
def test_bundled_file_sha256(filename: str) -> None:
    resource = resources.files("sklearn_unlearn.datasets") / "data" / filename
    digest = hashlib.sha256(resource.read_bytes()).hexdigest()
    assert digest == SHA256[filename]


def test_list_datasets() -> None:
    names = list_datasets()
    assert names == [
        "adult",
        "breast_cancer_original",
        "california_housing",
        "german_credit",
    ]
    for name in names:
        assert callable(getattr(datasets, f"load_{name}"))


def test_public_api() -> None:
    assert sorted(datasets.__all__) == sorted(
        ["list_datasets"] + [f"load_{name}" for name in list_datasets()]
    )


# --------------------------------------------------------------------------
# Generic behaviour of every loader
# --------------------------------------------------------------------------


def test_bunch_numpy(loaded: tuple) -> None:
    name, _, n, columns, numeric, classif, bunch, _ = loaded
    assert isinstance(bunch, Bunch)
    assert set(bunch) >= {
        "data",
        "target",
        "frame",
        "feature_names",
        "target_names",
        "categorical_features",
        "numerical_features",
        "DESCR",
        "filename",
    }
    assert isinstance(bunch.data, np.ndarray)
    assert bunch.data.shape == (n, len(columns))
    assert bunch.data.dtype == (np.float64 if numeric else np.dtype(object))
    assert isinstance(bunch.target, np.ndarray)
    assert bunch.target.shape == (n,)
    assert bunch.target.dtype == (np.int64 if classif else np.float64)
    assert bunch.frame is None
    assert bunch.feature_names == columns
    assert sorted(bunch.categorical_features + bunch.numerical_features) == sorted(
        columns
    )
    assert (bunch.categorical_features == []) == numeric
    assert isinstance(bunch.DESCR, str) and len(bunch.DESCR) > 500
    assert "Licence" in bunch.DESCR
    assert bunch.filename in SHA256
    if classif:
        assert len(bunch.target_names) == 2
        assert set(np.unique(bunch.target)) == {0, 1}


def test_bunch_frame(loaded: tuple) -> None:
    name, _, n, columns, numeric, classif, bunch_np, bunch = loaded
    assert isinstance(bunch.data, pd.DataFrame)
    assert isinstance(bunch.target, pd.Series)
    assert isinstance(bunch.frame, pd.DataFrame)
    assert list(bunch.data.columns) == columns
    assert bunch.data.shape == (n, len(columns))
    assert bunch.target.name == "target"
    assert bunch.target.dtype == (np.int64 if classif else np.float64)
    assert list(bunch.frame.columns) == [*columns, "target"]
    pd.testing.assert_frame_equal(bunch.frame[columns], bunch.data)
    pd.testing.assert_series_equal(bunch.frame["target"], bunch.target)
    for col in bunch.categorical_features:
        assert isinstance(bunch.data[col].dtype, pd.CategoricalDtype)
    for col in bunch.numerical_features:
        assert pd.api.types.is_numeric_dtype(bunch.data[col])
    # Both representations hold the same values.
    np.testing.assert_array_equal(bunch.target.to_numpy(), bunch_np.target)
    if numeric:
        np.testing.assert_array_equal(
            bunch.data.to_numpy(dtype=np.float64), bunch_np.data
        )
    else:
        expected = bunch.data.to_numpy(dtype=object)
        missing = pd.isna(expected)
        np.testing.assert_array_equal(pd.isna(bunch_np.data), missing)
        assert (bunch_np.data[~missing] == expected[~missing]).all()
    assert bunch.DESCR == bunch_np.DESCR


@pytest.mark.parametrize("as_frame", [False, True])
@pytest.mark.parametrize(
    "loader",
    [load_german_credit, load_breast_cancer_original, load_california_housing],
)
def test_return_X_y(loader: Loader, as_frame: bool) -> None:
    bunch = loader(as_frame=as_frame)
    X, y = loader(return_X_y=True, as_frame=as_frame)
    assert type(X) is type(bunch.data)
    assert type(y) is type(bunch.target)
    if as_frame:
        pd.testing.assert_frame_equal(X, bunch.data)
        pd.testing.assert_series_equal(y, bunch.target)
    else:
        np.testing.assert_array_equal(X, bunch.data)
        np.testing.assert_array_equal(y, bunch.target)


@pytest.mark.parametrize("loader", [case[1] for case in CASES], ids=CASE_IDS)
def test_keyword_only(loader: Loader) -> None:
    with pytest.raises(TypeError):
        loader(True)


# --------------------------------------------------------------------------
# Dataset-specific figures from the data README
# --------------------------------------------------------------------------


def test_german_credit() -> None:
    bunch = load_german_credit(as_frame=True)
    assert bunch.target.value_counts().to_dict() == {0: 700, 1: 300}
    assert int(bunch.frame.isna().sum().sum()) == 0
    assert bunch.numerical_features == GERMAN_NUMERICAL
    assert len(bunch.categorical_features) == 13
    assert list(bunch.target_names) == ["good", "bad"]
    for col in GERMAN_NUMERICAL:
        assert bunch.data[col].dtype == np.int64
    # Categorical codes are kept as in german.data.
    assert set(bunch.data["status_checking_account"].cat.categories) == {
        "A11",
        "A12",
        "A13",
        "A14",
    }
    assert bunch.data.iloc[0]["purpose"] == "A43"
    assert bunch.data.iloc[0]["credit_amount"] == 1169
    assert "10.24432/C5NC77" in bunch.DESCR
    X, _ = load_german_credit(return_X_y=True)
    assert X[0, 0] == "A11" and X[0, 1] == 6


def test_breast_cancer_original() -> None:
    bunch = load_breast_cancer_original()
    assert np.bincount(bunch.target).tolist() == [458, 241]
    missing = np.isnan(bunch.data)
    assert int(missing.sum()) == 16
    assert missing[:, BREAST_COLUMNS.index("bare_nuclei")].sum() == 16
    assert np.nanmin(bunch.data) == 1 and np.nanmax(bunch.data) == 10
    assert list(bunch.target_names) == ["benign", "malignant"]
    assert bunch.categorical_features == []
    assert "10.24432/C5HP4Z" in bunch.DESCR

    frame = load_breast_cancer_original(as_frame=True).frame
    assert frame.isna().sum().to_dict() == {
        **{col: 0 for col in BREAST_COLUMNS},
        "bare_nuclei": 16,
        "target": 0,
    }
    assert frame["bare_nuclei"].dtype == np.float64
    assert frame["mitoses"].dtype == np.int64


def test_adult(adult_frame: Bunch) -> None:
    bunch = adult_frame
    assert bunch.frame.shape == (48842, 15)
    assert int(bunch.target.sum()) == 11687
    assert bunch.target.value_counts().to_dict() == {0: 37155, 1: 11687}
    missing = bunch.frame.isna().sum()
    assert missing[missing > 0].to_dict() == {
        "workclass": 2799,
        "occupation": 2809,
        "native_country": 857,
    }
    assert int(missing.sum()) == 6465
    assert bunch.categorical_features == ADULT_CATEGORICAL
    assert list(bunch.target_names) == ["<=50K", ">50K"]
    assert set(bunch.data["sex"].cat.categories) == {"Female", "Male"}
    # Rows 0..32560 are adult.data, the rest adult.test (standard split).
    assert bunch.data.iloc[0]["workclass"] == "State-gov"
    assert bunch.data.iloc[0]["age"] == 39
    assert "10.24432/C5XW20" in bunch.DESCR


def test_adult_numpy() -> None:
    X, y = load_adult(return_X_y=True)
    assert X.shape == (48842, 14) and X.dtype == object
    assert y.dtype == np.int64 and int(y.sum()) == 11687
    workclass = X[:, ADULT_COLUMNS.index("workclass")]
    assert int(pd.isna(workclass).sum()) == 2799
    assert isinstance(X[0, 0], int | np.integer) and X[0, 1] == "State-gov"


def test_california_housing() -> None:
    bunch = load_california_housing(as_frame=True)
    assert bunch.frame.shape == (20640, 9)
    assert round(float(bunch.target.mean()), 4) == 2.0686
    assert bunch.target.min() == pytest.approx(0.14999)
    assert bunch.target.max() == pytest.approx(5.00001)
    assert int((bunch.target == bunch.target.max()).sum()) == 965
    assert int(bunch.frame.isna().sum().sum()) == 0
    assert (bunch.data.dtypes == np.float64).all()
    assert list(bunch.target_names) == ["MedHouseVal"]
    assert bunch.numerical_features == CALIFORNIA_COLUMNS
    assert "S0167-7152(96)00140-X" in bunch.DESCR
