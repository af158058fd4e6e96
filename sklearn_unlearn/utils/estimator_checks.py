"""Checks every unlearning estimator must pass, beside scikit-learn's own.

Like imbalanced-learn's ``check_samplers_*`` for ``fit_resample``, these test
our new verbs: an unlearned model must be (close to) a refit, a bad request
must change nothing, and no forgotten row may survive in the pickle.
"""

from __future__ import annotations

import pickle
from functools import partial

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.datasets import make_classification, make_regression
from sklearn.utils.estimator_checks import parametrize_with_checks

__all__ = [
    "check_unlearn_forgets_rows",
    "check_unlearn_is_atomic",
    "check_unlearn_matches_refit",
    "parametrize_with_unlearn_checks",
]

_N, _D, _K = 120, 4, 6


def _data(estimator, seed=0):
    if is_classifier(estimator):
        X, y = make_classification(
            n_samples=_N,
            n_features=_D,
            n_informative=3,
            n_redundant=0,
            random_state=seed,
        )
    else:
        X, y = make_regression(
            n_samples=_N, n_features=_D, noise=1.0, random_state=seed
        )
        y = np.abs(y) / 10 + 0.1  # positive, so that Poisson/Gamma models fit too
    # distinctive values, so that a forgotten row's bytes are recognisable
    X = np.round(X, 3) + np.pi * 1e-4
    return X, y


def _output(estimator, X):
    for name in ("decision_function", "predict"):
        if hasattr(estimator, name):
            return np.asarray(getattr(estimator, name)(X), dtype=float)
    raise TypeError(
        f"{type(estimator).__name__} has neither decision_function nor predict"
    )


def check_unlearn_matches_refit(name, estimator):
    """``unlearn`` lands nearer a refit on the remaining rows than doing nothing.

    The refit is the same estimator fitted from scratch on the remaining
    rows (polished to its exact optimum); the comparison is on its outputs.

    Parameters
    ----------
    name : str
        The estimator's name, for messages.
    estimator : estimator instance
        An unfitted unlearning estimator.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_unlearn import UnlearningRegressor
    >>> from sklearn_unlearn.utils.estimator_checks import (
    ...     check_unlearn_matches_refit)
    >>> check_unlearn_matches_refit("ridge", UnlearningRegressor(Ridge()))
    """
    X, y = _data(estimator)
    full = clone(estimator).fit(X, y)
    before = _output(full, X[_K:])
    full.unlearn(X[:_K], y[:_K])
    ref = _output(clone(estimator).fit(X[_K:], y[_K:]), X[_K:])
    err_unlearn = np.max(np.abs(_output(full, X[_K:]) - ref))
    err_nothing = np.max(np.abs(before - ref))
    assert err_unlearn < err_nothing or err_unlearn < 1e-10, (
        f"{name}: after unlearn the outputs are {err_unlearn:.3g} from a refit, "
        f"not closer than doing nothing ({err_nothing:.3g})."
    )


def check_unlearn_is_atomic(name, estimator):
    """A bad request raises ``ValueError`` and leaves the model byte-for-byte as it was.

    Parameters
    ----------
    name : str
    estimator : estimator instance
        An unfitted unlearning estimator.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_unlearn import UnlearningRegressor
    >>> from sklearn_unlearn.utils.estimator_checks import (
    ...     check_unlearn_is_atomic)
    >>> check_unlearn_is_atomic("ridge", UnlearningRegressor(Ridge()))
    """
    X, y = _data(estimator)
    model = clone(estimator).fit(X[_K:], y[_K:])
    before = pickle.dumps(model)
    bad_requests = [
        (X[:1], y[:1]),  # never trained on
        (np.repeat(X[_K : _K + 1], 2, axis=0), np.repeat(y[_K : _K + 1], 2)),
        (np.full((1, _D), np.nan), y[:1]),  # NaN
        (X[_K : _K + 1, :-1], y[_K : _K + 1]),  # wrong width
    ]
    for X_bad, y_bad in bad_requests:
        try:
            model.unlearn(X_bad, y_bad)
        except ValueError:
            pass
        else:
            raise AssertionError(f"{name}: a bad unlearn request was accepted.")
        assert pickle.dumps(model) == before, f"{name}: a failed request changed it."


def check_unlearn_forgets_rows(name, estimator):
    """After ``unlearn`` the pickle holds no forgotten row's bytes.

    Parameters
    ----------
    name : str
    estimator : estimator instance
        An unfitted unlearning estimator.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_unlearn import UnlearningRegressor
    >>> from sklearn_unlearn.utils.estimator_checks import (
    ...     check_unlearn_forgets_rows)
    >>> check_unlearn_forgets_rows("ridge", UnlearningRegressor(Ridge()))
    """
    X, y = _data(estimator)
    model = clone(estimator).fit(X, y).unlearn(X[:_K], y[:_K])
    blob = pickle.dumps(model)
    for row in X[:_K]:
        for dtype in (np.float64, np.float32):
            assert row.astype(dtype).tobytes() not in blob, (
                f"{name}: a forgotten row survives in the pickle ({dtype.__name__})."
            )


_UNLEARN_CHECKS = (
    check_unlearn_matches_refit,
    check_unlearn_is_atomic,
    check_unlearn_forgets_rows,
)


def _unlearn_checks(estimator):
    name = type(estimator).__name__
    for check in _UNLEARN_CHECKS:
        yield estimator, partial(check, name)


def parametrize_with_unlearn_checks(estimators):
    """``pytest.mark.parametrize`` over scikit-learn's checks and ours.

    Parameters
    ----------
    estimators : list of estimator instances

    Returns
    -------
    decorator
        For a test function ``test(estimator, check)`` that calls ``check(estimator)``.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_unlearn import UnlearningRegressor
    >>> from sklearn_unlearn.utils.estimator_checks import (
    ...     check_unlearn_matches_refit)
    >>> check_unlearn_matches_refit("ridge", UnlearningRegressor(Ridge()))
    """
    import pytest

    sklearn_marker = parametrize_with_checks(estimators)
    params = list(sklearn_marker.args[1])
    for est in estimators:
        for estimator, check in _unlearn_checks(est):
            params.append(
                pytest.param(estimator, check, id=f"{est!r}-{check.func.__name__}")
            )
    return pytest.mark.parametrize(
        "estimator, check", params, ids=sklearn_marker.kwargs.get("ids")
    )
