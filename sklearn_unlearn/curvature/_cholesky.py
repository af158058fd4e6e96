"""Exact inverse curvature from a cached Cholesky factor, with low-rank updates."""

from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dpotrf as potrf
from scipy.linalg.lapack import dpotrs as potrs
from scipy.linalg.lapack import dtrtrs as trtrs

from ._base import CurvatureOperator, NotPositiveDefiniteError

__all__ = ["CholeskyCurvature", "cholesky_rank_one_update", "default_rank_limit"]

_EMPTY_FACTOR = np.zeros((0, 0))  # no rows: reshaped to (p, 0) where used


def default_rank_limit(p: int) -> int:
    """Largest update rank for which rank-one updates beat a refactorisation.

    A rank-one update is a Python loop over ``p`` columns (about 2 us each);
    a refactorisation is ``p^3 / 3`` flops in LAPACK (about 5 GFlop/s on one
    core). The two cross at ``rank = (p / 170)^2``: small models always
    refactor, wide ones update in place.
    """
    return int((p / 170.0) ** 2)


def cholesky_rank_one_update(L: np.ndarray, x: np.ndarray, sign: float) -> None:
    """Turn the lower factor ``L`` of ``A`` into that of ``A + sign * x x^T`` in place.

    The classic O(p^2) update/downdate (Golub & Van Loan, sec. 6.5.4): the
    Cholesky form of the Sherman-Morrison-Woodbury identity. It needs only the
    factor and the vector, so no row has to be kept for later.

    Raises
    ------
    NotPositiveDefiniteError
        If a downdate would make the matrix indefinite.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.curvature import cholesky_rank_one_update
    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> L = np.linalg.cholesky(A)
    >>> x = np.array([0.5, 1.0])
    >>> cholesky_rank_one_update(L, x, +1.0)
    >>> bool(np.allclose(L @ L.T, A + np.outer(x, x)))
    True
    """
    x = np.array(x, dtype=np.float64)
    p = L.shape[0]
    for k in range(p):
        Lkk = L[k, k]
        r2 = Lkk * Lkk + sign * x[k] * x[k]
        if not r2 > 0.0 or not np.isfinite(r2):
            raise NotPositiveDefiniteError(
                "the low-rank downdate leaves the curvature indefinite"
            )
        r = np.sqrt(r2)
        c, s = r / Lkk, x[k] / Lkk
        L[k, k] = r
        if k + 1 < p:
            L[k + 1 :, k] = (L[k + 1 :, k] + sign * s * x[k + 1 :]) / c
            x[k + 1 :] = c * x[k + 1 :] - s * L[k + 1 :, k]


_EPS = float(np.finfo(np.float64).eps)


class CholeskyCurvature(CurvatureOperator):
    """``H^{-1} v`` by triangular solves with a cached Cholesky factor of ``H``.

    ``H`` is the curvature of the objective on the rows that remain (an exact
    Hessian for linear models, plus optional damping). Removing or adding
    rows changes ``H`` by a low-rank term ``+- V V^T``: for a few rows the
    factor is updated in ``O(p^2)`` per rank (:func:`cholesky_rank_one_update`),
    for many it is recomputed from the downdated matrix in ``O(p^3)``, which is
    cheaper once the rank passes ``refactor_rank``.

    Parameters
    ----------
    matrix : ndarray of shape (p, p)
        Symmetric positive (semi-)definite curvature.
    null_directions : ndarray of shape (p, m), default=None
        Orthonormal directions along which the objective is flat by design
        (e.g. a multinomial model's intercept shift). ``sigma * Z Z^T`` is added
        to the factored matrix so that ``solve`` returns the minimum-norm
        solution for right-hand sides orthogonal to them.
    damping : float, default=0.0
        Added to the diagonal (Levenberg-Marquardt damping).
    refactor_rank : int, default=None
        Largest update rank done by rank-one updates; ``None`` picks
        :func:`default_rank_limit` (``(p / 170)^2``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.curvature import CholeskyCurvature
    >>> rng = np.random.default_rng(0)
    >>> A = rng.normal(size=(20, 3))
    >>> op = CholeskyCurvature(A.T @ A + np.eye(3))
    >>> V = A[:2].T  # remove two rows' contribution
    >>> op2 = op.updated(remove=V)
    >>> ref = np.linalg.solve(A[2:].T @ A[2:] + np.eye(3), np.ones(3))
    >>> bool(np.allclose(op2.solve(np.ones(3)), ref))
    True
    """

    def __init__(
        self, matrix, *, null_directions=None, damping=0.0, refactor_rank=None
    ):
        H = np.array(matrix, dtype=np.float64)
        H = 0.5 * (H + H.T)
        p = H.shape[0]
        self.matrix_ = H
        self.damping = float(damping)
        self.refactor_rank = refactor_rank
        Z = np.zeros((p, 0)) if null_directions is None else np.asarray(null_directions)
        self.null_directions_ = Z
        scale = float(np.mean(np.abs(np.diag(H)))) if p else 1.0
        self.null_scale_ = scale if scale > 0 else 1.0
        self.factor_ = self._factorize(H)
        self._low = None  # a lower bound on the smallest eigenvalue
        self._exact_low = None  # the last one computed exactly

    @property
    def n_params(self) -> int:
        return self.matrix_.shape[0]

    def _factorize(self, H):
        A = H + self.damping * np.eye(H.shape[0]) if self.damping else H
        if self.null_directions_.shape[1]:
            A = A + self.null_scale_ * (self.null_directions_ @ self.null_directions_.T)
        msg = (
            "the curvature is not positive definite (is the objective strictly "
            "convex on the remaining rows? add a penalty or damping)"
        )
        p = A.shape[0]
        if not p:
            return np.zeros((0, 0))
        L, info = potrf(A, lower=1, clean=1)
        if info != 0:
            raise NotPositiveDefiniteError(msg)
        # a singular matrix can factor with round-off-sized pivots: refuse
        # those too (a pivot^2 is a Schur complement, a lower bound's proxy).
        # A NaN or inf anywhere in A reaches a later pivot (each pivot
        # subtracts the squares of its row of L), so the comparison, False
        # for NaN, also refuses a non-finite matrix.
        low_pivot = float(L.diagonal().min())
        scale = float(np.abs(A.diagonal()).max())
        if not low_pivot * low_pivot > 100 * _EPS * p * scale:
            raise NotPositiveDefiniteError(msg)
        return L

    def _solve(self, v: np.ndarray) -> np.ndarray:
        x, info = potrs(self.factor_, v, lower=1)  # LAPACK, without a wrapper
        if info != 0:  # pragma: no cover - only on an invalid argument
            raise ValueError(f"LAPACK potrs failed (info={info}).")
        return x

    def updated(
        self, *, remove=None, add=None, shift=None, delta=None
    ) -> CholeskyCurvature:
        """A new operator for ``H - R R^T + A A^T + diag(shift) + delta``.

        ``self`` is left unchanged.

        Parameters
        ----------
        remove, add : ndarray of shape (p, r), default=None
            Low-rank factors of the curvature of the rows removed / added.
        shift : ndarray of shape (p,), default=None
            Diagonal change (a GLM's penalty grows with the total weight).
        delta : ndarray of shape (p, p), default=None
            A dense symmetric change, when many rows move at once.
        """
        p = self.n_params
        R = _EMPTY_FACTOR if remove is None else np.asarray(remove).reshape(p, -1)
        A = _EMPTY_FACTOR if add is None else np.asarray(add).reshape(p, -1)
        H = self.matrix_
        if R.shape[1]:
            H = H - R @ R.T
        if A.shape[1]:
            H = H + A @ A.T
        if shift is not None:
            H = H + np.diag(shift)
        if delta is not None:
            H = H + delta
        new = object.__new__(CholeskyCurvature)
        new.__dict__.update(self.__dict__)
        rank = R.shape[1] + A.shape[1]
        # a rank-one product x x^T is exactly symmetric: only sums need this
        exact = rank <= 1 and shift is None and delta is None
        new.matrix_ = H if exact else 0.5 * (H + H.T)
        new._low = self._tracked_low(R, shift, delta)
        limit = (
            self.refactor_rank
            if self.refactor_rank is not None
            else default_rank_limit(p)
        )
        has_shift = shift is not None and np.any(shift)
        if rank <= limit and not has_shift and delta is None:
            L = self.factor_.copy()
            for j in range(A.shape[1]):
                cholesky_rank_one_update(L, A[:, j], +1.0)
            for j in range(R.shape[1]):
                cholesky_rank_one_update(L, R[:, j], -1.0)
            new.factor_ = L
        else:
            new.factor_ = new._factorize(new.matrix_)
        return new

    def _tracked_low(self, R, shift, delta) -> float | None:
        """A lower bound on the smallest eigenvalue after an update (Weyl).

        Removing ``R R^T`` lowers it by at most ``||R||_2^2 <= ||R||_F^2``,
        and scales it by at least ``1 - ||L^{-1} R||_F^2`` (the removed rows'
        leverage), whichever is tighter;
        adding a positive semi-definite term never lowers it; a diagonal shift
        moves it by at least its smallest entry; a dense change by at least
        its smallest eigenvalue, bounded below by Gershgorin's discs and by
        ``-||delta||_F``. ``None`` (computed exactly when next asked) once
        the bound falls below half the last exact value, so that it never
        loosens a certificate by more than a factor 2.
        """
        if self._low is None:
            return None
        low = self._low - float(np.vdot(R, R))  # ||R||_F^2
        if R.shape[1] and not self.null_directions_.shape[1]:
            # A - R R^T >= (1 - rho) A with rho = ||L^{-1} R||_F^2 (the rows'
            # leverage; Cauchy-Schwarz: (r.v)^2 <= (r^T A^-1 r)(v^T A v)),
            # L L^T = A = H + damping I: a single row lowers the bound by
            # its leverage (about p / n), not by its squared norm
            U, info = trtrs(self.factor_, R, lower=1)
            rho = float(np.vdot(U, U)) if info == 0 else np.inf
            if rho < 1.0:
                kept = (1.0 - rho) * (self._low + self.damping) - self.damping
                low = max(low, kept)
        if shift is not None:
            low += min(0.0, float(np.min(shift)))
        if delta is not None:
            radius = np.sum(np.abs(delta), axis=1) - np.abs(np.diag(delta))
            gershgorin = float(np.min(np.diag(delta) - radius))
            low += min(0.0, max(gershgorin, -float(np.linalg.norm(delta))))
        if self._exact_low is None or low < 0.5 * self._exact_low:
            return None
        return low

    def congruence(self, transform, fixed_diagonal) -> CholeskyCurvature:
        """A new operator for ``transform(H - diag(f)) + diag(f)``.

        Used when the parameters are re-expressed linearly (``transform`` is
        ``A -> B A B^T``) while a diagonal part ``f`` (the penalty) stays put.
        """
        D = np.diag(fixed_diagonal)
        new = object.__new__(CholeskyCurvature)
        new.__dict__.update(self.__dict__)
        new.matrix_ = transform(self.matrix_ - D) + D
        new.matrix_ = 0.5 * (new.matrix_ + new.matrix_.T)
        new.factor_ = new._factorize(new.matrix_)
        new._low = new._exact_low = None
        return new

    def without(self, keep) -> CholeskyCurvature:
        """A new operator for the principal submatrix ``H[keep][:, keep]``.

        Used when parameters are dropped (a model input column that no
        remaining row uses). The factor is recomputed; the tracked lower
        bound on the smallest eigenvalue stays valid (Cauchy's interlacing:
        a principal submatrix's smallest eigenvalue is at least the whole
        matrix's). ``self`` is left unchanged.

        Parameters
        ----------
        keep : array-like of int
            Indices of the parameters that stay, in order.
        """
        keep = np.asarray(keep, dtype=np.intp).reshape(-1)
        new = object.__new__(CholeskyCurvature)
        new.__dict__.update(self.__dict__)
        new.matrix_ = self.matrix_[np.ix_(keep, keep)].copy()
        Z = self.null_directions_[keep]
        if Z.shape[1]:
            norms = np.linalg.norm(Z, axis=0)
            if not np.allclose(norms, 1.0):  # a null direction lost entries
                Z = Z[:, norms > 0] / norms[norms > 0]
                new._low = new._exact_low = None
        new.null_directions_ = Z
        new.factor_ = new._factorize(new.matrix_)
        new._smallest = None
        return new

    def clipped(self, matrix, *, floor: float) -> CholeskyCurvature:
        """A new operator for ``matrix`` with eigenvalues raised to ``floor``.

        The repair of a downdated curvature that lost positive definiteness.
        """
        M = 0.5 * (matrix + matrix.T)
        w, V = np.linalg.eigh(M)
        top = float(np.max(np.abs(w), initial=1.0))
        floor = max(float(floor), 1e-10 * top)
        Z = self.null_directions_
        if Z.shape[1]:  # keep the null space null: clip only the rest
            keep = np.linalg.norm(V.T @ Z, axis=1) < 0.5
            w = np.where(keep, np.maximum(w, floor), w)
        else:
            w = np.maximum(w, floor)
        new = object.__new__(CholeskyCurvature)
        new.__dict__.update(self.__dict__)
        new.matrix_ = (V * w) @ V.T
        new.factor_ = new._factorize(new.matrix_)
        new._low = new._exact_low = None
        return new

    def min_eigenvalue(self, *, include_damping: bool = False) -> float:
        """A lower bound on the smallest eigenvalue (on the non-null subspace).

        Without ``include_damping`` this is the objective's own strong
        convexity, which is what turns a gradient bound into a distance bound.

        No eigendecomposition: inverse iteration with the cached factor
        estimates the smallest eigenvalue ``mu`` from above, and a Cholesky
        factorisation of ``A - t I`` that succeeds proves ``t`` a lower bound;
        a few of them (``t = 0.9 mu``, lowered until one succeeds, then
        bisected) give a proven bound within a few percent, each
        ``O(p^3 / 3)``: a fraction of a symmetric eigensolver. Low-rank and
        dense updates then carry the bound along (see ``_tracked_low``) until
        it has halved.
        """
        if getattr(self, "_low", None) is None:
            self._low = self._exact_low = self._certified_low()
        return self._low + include_damping * self.damping

    def _certified_low(self) -> float:
        p = self.n_params
        if not p:
            return float("inf")
        A = self.matrix_ + self.damping * np.eye(p)
        Z = self.null_directions_
        if Z.shape[1]:
            A = A + self.null_scale_ * (Z @ Z.T)
        # inverse iteration towards the smallest eigenvector, from the last
        # one when an update left it close (an eigenvector of the curvature,
        # not of any row)
        # (a block of 4: the rate is lambda_1 / lambda_5, not lambda_1 / lambda_2)
        V = getattr(self, "_smallest", None)
        warm = V is not None and V.shape[0] == p
        if not warm:
            V = np.random.default_rng(0).standard_normal((p, min(4, p)))
        for _ in range(1 if warm else 10):
            V = np.linalg.qr(potrs(self.factor_, V, lower=1)[0])[0]
        ritz, Y = np.linalg.eigh(V.T @ A @ V)
        self._smallest = V @ Y
        mu = float(ritz[0])  # the smallest Ritz value: at least the smallest
        # Cholesky's backward error: a factor of A - shift I proves the bound
        # only up to rounding of the order of eps * p * max|A_ii|
        slack = 100 * _EPS * p * float(np.max(np.abs(np.diag(A))))
        eye = np.eye(p)

        def below(shift):  # whether A - shift I is positive definite
            return potrf(A - shift * eye, lower=1, clean=0)[1] == 0

        if below(0.97 * mu):  # inverse iteration converged: one factorisation
            return 0.97 * mu - slack - self.damping
        high, low = 0.97 * mu, 0.9 * mu
        while low > slack and not below(low):
            high, low = low, 0.7 * low
        if low <= slack:
            return -self.damping  # only positive semi-definiteness is known
        for _ in range(2):  # bisect: within 3% of the smallest eigenvalue
            mid = 0.5 * (low + high)
            low, high = (mid, high) if below(mid) else (low, mid)
        return low - slack - self.damping
