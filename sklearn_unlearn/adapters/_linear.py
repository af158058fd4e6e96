"""Exact derivatives of scikit-learn's smooth convex linear models.

Every supported model minimises, in scikit-learn's own scaling,

    J(theta) = sum_i c_i * loss(y_i, x~_i W^T) + (lam / 2) * ||coef||^2

where ``W`` is the ``(K, d~)`` parameter matrix (``coef_`` rows, with
``intercept_`` as last column when fitted, ``x~ = [x, 1]``), ``theta`` is ``W``
flattened row by row, ``c_i`` the row weight (``sample_weight`` times the class
weight) and the intercept is never penalised:

====================================  ===================  ==========================
model                                 loss                 ``lam``
====================================  ===================  ==========================
``LogisticRegression(C)``             log loss             ``1 / C`` (0 if no penalty)
``LinearRegression``                  ``(y - eta)^2``      0
``Ridge(alpha)``, ``RidgeClassifier`` ``(y - eta)^2``      ``2 alpha``
``PoissonRegressor(alpha)``           half deviance        ``alpha * sum_i c_i``
``GammaRegressor``, ``Tweedie...``    half deviance        ``alpha * sum_i c_i``
====================================  ===================  ==========================

``LogisticRegression``'s ``C * sum(loss) + 0.5 ||coef||^2`` is divided by ``C``;
the GLMs' ``sum_i c_i loss_i / sum_i c_i + alpha/2 ||coef||^2`` is multiplied by
``sum_i c_i``. Neither changes the minimiser; the second makes the penalty of
a GLM grow with the total weight of the rows that remain, which is exactly
what a refit after a deletion does.

Every sum over rows (loss value, gradient, Hessian, Gram matrix, row norms,
the linear predictor) also accepts
:class:`~sklearn_unlearn.utils._out_of_core.ChunkedRows`, rows of a memmap
or dask array that are read one float64 chunk at a time; the sum is then
taken over chunks, in parallel through dask for a dask array.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import (
    GammaRegressor,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    RidgeClassifier,
    TweedieRegressor,
)
from sklearn.utils.validation import check_is_fitted

from ..utils._out_of_core import ChunkedRows
from ._linear_steps import LinearStepMixin
from ._losses import BinomialLoss, HalfTweedieLogLoss, MultinomialLoss, SquaredLoss

__all__ = ["LinearAdapter", "SUPPORTED_LINEAR_MODELS", "check_linear_model"]

SUPPORTED_LINEAR_MODELS = (
    LogisticRegression,
    LinearRegression,
    Ridge,
    RidgeClassifier,
    PoissonRegressor,
    GammaRegressor,
    TweedieRegressor,
)

_SUPPORTED_NAMES = (
    "LogisticRegression (l2 or no penalty, solver other than liblinear), "
    "LinearRegression, Ridge, RidgeClassifier, PoissonRegressor, GammaRegressor, "
    "TweedieRegressor"
)


def _logistic_penalty(est: LogisticRegression) -> str | None:
    """The penalty a LogisticRegression really fits, resolving deprecations."""
    if est.penalty == "deprecated":
        l1 = est.l1_ratio
        if l1 not in (0, 0.0, None):
            return "l1" if l1 == 1 else "elasticnet"
        return None if est.C == np.inf else "l2"
    if est.penalty == "l2" and est.C == np.inf:
        return None
    return est.penalty


def check_linear_model(estimator) -> None:
    """Refuse, with a message naming the model, anything we cannot do exactly.

    Parameters
    ----------
    estimator : estimator instance
        The (possibly unfitted) model to check.

    Raises
    ------
    TypeError
        If the model is not one of the supported linear models.
    ValueError
        If the model is supported but its hyperparameters make the objective
        non-smooth or differently scaled (l1/elasticnet, ``positive=True``,
        liblinear, per-target alphas, ``class_weight="balanced"``).

    Examples
    --------
    >>> from sklearn.linear_model import Lasso, LogisticRegression
    >>> from sklearn_unlearn.adapters import check_linear_model
    >>> check_linear_model(LogisticRegression())  # supported: no error
    >>> try:
    ...     check_linear_model(Lasso())
    ... except TypeError as exc:
    ...     print(str(exc)[:46])
    Lasso is not supported by the linear adapter:
    """
    name = type(estimator).__name__
    if type(estimator) not in SUPPORTED_LINEAR_MODELS:
        raise TypeError(
            f"{name} is not supported by the linear adapter: exact unlearning "
            f"needs a smooth convex linear model; supported are {_SUPPORTED_NAMES}."
        )
    if isinstance(estimator, LogisticRegression):
        penalty = _logistic_penalty(estimator)
        if penalty not in ("l2", None):
            raise ValueError(
                f"LogisticRegression with penalty={penalty!r} is not smooth and "
                "cannot be unlearned exactly; use an l2 penalty (l1_ratio=0) or "
                f"none (C=np.inf). Supported: {_SUPPORTED_NAMES}."
            )
        if estimator.solver == "liblinear":
            raise ValueError(
                "LogisticRegression(solver='liblinear') penalises the intercept "
                "through intercept_scaling, a different objective; use 'lbfgs', "
                "'newton-cholesky', 'newton-cg', 'sag' or 'saga'."
            )
    if getattr(estimator, "positive", False):
        raise ValueError(
            f"{name}(positive=True) is a constrained problem; the Newton update "
            "assumes an unconstrained optimum. Use positive=False."
        )
    if isinstance(estimator, Ridge | RidgeClassifier) and np.ndim(estimator.alpha):
        raise ValueError(f"{name} with one alpha per target is not supported.")
    if getattr(estimator, "class_weight", None) == "balanced":
        raise ValueError(
            f"{name}(class_weight='balanced') recomputes every row's weight from "
            "the class counts, so deleting rows re-weights all others; pass an "
            "explicit dict of class weights instead."
        )
    if isinstance(estimator, TweedieRegressor):
        link = estimator.link
        if link == "auto":
            link = "identity" if estimator.power <= 0 else "log"
        if link == "identity" and estimator.power != 0:
            raise ValueError(
                "TweedieRegressor with an identity link is only supported for "
                "power=0 (normal); use link='log'."
            )


class LinearAdapter(LinearStepMixin):
    """The math of one fitted scikit-learn linear model, with no data inside.

    The adapter knows the loss, the penalty and the parameter layout of the
    model it was built from. It never stores rows or parameters: every method
    takes them as arguments, so it is safe to keep in a fitted estimator.

    Parameters
    ----------
    estimator : estimator instance
        A fitted supported linear model (see :func:`check_linear_model`).
    chunk_size : int, default=65536
        Rows processed at once in gradient and Hessian sums, which bounds
        the memory used whatever the number of rows.

    Attributes
    ----------
    loss : object
        Pointwise loss on the linear predictor (see ``_losses``).
    n_outputs : int
        Number of linear predictors ``K`` (1, or the number of classes).
    fit_intercept : bool
    n_features_in_ : int
    n_params : int
        ``K * (n_features_in_ + fit_intercept)``.
    classes_ : ndarray or None
    is_quadratic : bool
        True when the objective is quadratic, so one Newton step is exact.
    mean_scaled : bool
        True when scikit-learn averages the loss (GLMs), so the penalty in our
        scaling is ``alpha * total_weight``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_unlearn.adapters import LinearAdapter
    >>> X, y = np.arange(8.0).reshape(4, 2), np.array([0.0, 1.0, 1.0, 3.0])
    >>> ridge = Ridge(alpha=1.0).fit(X, y)
    >>> adapter = LinearAdapter(ridge)
    >>> theta = adapter.get_theta(ridge)
    >>> c = np.ones(4)
    >>> g = adapter.gradient(theta, X, adapter.encode_target(y), c)
    >>> g += adapter.penalty_gradient(theta, c.sum())
    >>> bool(np.allclose(g, 0.0, atol=1e-8))
    True
    """

    def __init__(self, estimator, *, chunk_size: int = 65536):
        check_linear_model(estimator)
        check_is_fitted(estimator)
        self.model_name = type(estimator).__name__
        self.chunk_size = int(chunk_size)
        self.fit_intercept = bool(estimator.fit_intercept)
        self.n_features_in_ = int(estimator.n_features_in_)
        self.classes_ = getattr(estimator, "classes_", None)
        self.class_weight = getattr(estimator, "class_weight", None)
        self.mean_scaled = False
        est = estimator
        if isinstance(est, LogisticRegression):
            binary = len(est.classes_) == 2
            self.loss = BinomialLoss() if binary else MultinomialLoss()
            self.n_outputs = 1 if binary else len(est.classes_)
            penalty = _logistic_penalty(est)
            self._lam = 0.0 if penalty is None else 1.0 / float(est.C)
        elif isinstance(est, RidgeClassifier):
            self.loss = SquaredLoss(1.0)
            self.n_outputs = 1 if len(est.classes_) == 2 else len(est.classes_)
            self._lam = 2.0 * float(est.alpha)
        elif isinstance(est, LinearRegression | Ridge):
            if np.ndim(est.coef_) != 1:
                raise ValueError(
                    f"{self.model_name} with a 2-d target is not supported; "
                    "fit one model per target."
                )
            self.loss = SquaredLoss(1.0)
            self.n_outputs = 1
            self._lam = 2.0 * float(getattr(est, "alpha", 0.0))
        else:  # the generalised linear models
            power = {PoissonRegressor: 1.0, GammaRegressor: 2.0}.get(
                type(est), getattr(est, "power", None)
            )
            link = getattr(est, "link", "log")
            if link == "auto":
                link = "identity" if power <= 0 else "log"
            self.loss = (
                SquaredLoss(0.5) if link == "identity" else HalfTweedieLogLoss(power)
            )
            self.n_outputs = 1
            self._lam = float(est.alpha)
            self.mean_scaled = True
        self.is_quadratic = isinstance(self.loss, SquaredLoss)
        self.n_cols = self.n_features_in_ + int(self.fit_intercept)
        self.n_params = self.n_outputs * self.n_cols

    # ------------------------------------------------------------------ layout
    def get_theta(self, estimator) -> np.ndarray:
        """Flat parameter vector ``theta`` of a fitted model."""
        coef = np.asarray(estimator.coef_, dtype=np.float64).reshape(
            self.n_outputs, self.n_features_in_
        )
        if self.fit_intercept:
            b = np.asarray(estimator.intercept_, dtype=np.float64).reshape(
                self.n_outputs, 1
            )
            coef = np.hstack([coef, b])
        return coef.ravel().copy()

    def set_theta(self, estimator, theta: np.ndarray) -> None:
        """Write ``theta`` into ``estimator.coef_``/``intercept_``, keeping shapes."""
        W = np.asarray(theta, dtype=np.float64).reshape(self.n_outputs, self.n_cols)
        coef_shape = np.shape(estimator.coef_)
        estimator.coef_ = W[:, : self.n_features_in_].reshape(coef_shape).copy()
        if self.fit_intercept:
            if np.ndim(estimator.intercept_) == 0:
                estimator.intercept_ = np.float64(W[0, -1])
            else:
                estimator.intercept_ = (
                    W[:, -1].reshape(np.shape(estimator.intercept_)).copy()
                )

    @property
    def penalty_mask(self) -> np.ndarray:
        """1.0 for penalised entries of ``theta`` (coefficients), 0.0 for intercepts."""
        m = np.ones((self.n_outputs, self.n_cols))
        if self.fit_intercept:
            m[:, -1] = 0.0
        return m.ravel()

    def penalty_strength(self, total_weight: float) -> float:
        """``lam`` of the objective for rows whose weights sum to ``total_weight``."""
        return self._lam * total_weight if self.mean_scaled else self._lam

    def penalty_gradient(self, theta: np.ndarray, total_weight: float) -> np.ndarray:
        """Gradient of ``lam/2 ||coef||^2``."""
        return self.penalty_strength(total_weight) * self.penalty_mask * theta

    def null_directions(self) -> np.ndarray:
        """Orthonormal directions along which the objective is flat by design.

        A multinomial model is invariant to adding the same vector to every
        class's row of ``W`` in the unpenalised columns (the intercept, or all
        columns without a penalty); those directions span the Hessian's null
        space and no gradient ever points along them.
        """
        if not isinstance(self.loss, MultinomialLoss):
            return np.zeros((self.n_params, 0))
        cols = [self.n_cols - 1] if self.fit_intercept else []
        if self._lam == 0:
            cols = list(range(self.n_cols))
        Z = np.zeros((self.n_params, len(cols)))
        K = self.n_outputs
        for j, col in enumerate(cols):
            Z[np.arange(K) * self.n_cols + col, j] = 1.0 / np.sqrt(K)
        return Z

    # ----------------------------------------------------------------- targets
    def encode_target(self, y) -> np.ndarray:
        """Targets in the loss's encoding (0/1, class index, +-1 columns, float)."""
        y = np.asarray(y)
        if self.classes_ is None:
            return y.astype(np.float64)
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        if np.any(self.classes_[idx] != y):
            unseen = np.unique(y[self.classes_[idx] != y])
            raise ValueError(
                f"y contains labels {unseen.tolist()} not seen at fit; the model "
                f"knows {self.classes_.tolist()}."
            )
        if isinstance(self.loss, BinomialLoss):
            return (idx == 1).astype(np.float64)
        if isinstance(self.loss, MultinomialLoss):
            return idx.astype(np.float64)
        # RidgeClassifier: +1 for the class, -1 otherwise (one column if binary)
        if self.n_outputs == 1:
            return np.where(idx == 1, 1.0, -1.0)
        Y = -np.ones((len(idx), self.n_outputs))
        Y[np.arange(len(idx)), idx] = 1.0
        return Y

    def row_weights(self, y, sample_weight=None) -> np.ndarray:
        """Per-row weight ``c_i``: ``sample_weight`` times the class weight."""
        n = len(y)
        c = (
            np.ones(n)
            if sample_weight is None
            else np.asarray(sample_weight, dtype=np.float64).copy()
        )
        if isinstance(self.class_weight, dict):
            y = np.asarray(y)
            for label, w in self.class_weight.items():
                c[y == label] *= w
        return c

    # ------------------------------------------------------------- derivatives
    def _chunks(self, n: int) -> Iterator[slice]:
        step = max(1, self.chunk_size)
        for start in range(0, n, step):
            yield slice(start, min(n, start + step))

    def _eta(self, W: np.ndarray, X) -> np.ndarray:
        coef = W[:, : self.n_features_in_]
        eta = np.asarray(X @ coef.T)
        if self.fit_intercept:
            eta = eta + W[:, -1]
        return eta

    def linear_predictor(self, theta: np.ndarray, X) -> np.ndarray:
        """``eta = X~ W^T`` of shape ``(n, K)``."""
        if isinstance(X, ChunkedRows):  # out of core: chunk by chunk
            return X.map_reduce(partial(self.linear_predictor, theta), how="concat")
        W = theta.reshape(self.n_outputs, self.n_cols)
        return self._eta(W, X)

    def _xt_dot(self, X, R: np.ndarray) -> np.ndarray:
        """``X~^T R`` for ``R`` of shape ``(n, m)``, shape ``(d~, m)``."""
        top = np.asarray(X.T @ R)
        if self.fit_intercept:
            top = np.vstack([top, R.sum(axis=0, keepdims=True)])
        return top

    def loss_value(self, theta, X, y_enc, c) -> float:
        """Weighted data term ``sum_i c_i loss_i``."""
        if isinstance(X, ChunkedRows):
            return X.map_reduce(partial(self.loss_value, theta), y_enc, c)
        total = 0.0
        for s in self._chunks(X.shape[0]):
            eta = self.linear_predictor(theta, X[s])
            total += float(np.dot(c[s], self.loss.value(eta, y_enc[s])))
        return total

    def objective(self, theta, X, y_enc, c) -> float:
        """Full objective ``J`` (data term plus penalty) on the given rows."""
        lam = self.penalty_strength(float(np.sum(c)))
        pen = 0.5 * lam * float(np.sum(self.penalty_mask * theta**2))
        return self.loss_value(theta, X, y_enc, c) + pen

    def gradient(self, theta, X, y_enc, c) -> np.ndarray:
        """Weighted data-term gradient ``sum_i c_i grad loss_i``, shape ``(p,)``."""
        if isinstance(X, ChunkedRows):
            return X.map_reduce(partial(self.gradient, theta), y_enc, c)
        G = np.zeros((self.n_cols, self.n_outputs))
        for s in self._chunks(X.shape[0]):
            eta = self.linear_predictor(theta, X[s])
            r, _ = self.loss.derivatives(eta, y_enc[s])
            G += self._xt_dot(X[s], r * c[s, None])
        return G.T.ravel()

    def per_sample_gradients(self, theta, X, y_enc) -> np.ndarray:
        """Unweighted per-row gradients ``grad loss_i``, shape ``(n, p)``."""
        if isinstance(X, ChunkedRows):
            raise TypeError(
                "per-sample gradients of out-of-core rows would need n * p floats "
                "in memory; use Newton, FirstOrder or Retrain with such rows."
            )
        eta = self.linear_predictor(theta, X)
        r, _ = self.loss.derivatives(eta, y_enc)
        Xt = X.toarray() if sp.issparse(X) else np.asarray(X)
        if self.fit_intercept:
            Xt = np.hstack([Xt, np.ones((Xt.shape[0], 1))])
        return (r[:, :, None] * Xt[:, None, :]).reshape(len(Xt), -1)

    def _sandwich(self, X, w: np.ndarray) -> np.ndarray:
        """``X~^T diag(w) X~``, shape ``(d~, d~)``."""
        if sp.issparse(X):
            XtWX = np.asarray((X.T @ sp.diags(w) @ X).todense())
            Xw = np.asarray(X.T @ w).ravel()
        elif np.all(w >= 0):
            # S^T S with S = diag(sqrt w) [X, 1]: numpy hands A^T A to syrk
            d = X.shape[1]
            S = np.empty((X.shape[0], d + self.fit_intercept))
            sw = np.sqrt(w)
            np.multiply(X, sw[:, None], out=S[:, :d])
            if self.fit_intercept:
                S[:, d] = sw
            return S.T @ S
        else:
            XtWX = X.T @ (X * w[:, None])
            Xw = w @ X
        if not self.fit_intercept:
            return XtWX
        d = self.n_features_in_
        H = np.empty((d + 1, d + 1))
        H[:d, :d] = XtWX
        H[:d, d] = H[d, :d] = Xw
        H[d, d] = w.sum()
        return H

    def hessian(self, theta, X, y_enc, c) -> np.ndarray:
        """Weighted data-term Hessian ``sum_i c_i hess loss_i``, shape ``(p, p)``."""
        if isinstance(X, ChunkedRows):
            return X.map_reduce(partial(self.hessian, theta), y_enc, c)
        K, m = self.n_outputs, self.n_cols
        H = np.zeros((K, m, K, m))
        for s in self._chunks(X.shape[0]):
            eta = self.linear_predictor(theta, X[s])
            _, A = self.loss.derivatives(eta, y_enc[s])
            if isinstance(self.loss, SquaredLoss):
                block = self._sandwich(X[s], A[:, 0, 0] * c[s])
                for k in range(K):
                    H[k, :, k, :] += block
                continue
            for k in range(K):
                for j in range(k, K):
                    block = self._sandwich(X[s], A[:, k, j] * c[s])
                    H[k, :, j, :] += block
                    if j != k:
                        H[j, :, k, :] += block.T
        return H.reshape(K * m, K * m)

    def newton_terms(self, theta, X, y_enc, c):
        """Data-term value, gradient and Hessian in one pass over the rows.

        The linear predictor of each chunk is formed once for the three
        (what one exact Newton step on the retained rows needs).

        Returns
        -------
        value : float
        gradient : ndarray of shape (p,)
        hessian : ndarray of shape (p, p)
        """
        if isinstance(X, ChunkedRows):
            return (
                self.loss_value(theta, X, y_enc, c),
                self.gradient(theta, X, y_enc, c),
                self.hessian(theta, X, y_enc, c),
            )
        K, m = self.n_outputs, self.n_cols
        value = 0.0
        G = np.zeros((m, K))
        H = np.zeros((K, m, K, m))
        W = theta.reshape(K, m)
        for s in self._chunks(X.shape[0]):
            eta = self._eta(W, X[s])
            value += float(np.dot(c[s], self.loss.value(eta, y_enc[s])))
            r, A = self.loss.derivatives(eta, y_enc[s])
            G += self._xt_dot(X[s], r * c[s, None])
            for k in range(K):
                for j in range(k, K):
                    if isinstance(self.loss, SquaredLoss) and j != k:
                        continue
                    block = self._sandwich(X[s], A[:, k, j] * c[s])
                    H[k, :, j, :] += block
                    if j != k:
                        H[j, :, k, :] += block.T
        return value, G.T.ravel(), H.reshape(K * m, K * m)

    def gram(self, X, c) -> np.ndarray:
        """Weighted Gram ``X~^T diag(c) X~`` used by the removal bound."""
        if isinstance(X, ChunkedRows):
            return X.map_reduce(self.gram, c)
        G = np.zeros((self.n_cols, self.n_cols))
        for s in self._chunks(X.shape[0]):
            G += self._sandwich(X[s], c[s])
        return G

    def _row_norms_sq(self, X) -> np.ndarray:
        sq = (
            np.asarray(X.multiply(X).sum(axis=1)).ravel()
            if sp.issparse(X)
            else np.einsum("ij,ij->i", X, X)
        )
        return sq + float(self.fit_intercept)

    def cubed_norm_sum(self, X, c) -> float:
        """``sum_i c_i ||x~_i||^3``, the weight of rows in the cache-error bound."""
        if X.shape[0] == 0:
            return 0.0
        if isinstance(X, ChunkedRows):
            return X.map_reduce(self.cubed_norm_sum, c)
        return float(np.dot(c, self._row_norms_sq(X) ** 1.5))

    def max_row_norm(self, X) -> float:
        """``max_i ||x~_i||``, the radius in the certified-removal bound."""
        if X.shape[0] == 0:
            return 0.0
        if isinstance(X, ChunkedRows):
            return X.map_reduce(self.max_row_norm, how="max")
        return float(np.sqrt(self._row_norms_sq(X).max()))
