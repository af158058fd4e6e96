"""SSSE's empirical Fisher inverse, built by Sherman-Morrison updates."""

from __future__ import annotations

import numpy as np
import scipy.linalg as la

from ._base import CurvatureOperator, NotPositiveDefiniteError

__all__ = ["EmpiricalFisherInverse"]


class EmpiricalFisherInverse(CurvatureOperator):
    """Explicit inverse of ``F = D + sum_i c_i g_i g_i^T`` (SSSE, eq. 2-3).

    Starting from the diagonal ``D`` (damping plus the L2 penalty), each row's
    gradient ``g_i`` with weight ``c_i`` enters by the Sherman-Morrison
    recursion of SSSE eq. (3),

        F_i^{-1} = F_{i-1}^{-1} - F_{i-1}^{-1} g_i g_i^T F_{i-1}^{-1}
                                  / (1 / c_i + g_i^T F_{i-1}^{-1} g_i),

    processed ``block_rows`` rows at a time through the equivalent Woodbury
    form (the same matrix as the row-by-row recursion, with BLAS-3 speed).
    Removing rows runs the recursion backwards (a downdate). The paper's
    ``1/n`` normalisation is absorbed into the row weights, which are those of
    the model's objective.

    Parameters
    ----------
    diagonal : ndarray of shape (p,)
        ``D``, strictly positive.
    block_rows : int, default=256
        Rows folded in per Woodbury block.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.curvature import EmpiricalFisherInverse
    >>> G = np.random.default_rng(0).normal(size=(50, 4))
    >>> op = EmpiricalFisherInverse(np.full(4, 0.1)).updated(add=G.T)
    >>> F = G.T @ G + 0.1 * np.eye(4)
    >>> bool(np.allclose(op.solve(np.ones(4)), np.linalg.solve(F, np.ones(4))))
    True
    """

    def __init__(self, diagonal, *, block_rows: int = 256):
        self.diagonal_ = np.asarray(diagonal, dtype=np.float64)
        d = np.asarray(diagonal, dtype=np.float64)
        if np.any(d <= 0):
            raise ValueError(
                "the Fisher diagonal (damping + penalty) must be strictly positive; "
                "increase damping."
            )
        self.block_rows = int(block_rows)
        self.inverse_ = np.diag(1.0 / d)

    @property
    def n_params(self) -> int:
        return self.inverse_.shape[0]

    def _solve(self, v):
        return self.inverse_ @ v

    @staticmethod
    def _woodbury(Finv, U, sign):
        # (F + s U U^T)^{-1} = F^-1 - F^-1 U (s I + U^T F^-1 U)^-1 U^T F^-1
        FU = Finv @ U
        cap = sign * np.eye(U.shape[1]) + U.T @ FU
        try:
            cf = la.cho_factor(sign * cap) if sign < 0 else la.cho_factor(cap)
        except la.LinAlgError as exc:
            raise NotPositiveDefiniteError(
                "the Sherman-Morrison downdate leaves the empirical Fisher indefinite"
            ) from exc
        sol = la.cho_solve(cf, FU.T)
        if sign < 0:
            sol = -sol
        out = Finv - FU @ sol
        return 0.5 * (out + out.T)

    def updated(self, *, remove=None, add=None) -> EmpiricalFisherInverse:
        """A new operator with columns of ``add`` folded in and of ``remove`` out.

        Columns are ``sqrt(c_i) g_i``; ``self`` is left unchanged.
        """
        new = object.__new__(EmpiricalFisherInverse)
        new.__dict__.update(self.__dict__)
        Finv = self.inverse_
        for U, sign in ((add, 1.0), (remove, -1.0)):
            if U is None:
                continue
            U = np.asarray(U, dtype=np.float64).reshape(self.n_params, -1)
            for start in range(0, U.shape[1], self.block_rows):
                Finv = self._woodbury(Finv, U[:, start : start + self.block_rows], sign)
        new.inverse_ = Finv
        return new

    def congruence(self, transform, fixed_diagonal) -> EmpiricalFisherInverse:
        """A new operator whose Fisher part is ``transform``-ed.

        ``F = S + D`` with ``S = sum c g g^T`` and ``D`` the starting diagonal;
        the result inverts ``transform(S) + D`` (``fixed_diagonal`` is ignored:
        the Fisher's own diagonal ``D`` is what stays put).
        """
        F = np.linalg.inv(self.inverse_)
        D = np.diag(self.diagonal_)
        F_new = transform(F - D) + D
        new = object.__new__(EmpiricalFisherInverse)
        new.__dict__.update(self.__dict__)
        new.inverse_ = np.linalg.inv(0.5 * (F_new + F_new.T))
        return new
