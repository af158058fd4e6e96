"""A sampled third derivative of a linear model's data term: the error estimate.

A Newton step ``s = -H'^{-1} g`` taken from the optimum of the old objective
leaves, by Taylor's theorem, the gradient

    grad J'(theta + s) = 1/2 T'[s, s] + O(||s||^3),

with ``T' = sum_i c_i l'''(eta_i) x~_i (x) x~_i (x) x~_i`` the third
derivative of the new data term (``l'''`` the loss's third derivative in the
linear predictor). The step therefore lands about

    e = ||H'^{-1} 1/2 T'[s, s]||

from the new optimum: the leading error term that the certified bound of Guo
et al. (2020) replaces by its worst case ``L3 * R * ||s||_G^2 / 2 / mu``, which
ignores that ``l'''`` changes sign (a logistic loss's is positive below
``p = 1/2`` and negative above), hence its factor of 1e3 to 1e6.

``T'`` is estimated from a fixed uniform sample of the rows, kept current by
every request: a row belongs to the sample when the first word of its keyed
fingerprint lies below a threshold (so that a row's membership is decided by
the secret key alone, and rows added later are sampled at the same rate).
The sample's tensor ``sum_sample c_i l'''_i x~_i^(x)3`` is scaled by the total
row weight over the sample's. Each sampled row's coefficient ``c_i l'''_i`` is
kept beside its fingerprint, so that a forgotten row's term leaves the tensor
as it entered (up to rounding) (its features come with the request). A change of
input features (a downdated scaler, ``[z_old, 1] = M [z_new, 1]``) maps the
tensor by ``M^{-1}`` along each of its three axes; it is kept in the
coordinates of the fit with the accumulated map beside it, so that a request
costs ``O(d^2)`` rather than ``O(d^4)``.

Supported: single-output losses (binary logistic, least squares, log-link
GLMs) with at most :data:`MAX_COLUMNS` columns (the tensor holds
``d^2 (d + 1) / 2`` floats, its symmetric half: 4 MiB at ``d = 101``). A
least-squares loss has ``T = 0``: its Newton step is exact and no tensor is
kept.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.linalg.blas import dgemm

from ..utils._out_of_core import ChunkedRows

__all__ = ["MAX_COLUMNS", "SAMPLE_ROWS", "SampledThirdDerivative"]

#: rows sampled for the tensor (its standard error falls as ``1/sqrt``)
SAMPLE_ROWS = 2000
#: widest model (columns incl. intercept) whose tensor is kept
MAX_COLUMNS = 128
_TWO64 = float(2**64)
_CHUNK = 256


def _design(adapter, X) -> np.ndarray:
    Xd = X.toarray() if hasattr(X, "toarray") else np.asarray(X, dtype=np.float64)
    if adapter.fit_intercept:
        Xd = np.hstack([Xd, np.ones((Xd.shape[0], 1))])
    return Xd


@lru_cache(maxsize=8)
def _pairs(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``k <= l``: the tensor is symmetric, half of it is kept."""
    return np.triu_indices(d)


@lru_cache(maxsize=8)
def _pair_weights(d: int) -> np.ndarray:
    k, l = _pairs(d)
    return np.where(k == l, 1.0, 2.0)


def _cubes(Xt: np.ndarray, w: np.ndarray, out: np.ndarray | None = None):
    """``sum_i w_i x_i (x) x_i (x) x_i`` as ``(d, d (d + 1) / 2)``, ``k <= l`` only.

    Added to ``out`` in place when given.
    """
    d = Xt.shape[1]
    k, l = _pairs(d)
    if out is None:
        out = np.zeros((d, len(k)))
    for start in range(0, len(w), _CHUNK):
        s = slice(start, start + _CHUNK)
        pairs = Xt[s][:, k] * Xt[s][:, l]
        weighted = Xt[s] * w[s, None]
        if out.flags.c_contiguous:  # out^T += pairs^T weighted, in place (BLAS)
            dgemm(1.0, pairs.T, weighted, beta=1.0, c=out.T, overwrite_c=1)
        else:
            out += weighted.T @ pairs
    return out


def _as_tuples(keys) -> list[tuple[int, int]]:
    return [tuple(k) for k in np.asarray(keys, dtype=np.uint64).tolist()]


class SampledThirdDerivative:
    """The sampled third derivative ``T`` of a linear model's data term.

    Build it with :meth:`build`; it never holds a row, only the tensor of
    the sampled rows, each sampled row's scalar coefficient beside its keyed
    fingerprint, and the change of coordinates since the fit.

    Attributes
    ----------
    threshold_ : int
        A row is sampled when its fingerprint's first word is below it.
    sample_weight_ : float
        Total row weight of the sampled rows that remain.
    """

    def __init__(self, tensor, coefficients, threshold, sample_weight):
        self.tensor_ = tensor
        self._coefficients = coefficients  # key -> [c_i l'''_i of each copy]
        self.threshold_ = int(threshold)
        self.sample_weight_ = float(sample_weight)
        self._to_current = None  # B: x~_current = B x~_fit (None: identity)
        self._to_fit = None  # B^{-1}
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []

    # ------------------------------------------------------------ building
    @classmethod
    def supports(cls, adapter) -> bool:
        """Whether ``adapter``'s model gets a tensor (single output, narrow)."""
        third = getattr(adapter.loss, "third_derivative", None)
        return (
            third is not None
            and adapter.n_outputs == 1
            and adapter.n_cols <= MAX_COLUMNS
            and not adapter.is_quadratic
        )

    @classmethod
    def build(cls, adapter, theta, X, y_enc, c, keys, n_rows: int = SAMPLE_ROWS):
        """The sample of ``n_rows`` rows (in expectation) of the fitted rows.

        Returns None when the model is not supported (see :meth:`supports`).
        """
        if not cls.supports(adapter) or isinstance(X, ChunkedRows):
            return None
        n = len(c)
        rate = min(1.0, n_rows / max(n, 1))
        threshold = 2**64 if rate >= 1.0 else int(rate * _TWO64)
        new = cls(None, {}, threshold, 0.0)
        chosen = np.flatnonzero(new.selected(keys))
        Xt = _design(adapter, X[chosen])
        coef = c[chosen] * new._third(adapter, theta, Xt, y_enc[chosen])
        new.tensor_ = _cubes(Xt, coef)
        new.sample_weight_ = float(np.sum(c[chosen]))
        for key, value in zip(_as_tuples(keys[chosen]), coef.tolist(), strict=True):
            new._coefficients.setdefault(key, []).append(value)
        return new

    def selected(self, keys) -> np.ndarray:
        """Which of the rows with fingerprints ``keys`` belong to the sample."""
        keys = np.asarray(keys, dtype=np.uint64).reshape(-1, 2)
        if self.threshold_ >= 2**64:
            return np.ones(len(keys), dtype=bool)
        return keys[:, 0] < np.uint64(self.threshold_)

    @staticmethod
    def _third(adapter, theta, Xt, y_enc) -> np.ndarray:
        eta = Xt @ theta
        return adapter.loss.third_derivative(eta[:, None], y_enc)

    # ------------------------------------------------------------ requests
    def _fit_coordinates(self, Xt: np.ndarray) -> np.ndarray:
        return Xt if self._to_fit is None else Xt @ self._to_fit.T

    def with_request(self, adapter, theta, remove, keys_remove, add, keys_add):
        """A copy that reflects a request's rows (``Rows`` in current features).

        The tensor itself changes only at :meth:`commit`; until then the
        request's sampled rows are held as pending terms, so that a refused
        request costs nothing and changes nothing.
        """
        new = object.__new__(SampledThirdDerivative)
        new.__dict__.update(self.__dict__)
        new._pending = list(self._pending)
        for rows, keys, sign in ((remove, keys_remove, -1.0), (add, keys_add, 1.0)):
            if rows.n == 0:
                continue
            chosen = np.flatnonzero(new.selected(keys))
            if not len(chosen):
                continue
            if new._coefficients is self._coefficients:  # copied on first write
                new._coefficients = dict(self._coefficients)
            Xt = _design(adapter, rows.X[chosen])
            if sign > 0:
                coef = rows.c[chosen] * self._third(adapter, theta, Xt, rows.y[chosen])
                for key, value in zip(
                    _as_tuples(keys[chosen]), coef.tolist(), strict=True
                ):
                    new._coefficients[key] = [*new._coefficients.get(key, []), value]
            else:
                coef = np.empty(len(chosen))
                fallback = self._third(adapter, theta, Xt, rows.y[chosen])
                for j, key in enumerate(_as_tuples(keys[chosen])):
                    held = list(new._coefficients.get(key, []))
                    # the term as it entered; a row sampled under another
                    # key would not be held: its term at the current point
                    coef[j] = held.pop(0) if held else rows.c[chosen[j]] * fallback[j]
                    if held:
                        new._coefficients[key] = held
                    else:
                        new._coefficients.pop(key, None)
            new.sample_weight_ += sign * float(np.sum(rows.c[chosen]))
            new._pending.append((self._fit_coordinates(Xt), sign * coef))
        return new

    def half_contraction(self, step, total_weight: float) -> np.ndarray | None:
        """``1/2 T[s, s]`` for the rows that remain, scaled to ``total_weight``.

        ``step`` is a parameter step in the current coordinates. Returns None
        when no sampled row remains.
        """
        if self.sample_weight_ <= 0:
            return None
        s = np.asarray(step, dtype=np.float64).ravel()
        u = s if self._to_current is None else self._to_current.T @ s
        k, l = _pairs(len(u))
        # each off-diagonal pair stands for two entries of the full tensor
        v = self.tensor_ @ (_pair_weights(len(u)) * u[k] * u[l])
        for Xf, coef in self._pending:
            v += Xf.T @ (coef * (Xf @ u) ** 2)
        if self._to_current is not None:
            v = self._to_current @ v
        return 0.5 * (total_weight / self.sample_weight_) * v

    def commit(self) -> None:
        """Fold the pending terms into the tensor: the request is in.

        In place: the tensor is the fitted estimator's, and the state before
        the request (which shares it) is dropped by the same commit.
        """
        for Xf, coef in self._pending:
            _cubes(Xf, coef, out=self.tensor_)
        self._pending = []

    def reparameterized(self, M: np.ndarray, M_inv: np.ndarray):
        """A copy for new input features with ``[z_old, 1] = M [z_new, 1]``."""
        new = object.__new__(SampledThirdDerivative)
        new.__dict__.update(self.__dict__)
        B = np.eye(len(M)) if self._to_current is None else self._to_current
        B_inv = np.eye(len(M)) if self._to_fit is None else self._to_fit
        new._to_current = M_inv @ B
        new._to_fit = B_inv @ M
        return new

    def without_columns(self, keep):
        """A copy for a model whose input columns are only ``keep``.

        The tensor stays in the coordinates of the fit; the maps between the
        fit's and the current columns become rectangular,
        ``x~_current = B[keep] x~_fit`` and ``x~_fit = B^{-1}[:, keep] x~_current``,
        which holds for every row whose dropped columns are zero (every
        remaining row: a column is dropped when no remaining row uses it).
        """
        if self._pending:  # pragma: no cover - only between check and commit
            raise RuntimeError("a request is in progress")
        keep = np.asarray(keep, dtype=np.intp).reshape(-1)
        new = object.__new__(SampledThirdDerivative)
        new.__dict__.update(self.__dict__)
        d_fit = self.tensor_.shape[0]
        B = np.eye(d_fit) if self._to_current is None else self._to_current
        B_inv = np.eye(d_fit) if self._to_fit is None else self._to_fit
        new._to_current = B[keep, :].copy()
        new._to_fit = B_inv[:, keep].copy()
        new._pending = []
        return new

    def __getstate__(self):
        state = self.__dict__.copy()
        if state.get("_pending"):  # only between a request's check and commit
            raise RuntimeError("a request is in progress; pickle after it returns")
        return state
