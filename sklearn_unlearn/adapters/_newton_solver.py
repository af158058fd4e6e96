"""Exact Newton minimisation of a linear model's objective."""

from __future__ import annotations

import numpy as np

from ..curvature import CholeskyCurvature
from ..utils._out_of_core import ChunkedRows

__all__ = ["minimize_newton"]


def minimize_newton(
    adapter, theta, X, y_enc, c, *, max_iter: int = 50, rtol: float = 1e-12
):
    """Minimise ``J`` on the rows ``(X, y_enc, c)`` by damped-free Newton steps.

    Used to polish a fitted model to the exact optimum (so later updates start
    from it), for ``Newton(refine=k)`` and for refits. Each iteration solves
    with the exact Hessian and backtracks on the objective (Armijo), which
    converges quadratically for the strictly convex objectives supported.

    Parameters
    ----------
    adapter : LinearAdapter
    theta : ndarray of shape (p,)
        Starting point.
    X, y_enc, c : arrays
        Rows, encoded targets and row weights.
    max_iter : int, default=50
        Largest number of Newton steps; ``0`` only evaluates.
    rtol : float, default=1e-12
        Stop when the step is below ``rtol * (1 + ||theta||)``, or when the
        gradient no longer halves after steps below ``1e-6`` (the rounding
        floor of the gradient sum has been reached).

    Returns
    -------
    theta : ndarray of shape (p,)
    hessian : ndarray of shape (p, p)
        Full Hessian (data term plus penalty) at the returned ``theta``.
    grad_norm : float
        Norm of the objective's gradient at the returned ``theta``.
    n_iter : int

    Notes
    -----
    For out-of-core rows (:class:`~sklearn_unlearn.utils._out_of_core.ChunkedRows`)
    the same iteration runs in
    :func:`~sklearn_unlearn.adapters._chunked.minimize_newton_chunked`, which
    needs one pass over the rows per step instead of three.
    """
    if isinstance(X, ChunkedRows):
        from ._chunked import minimize_newton_chunked

        return minimize_newton_chunked(
            adapter, theta, X, y_enc, c, max_iter=max_iter, rtol=rtol
        )
    theta = np.array(theta, dtype=np.float64)
    W = float(np.sum(c))
    lam = adapter.penalty_strength(W)
    P = adapter.penalty_mask
    Z = adapter.null_directions()
    n_iter = 0
    prev_gnorm, last_move = np.inf, np.inf
    while True:
        g = adapter.gradient(theta, X, y_enc, c) + lam * P * theta
        H = adapter.hessian(theta, X, y_enc, c) + lam * np.diag(P)
        gnorm = float(np.linalg.norm(g))
        # stop at max_iter, once the step is at rounding level, or when the
        # gradient stops shrinking after tiny steps (the rounding floor)
        stalled = last_move <= 1e-6 and gnorm > 0.5 * prev_gnorm
        if n_iter >= max_iter or last_move <= rtol or stalled:
            break
        prev_gnorm = gnorm
        step = -CholeskyCurvature(H, null_directions=Z).solve(g)
        if Z.shape[1]:
            step -= Z @ (Z.T @ step)
        if adapter.is_quadratic:
            # one step is exact; a second one is iterative refinement
            theta = theta + step
            n_iter += 1
            max_iter = min(max_iter, 2)
            continue
        J0 = adapter.objective(theta, X, y_enc, c)
        slope = float(g @ step)
        t = 1.0
        while t > 1e-10:
            J = adapter.objective(theta + t * step, X, y_enc, c)
            if J <= J0 + 1e-4 * t * slope + 1e-15 * abs(J0):
                break
            t *= 0.5
        theta = theta + t * step
        n_iter += 1
        last_move = t * float(np.linalg.norm(step)) / (1 + float(np.linalg.norm(theta)))
    return theta, H, gnorm, n_iter
