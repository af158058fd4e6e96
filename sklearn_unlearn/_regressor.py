"""UnlearningRegressor: a regressor that can forget training rows."""

from __future__ import annotations

from sklearn.base import RegressorMixin

from ._base import BaseUnlearner

__all__ = ["UnlearningRegressor"]


class UnlearningRegressor(RegressorMixin, BaseUnlearner):
    """Wrap a scikit-learn regressor so that it can forget or correct rows.

    Same contract as :class:`UnlearningClassifier`, for ``LinearRegression``,
    ``Ridge``, ``PoissonRegressor``, ``GammaRegressor`` and
    ``TweedieRegressor``. For the quadratic objectives (``LinearRegression``,
    ``Ridge``) ``Newton`` is exact.

    Parameters
    ----------
    estimator : estimator instance
        The regressor to wrap. A scikit-learn ``Pipeline`` is refused at
        ``fit`` (``TypeError``): put this estimator last in
        :func:`sklearn_unlearn.pipeline.make_pipeline` instead, which
        downdates the preprocessing too.
    method : {"newton", "first_order", "ssse", "retrain"} or UnlearningMethod, \
            default="newton"
    error_budget : float, default=None
        As for :class:`UnlearningClassifier`; refused at ``fit`` for log-link
        GLMs (Poisson, Gamma, Tweedie with a log link), whose steps carry
        no bound.
    polish : bool, default=True
        As for :class:`UnlearningClassifier`.
    fingerprint_key : FingerprintKey, default=None
        The secret keying the fingerprints of the training rows (the ledger's
        and those that check requests); ``None`` draws a random key at
        ``fit``, kept in the model. See :class:`~sklearn_unlearn.FingerprintKey`
        for a key held outside the model (and its pickles).

    Attributes
    ----------
    estimator_ : estimator instance
    adapter_ : LinearAdapter
    method_ : UnlearningMethod
    state_ : UnlearnState
    fingerprints_ : RowMultiset
    fingerprint_key_ : FingerprintKey
    ledger_ : Ledger
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_unlearn import UnlearningRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 3)); y = X @ [1.0, 2.0, 3.0] + rng.normal(size=100)
    >>> reg = UnlearningRegressor(Ridge(alpha=1.0)).fit(X, y).unlearn(X[:10], y[:10])
    >>> ref = Ridge(alpha=1.0).fit(X[10:], y[10:])
    >>> bool(np.allclose(reg.estimator_.coef_, ref.coef_))
    True
    """

    _is_regressor = True
