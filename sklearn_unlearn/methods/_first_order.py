"""The first-order update of the features-and-labels paper."""

from __future__ import annotations

from numbers import Real

from ..curvature import CurvatureScale
from ..utils._compat import Interval, StrOptions
from ._base import UnlearningMethod, uncertified_step

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
        return CurvatureScale(adapter.curvature_upper_bound(theta, rows, hessian))

    def step(self, adapter, state, request):
        g, w_new, _ = adapter.gradient_change(state.theta, request, state)
        scale = state.curvature
        if request.add.n:  # added rows can raise the top eigenvalue by their trace
            added = adapter.curvature_trace(state.theta, request.add)
            scale = scale.updated(added_trace=added)
        tau = self.tau
        if tau == "auto":
            tau = 1.0 / max(scale.top, 1e-300)
        return uncertified_step(
            adapter, state, request, -tau * g, curvature=scale, total_weight=w_new
        )
