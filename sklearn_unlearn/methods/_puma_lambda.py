"""PUMA's re-weighting problem (paper eq. 10), by cvxpy or in closed form."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
from scipy.optimize import brentq

__all__ = ["solve_reweighting", "reweighting_closed_form", "reweighting_cvxpy"]


def _bounds(bounds, n):
    lo, hi = (-np.inf, np.inf) if bounds is None else bounds
    lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), (n,))
    hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), (n,))
    return lo, hi


def reweighting_cvxpy(Psi, b, l1, l2, bounds=None) -> np.ndarray:
    """``argmin ||Psi^T lam - b||^2 + l1 ||lam||_1 + l2 ||lam||^2`` on a box, by cvxpy.

    Parameters
    ----------
    Psi : ndarray of shape (n_pool, m)
        Influence of each pool row on each of the ``m`` criterion components.
    b : ndarray of shape (m,)
        Summed influence of the rows removed.
    l1, l2 : float
    bounds : tuple (lo, hi) of floats or arrays, default=None

    Returns
    -------
    ndarray of shape (n_pool,)

    Examples
    --------
    >>> import numpy as np
    >>> lam = reweighting_cvxpy(np.array([[1.0], [2.0]]), np.array([5.0]), 0.0, 1.0)
    >>> np.round(lam, 4)
    array([0.8333, 1.6667])
    """
    n = Psi.shape[0]
    lam = cp.Variable(n)
    objective = cp.sum_squares(Psi.T @ lam - b) + l2 * cp.sum_squares(lam)
    if l1:
        objective = objective + l1 * cp.norm1(lam)
    lo, hi = _bounds(bounds, n)
    cons = []
    if np.isfinite(lo).any():
        cons.append(lam[np.isfinite(lo)] >= lo[np.isfinite(lo)])
    if np.isfinite(hi).any():
        cons.append(lam[np.isfinite(hi)] <= hi[np.isfinite(hi)])
    problem = cp.Problem(cp.Minimize(objective), cons)
    problem.solve(
        solver=cp.CLARABEL,
        tol_gap_abs=1e-12,
        tol_gap_rel=1e-12,
        tol_feas=1e-12,
        tol_ktratio=1e-8,
        max_iter=500,
    )
    if lam.value is None or problem.status not in ("optimal", "optimal_inaccurate"):
        raise ValueError(
            f"The re-weighting problem could not be solved ({problem.status})."
        )
    return _polish(Psi, b, l1, l2, lo, hi, np.asarray(lam.value, dtype=np.float64))


def _objective(Psi, b, l1, l2, lam):
    return float(
        np.sum((Psi.T @ lam - b) ** 2) + l1 * np.abs(lam).sum() + l2 * lam @ lam
    )


def _polish(Psi, b, l1, l2, lo, hi, lam):
    """Solve the KKT system exactly on the support an interior-point solver found.

    An interior-point solution is accurate in the objective, but ``lam`` is
    only accurate to ``sqrt(gap / l2)``. With the coordinates at a bound or
    at zero held, the others solve ``(Psi_F Psi_F^T + l2 I) lam_F = Psi_F
    (b - Psi_A^T lam_A) - l1/2 sign(lam_F)`` (by Woodbury: ``m`` is small).
    The polished point is kept only if it is feasible and no worse; by
    strong convexity it is then at least as close to the optimum.
    """
    if not l2 > 0:
        return lam
    tol = 1e-7 * max(1.0, float(np.max(np.abs(lam), initial=0.0)))
    fixed = np.where(lam <= lo + tol, lo, np.where(lam >= hi - tol, hi, np.nan))
    if l1:
        fixed = np.where(np.isnan(fixed) & (np.abs(lam) <= tol), 0.0, fixed)
    free = np.isnan(fixed)
    new = np.where(free, 0.0, fixed)
    A = Psi[free]  # (f, m)
    rhs = A @ (b - Psi[~free].T @ new[~free]) - 0.5 * l1 * np.sign(lam[free])
    small = A.T @ A + l2 * np.eye(A.shape[1])
    new[free] = (rhs - A @ np.linalg.solve(small, A.T @ rhs)) / l2
    if np.any(new < lo) or np.any(new > hi):
        return lam
    if _objective(Psi, b, l1, l2, new) <= _objective(Psi, b, l1, l2, lam):
        return new
    return lam


def reweighting_closed_form(psi, b, l1, l2, bounds=None) -> np.ndarray:
    """Exact solution of the scalar problem (one criterion), for ``l2 > 0``.

    With one observation the problem is an elastic net in ``lam`` whose only
    coupling is the scalar residual ``r = psi . lam - b``. Given ``r`` each
    coordinate minimises ``2 r psi_j lam_j + l1 |lam_j| + l2 lam_j^2`` on
    ``[lo_j, hi_j]`` (a box around 0), which is the clipped soft-threshold

        lam_j(r) = clip(-sign(r psi_j) max(2 |r psi_j| - l1, 0) / (2 l2), lo_j, hi_j).

    ``h(r) = psi . lam(r) - b - r`` is continuous and strictly decreasing,
    with ``h(0) = -b`` and ``h(-b)`` of the sign of ``b``, so the optimal
    residual is its unique root in ``[min(0, -b), max(0, -b)]``, found by a
    one-dimensional root search (Brent).

    Parameters
    ----------
    psi : ndarray of shape (n_pool,)
    b : float
    l1 : float
    l2 : float, > 0
    bounds : tuple (lo, hi), default=None
        Must contain 0.

    Returns
    -------
    ndarray of shape (n_pool,)

    Examples
    --------
    >>> import numpy as np
    >>> lam = reweighting_closed_form(np.array([1.0, 2.0]), 5.0, 0.0, 1.0)
    >>> np.round(lam, 4)
    array([0.8333, 1.6667])
    """
    if not l2 > 0:
        raise ValueError("The closed form needs l2 > 0; use the cvxpy solver.")
    psi = np.asarray(psi, dtype=np.float64).ravel()
    b = float(np.asarray(b).ravel()[0]) if np.ndim(b) else float(b)
    lo, hi = _bounds(bounds, len(psi))

    def lam_of(r):
        t = 2.0 * r * psi
        return np.clip(-np.sign(t) * np.maximum(np.abs(t) - l1, 0.0) / (2 * l2), lo, hi)

    if b == 0.0 or len(psi) == 0:
        return np.zeros(len(psi))

    def h(r):
        return float(psi @ lam_of(r)) - b - r

    a, c = sorted((0.0, -b))
    if h(a) == 0.0:
        return lam_of(a)
    if h(c) == 0.0:
        return lam_of(c)
    r = brentq(h, a, c, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    return lam_of(r)


def solve_reweighting(Psi, b, l1, l2, bounds=None, solver="auto") -> np.ndarray:
    """Dispatch: the closed form for one criterion with ``l2 > 0``, else cvxpy.

    Parameters
    ----------
    Psi : ndarray of shape (n_pool, m)
    b : ndarray of shape (m,)
    l1, l2 : float
    bounds : tuple (lo, hi), default=None
    solver : {"auto", "closed_form", "cvxpy"}, default="auto"

    Returns
    -------
    ndarray of shape (n_pool,)

    Examples
    --------
    >>> import numpy as np
    >>> Psi, b = np.array([[1.0], [2.0]]), np.array([5.0])
    >>> np.round(solve_reweighting(Psi, b, 0.1, 1.0), 4)
    array([0.8083, 1.6667])
    """
    Psi = np.asarray(Psi, dtype=np.float64)
    if Psi.ndim == 1:
        Psi = Psi[:, None]
    b = np.atleast_1d(np.asarray(b, dtype=np.float64))
    if Psi.shape[0] == 0:
        return np.zeros(0)
    scalar = Psi.shape[1] == 1
    if solver == "closed_form" or (solver == "auto" and scalar and l2 > 0):
        if not scalar:
            raise ValueError(
                "The closed form solves one criterion; a vector-valued criterion "
                "needs solver='cvxpy'."
            )
        return reweighting_closed_form(Psi[:, 0], b[0], l1, l2, bounds)
    return reweighting_cvxpy(Psi, b, l1, l2, bounds)
