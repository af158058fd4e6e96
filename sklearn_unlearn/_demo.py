"""The demo behind ``python -m sklearn_unlearn demo``: every method on German credit."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from numbers import Real

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from ._classifier import UnlearningClassifier
from .datasets import load_german_credit
from .methods import Newton

__all__ = ["run_demo"]

#: The methods compared, in table order: (label, method, given the retained rows).
_METHODS = (
    ("newton", "newton", False),
    ("newton, retained rows", Newton(), True),
    ("first_order", "first_order", False),
    ("ssse", "ssse", False),
    ("retrain", "retrain", True),
)

#: Category codes of German credit's categorical columns, as listed in the
#: dataset description (``load_german_credit().DESCR``, from UCI's german.doc):
#: column -> (code prefix, first, last), e.g. ("A4", 0, 10) is A40, ..., A410.
_GERMAN_CODES = {
    "status_checking_account": ("A1", 1, 4),
    "credit_history": ("A3", 0, 4),
    "purpose": ("A4", 0, 10),
    "savings": ("A6", 1, 5),
    "employment_since": ("A7", 1, 5),
    "personal_status_sex": ("A9", 1, 5),
    "other_debtors": ("A10", 1, 3),
    "property": ("A12", 1, 4),
    "other_installment_plans": ("A14", 1, 3),
    "housing": ("A15", 1, 3),
    "job": ("A17", 1, 4),
    "telephone": ("A19", 1, 2),
    "foreign_worker": ("A20", 1, 2),
}


def _pipeline_available() -> bool:
    try:
        from . import pipeline  # noqa: F401
    except ImportError:
        return False
    return True


def _encode_fixed(X: pd.DataFrame, numeric, categorical) -> np.ndarray:
    """Data-independent encoding: ``log1p`` of the numeric columns, one-hot codes.

    Nothing is learnt from the rows, so forgotten rows never enter the
    preprocessing. A code outside the documented list encodes as all zeros.
    """
    parts = [np.log1p(X[numeric].to_numpy(dtype=np.float64))]
    for col in categorical:
        prefix, first, last = _GERMAN_CODES[col]
        codes = [f"{prefix}{i}" for i in range(first, last + 1)]
        values = X[col].astype(str).to_numpy()
        parts.append((values[:, None] == np.array(codes)[None, :]).astype(np.float64))
    return np.hstack(parts)


@dataclass
class _Split:
    X_train: object
    y_train: np.ndarray
    X_test: object
    y_test: np.ndarray
    forget: np.ndarray
    encoding: str
    numeric: list
    categorical: list

    def rows(self, mask):
        X = self.X_train
        X = X.iloc[mask] if isinstance(X, pd.DataFrame) else X[mask]
        return X, self.y_train[mask]


def _prepare(random_state=0, forget_fraction=0.05, encoding="auto") -> _Split:
    """Load German credit, split it, pick the rows to forget, encode if needed."""
    if not isinstance(forget_fraction, Real) or not 0 < forget_fraction < 1:
        raise ValueError(
            f"forget_fraction must be a number in (0, 1), got {forget_fraction!r}."
        )
    if encoding == "auto":
        encoding = "pipeline" if _pipeline_available() else "fixed"
    if encoding not in ("pipeline", "fixed"):
        raise ValueError(f"encoding must be 'auto', 'pipeline' or 'fixed': {encoding}")
    data = load_german_credit(as_frame=True)
    X, y = data.data, data.target.to_numpy()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=random_state
    )
    X_train = X_train.reset_index(drop=True)
    X_test = X_test.reset_index(drop=True)
    num, cat = list(data.numerical_features), list(data.categorical_features)
    if encoding == "fixed":
        X_train = _encode_fixed(X_train, num, cat)
        X_test = _encode_fixed(X_test, num, cat)
    n = len(y_train)
    rng = np.random.default_rng(random_state)
    forget = np.zeros(n, dtype=bool)
    forget[rng.choice(n, max(1, round(forget_fraction * n)), replace=False)] = True
    return _Split(X_train, y_train, X_test, y_test, forget, encoding, num, cat)


def _make_model(method, split: _Split):
    """``UnlearningClassifier(LogisticRegression())``, behind the preprocessing."""
    clf = UnlearningClassifier(LogisticRegression(), method=method)
    if split.encoding == "fixed":
        return clf
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from .pipeline import make_pipeline

    return make_pipeline(
        make_column_transformer(
            (StandardScaler(), split.numeric),
            (OneHotEncoder(handle_unknown="ignore"), split.categorical),
        ),
        clf,
    )


def _theta(model) -> np.ndarray:
    """Coefficients and intercept of the (updated) logistic regression."""
    est = model[-1].estimator_ if hasattr(model, "steps") else model.estimator_
    return np.concatenate([np.ravel(est.coef_), np.ravel(est.intercept_)])


def _run(random_state=0, forget_fraction=0.05, encoding="auto") -> pd.DataFrame:
    split = _prepare(random_state, forget_fraction, encoding)
    X_forget, y_forget = split.rows(split.forget)
    X_keep, y_keep = split.rows(~split.forget)
    results, notes = [], []
    # the problem is tiny: extra BLAS threads only add overhead (and noise on a
    # busy machine)
    with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # the wrapped model's own solver may stop early: ``fit`` polishes it
        warnings.simplefilter("ignore", ConvergenceWarning)
        for label, method, needs_retain in _METHODS:
            model = _make_model(method, split).fit(split.X_train, split.y_train)
            kwargs = {"X_retain": X_keep, "y_retain": y_keep} if needs_retain else {}
            t0 = time.perf_counter()
            model.unlearn(X_forget, y_forget, **kwargs)
            seconds = time.perf_counter() - t0
            results.append((label, seconds, model))
    for w in caught:
        message = str(w.message)
        if message not in notes:
            notes.append(message)
    _, retrain_s, retrained = results[-1]
    theta_ref = _theta(retrained)
    proba_ref = retrained.predict_proba(split.X_test)
    rows = []
    for label, seconds, model in results:
        rows.append(
            {
                "method": label,
                "update_ms": 1e3 * seconds,
                "speedup_vs_retrain": retrain_s / seconds,
                "param_distance": float(
                    np.linalg.norm(_theta(model) - theta_ref)
                    / np.linalg.norm(theta_ref)
                ),
                "max_proba_diff": float(
                    np.max(np.abs(model.predict_proba(split.X_test) - proba_ref))
                ),
                "test_accuracy": float(model.score(split.X_test, split.y_test)),
            }
        )
    table = pd.DataFrame(rows)
    table.attrs.update(
        encoding=split.encoding,
        n_train=len(split.y_train),
        n_test=len(split.y_test),
        n_forget=int(split.forget.sum()),
        notes=notes,
    )
    return table


def run_demo(random_state=0, forget_fraction=0.05) -> pd.DataFrame:
    """Forget training rows of German credit with every method and compare.

    Loads the bundled German credit data, holds out a stratified 25 % test
    split, and fits ``UnlearningClassifier(LogisticRegression())`` on the
    training rows: with numeric columns standardised and categorical ones
    one-hot encoded by a :func:`sklearn_unlearn.pipeline.make_pipeline`
    (whose scaler forgets rows together with the model), or, where that
    module is not available, after a fixed data-independent encoding
    (``log1p`` of the numeric columns, one-hot over the category codes listed
    in the dataset description). A random ``forget_fraction`` of the training
    rows is then forgotten with each method, every time from a fresh fit:
    ``Newton()``, ``Newton()`` given the retained rows (it refines on them),
    ``FirstOrder()``, ``SSSE()`` and ``Retrain()`` (given the retained rows
    too). ``Retrain`` is the reference the others are compared with.

    Parameters
    ----------
    random_state : int, default=0
        Seed of the train/test split and of the choice of rows to forget.
    forget_fraction : float, default=0.05
        Fraction of the training rows to forget, in (0, 1).

    Returns
    -------
    table : pandas.DataFrame
        One row per method, in the order above, with columns

        - ``method``: the method's name;
        - ``update_ms``: wall-clock time of the ``unlearn`` call, in ms;
        - ``speedup_vs_retrain``: the ``retrain`` row's time over this one;
        - ``param_distance``: ``||theta - theta_retrain|| / ||theta_retrain||``
          over coefficients and intercept;
        - ``max_proba_diff``: largest absolute difference between this
          model's and the retrained model's ``predict_proba`` on the test set;
        - ``test_accuracy``: accuracy on the test set.

        ``table.attrs`` holds ``encoding`` (``"pipeline"`` or ``"fixed"``),
        ``n_train``, ``n_test``, ``n_forget`` and ``notes`` (warnings raised
        on the way, such as preprocessing state that still depends on the
        forgotten rows).

    Examples
    --------
    >>> from sklearn_unlearn._demo import run_demo
    >>> table = run_demo()
    >>> table["method"].tolist()
    ['newton', 'newton, retained rows', 'first_order', 'ssse', 'retrain']
    >>> table.shape
    (5, 6)
    """
    return _run(random_state, forget_fraction, "auto")


def format_table(table: pd.DataFrame) -> str:
    """The demo table as aligned text, with readable headers."""
    shown = pd.DataFrame(
        {
            "method": table["method"],
            "update time (ms)": table["update_ms"].map(lambda v: f"{v:.2f}"),
            "speed-up over retraining": table["speedup_vs_retrain"].map(
                lambda v: f"{v:.1f}x"
            ),
            "param. distance to retrained": table["param_distance"].map(
                lambda v: f"{v:.2e}"
            ),
            "max |d predict_proba|": table["max_proba_diff"].map(lambda v: f"{v:.2e}"),
            "test accuracy": table["test_accuracy"].map(lambda v: f"{v:.3f}"),
        }
    )
    return shown.to_string(index=False)
