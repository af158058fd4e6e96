"""The second-order (influence / certified-removal) update."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from ..adapters._newton_solver import minimize_newton
from ..curvature import CholeskyCurvature
from ..utils._compat import Interval, StrOptions
from ._base import (
    UnlearningMethod,
    gradient_change,
    newton_residual_bound,
    updated_curvature,
    updated_geometry,
)

__all__ = ["Newton"]


class Newton(UnlearningMethod):
    """Newton step with the exact Hessian of the objective that remains.

    For a request that removes rows ``S`` and adds rows ``A`` the update is

        theta' = theta - H'^{-1} (sum_A c grad l - sum_S c grad l + dlam P theta)

    with ``H'`` the Hessian of the *new* objective (SSSE eq. 1; the
    features-and-labels paper's second-order update, eq. 5, uses the full
    Hessian). ``H'`` comes from the Cholesky factor cached at fit, downdated
    by the rows that leave (rank-one updates when few rows change, a
    refactorisation when many do), so no retained row is needed. For
    quadratic objectives (``LinearRegression``, ``Ridge``) the step is exact.

    Parameters
    ----------
    refine : int, default=0
        Further exact Newton steps on the retained rows when the caller
        passes them (``unlearn(..., X_retain=, y_retain=)``); they bring the
        model to retraining's own tolerance and reset the error bound.
    damping : float, default=0.0
        Added to the Hessian's diagonal before factorising.
    curvature : {"auto", "cholesky", "cg", "lissa"}, default="auto"
        How a **net**'s curvature is inverted (linear models always use the
        exact Cholesky factor). ``"cholesky"``: the dense damped matrix with a
        cached factor, downdated by each request's rows and refactorised;
        ``"cg"``/``"lissa"``: matrix-free solves over the rows that remain,
        which every request must then pass (``X_retain``, ``y_retain``).
        ``"auto"`` picks ``"cholesky"`` up to ``max_dense_params`` parameters,
        ``"cg"`` above.
    matrix : {"gauss_newton", "hessian"}, default="gauss_newton"
        A net's curvature matrix: the positive semi-definite Gauss-Newton
        matrix, or the exact Hessian (indefinite away from a minimum: add
        damping). The two agree for a linear model.
    max_dense_params : int, default=20000
        Largest parameter count for which ``"auto"`` keeps a dense matrix
        (``2 p^2`` float64 entries: 6.4 GB at 20,000).
    solver_options : dict, default=None
        ``rtol``, ``max_iter``, ``scale`` and ``patience`` for ``"cg"`` and
        ``"lissa"`` (see :class:`~sklearn_unlearn.curvature.IterativeNetCurvature`);
        LiSSA's ``scale`` defaults to 1.1 times a power-iteration estimate of
        the largest eigenvalue at fit.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.methods import Newton
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = UnlearningClassifier(LogisticRegression(), method=Newton()).fit(X, y)
    >>> clf = clf.unlearn(X[:5], y[:5])
    >>> clf.ledger_[-1].n_remaining
    195
    """

    exact_curvature = True

    _parameter_constraints = {
        "refine": [Interval(Integral, 0, None, closed="left")],
        "damping": [Interval(Real, 0, None, closed="left")],
        "curvature": [StrOptions({"auto", "cholesky", "cg", "lissa"})],
        "matrix": [StrOptions({"gauss_newton", "hessian"})],
        "max_dense_params": [Interval(Integral, 1, None, closed="left")],
        "solver_options": [dict, None],
    }

    def __init__(
        self,
        refine: int = 0,
        damping: float = 0.0,
        *,
        curvature: str = "auto",
        matrix: str = "gauss_newton",
        max_dense_params: int = 20_000,
        solver_options: dict | None = None,
    ):
        self.refine = refine
        self.damping = damping
        self.curvature = curvature
        self.matrix = matrix
        self.max_dense_params = max_dense_params
        self.solver_options = solver_options

    def prepare(self, adapter, theta, rows, hessian=None):
        if getattr(adapter, "is_net", False):
            from ._net_steps import newton_prepare

            return newton_prepare(self, adapter, theta, rows)
        if self.curvature in ("cg", "lissa"):
            raise ValueError(
                f"curvature={self.curvature!r} is for nets; a linear model's "
                "curvature is always the exact Cholesky factor."
            )
        if hessian is None:
            lam = adapter.penalty_strength(rows.weight)
            hessian = adapter.hessian(theta, rows.X, rows.y, rows.c)
            hessian = hessian + lam * np.diag(adapter.penalty_mask)
        return CholeskyCurvature(
            hessian, null_directions=adapter.null_directions(), damping=self.damping
        )

    def step(self, adapter, state, request):
        if getattr(adapter, "is_net", False):
            from ._net_steps import newton_step

            return newton_step(self, adapter, state, request)
        theta = state.theta
        g, w_new, dlam = gradient_change(adapter, theta, request, state)
        curvature, repaired = updated_curvature(
            adapter,
            state.curvature,
            theta,
            request,
            dlam,
            floor=adapter.penalty_strength(w_new),
        )
        step = -curvature.solve(g)
        Z = adapter.null_directions()
        if Z.shape[1]:
            step -= Z @ (Z.T @ step)
        gram, radius = updated_geometry(adapter, state, request)
        moved = sum(
            adapter.cubed_norm_sum(rows.X, rows.c)
            for rows in (request.remove, request.add)
        )
        bound, drift_g, drift_2, cache_error = newton_residual_bound(
            adapter, state, step, gram, radius, moved, self.damping
        )
        if repaired:  # no certificate until an exact solve or a retrain
            bound = np.inf
        new = state.evolve(
            theta=theta + step,
            curvature_repaired=repaired,
            curvature=curvature,
            total_weight=w_new,
            gram=gram,
            radius=radius,
            residual_bound=bound,
            drift_g=drift_g,
            drift_2=drift_2,
            cache_error=cache_error,
        )
        if self.refine and request.retain is not None:
            new = refine_exactly(
                adapter, new, request.retain, self.refine, self.damping
            )
        return new


def refine_exactly(adapter, state, retain, n_steps, damping=0.0):
    """Exact Newton steps on the retained rows; the curvature is recomputed."""
    theta, H, grad_norm, _ = minimize_newton(
        adapter, state.theta, retain.X, retain.y, retain.c, max_iter=n_steps
    )
    curvature = CholeskyCurvature(
        H, null_directions=adapter.null_directions(), damping=damping
    )
    return state.evolve(
        theta=theta,
        curvature=curvature,
        residual_bound=grad_norm,
        drift_g=0.0,
        drift_2=0.0,
        cache_error=0.0,
    )
