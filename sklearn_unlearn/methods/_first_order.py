"""The first-order update of the features-and-labels paper."""

from __future__ import annotations

from numbers import Real

import numpy as np
import scipy.linalg as la

from ..curvature import CurvatureScale
from ..utils._compat import Interval, StrOptions
from ._base import UnlearningMethod, gradient_change, updated_geometry

__all__ = ["FirstOrder"]


class FirstOrder(UnlearningMethod):
    """Gradient-difference step ``theta' = theta - tau * (grad_add - grad_remove)``.

    Eq. (3) of Warnecke et al., "Machine Unlearning of Features and Labels":
    the step moves away from the removed rows' gradients and toward the added
    ones, with the unlearning rate ``tau`` instead of an inverse Hessian. It
    needs no inverse curvature: ``fit`` only records an upper bound on the
    Hessian's largest eigenvalue for ``tau="auto"``. It carries no
    certificate, so the ledger records no error bound.

    Parameters
    ----------
    tau : float or "auto", default="auto"
        Unlearning rate. ``"auto"`` uses ``1 / L`` with ``L`` the largest
        eigenvalue of the exact Hessian at fit (kept an upper bound as rows
        come and go, see :class:`~sklearn_unlearn.curvature.CurvatureScale`),
        the classical safe gradient step. For a net, ``L`` is a
        power-iteration estimate (times 1.1) of the largest eigenvalue of the
        Gauss-Newton matrix plus weight decay.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> X, y = make_classification(n_samples=100, random_state=0)
    >>> clf = UnlearningClassifier(LogisticRegression(), method="first_order")
    >>> clf.fit(X, y).unlearn(X[:3], y[:3]).ledger_[-1].n_removed
    3
    """

    _parameter_constraints = {
        "tau": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
    }

    def __init__(self, tau="auto"):
        self.tau = tau

    def prepare(self, adapter, theta, rows, hessian=None):
        if getattr(adapter, "is_net", False):
            from ._net_steps import first_order_prepare

            return first_order_prepare(self, adapter, theta, rows)
        if hessian is None:
            lam = adapter.penalty_strength(rows.weight)
            hessian = adapter.hessian(theta, rows.X, rows.y, rows.c)
            hessian = hessian + lam * np.diag(adapter.penalty_mask)
        top = la.eigh(
            hessian, eigvals_only=True, subset_by_index=[len(hessian) - 1] * 2
        )
        return CurvatureScale(float(top[0]))

    def step(self, adapter, state, request):
        if getattr(adapter, "is_net", False):
            from ._net_steps import first_order_step

            return first_order_step(self, adapter, state, request)
        g, w_new, _ = gradient_change(adapter, state.theta, request, state)
        gram, radius = updated_geometry(adapter, state, request)
        scale = state.curvature
        if request.add.n:
            eta = adapter.linear_predictor(state.theta, request.add.X)
            _, A = adapter.loss.derivatives(eta, request.add.y)
            trace = np.trace(A, axis1=1, axis2=2) * request.add.c
            norms = adapter.gram(request.add.X, trace).trace()
            scale = scale.updated(added_trace=norms)
        tau = self.tau
        if tau == "auto":
            tau = 1.0 / max(scale.top, 1e-300)
        step = -tau * g
        return state.evolve(
            theta=state.theta + step,
            curvature=scale,
            total_weight=w_new,
            gram=gram,
            radius=radius,
            residual_bound=None,
            drift_g=np.inf,
            drift_2=state.drift_2 + float(np.linalg.norm(step)),
        )
