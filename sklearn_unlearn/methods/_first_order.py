"""The first-order update of the features-and-labels paper."""

from __future__ import annotations

from numbers import Real

import numpy as np

from ..utils._compat import Interval, StrOptions
from ._base import UnlearningMethod, gradient_change, updated_geometry

__all__ = ["FirstOrder"]


class FirstOrder(UnlearningMethod):
    """Gradient-difference step ``theta' = theta - tau * (grad_add - grad_remove)``.

    Eq. (3) of Warnecke et al., "Machine Unlearning of Features and Labels":
    the step moves away from the removed rows' gradients and toward the added
    ones, with the unlearning rate ``tau`` instead of an inverse Hessian. It
    needs no curvature at all, so ``fit`` prepares nothing; it carries no
    certificate, so the ledger records no error bound.

    Parameters
    ----------
    tau : float or "auto", default="auto"
        Unlearning rate. ``"auto"`` uses ``1 / L`` with ``L`` an upper bound on
        the objective's curvature (largest eigenvalue of the weighted Gram
        matrix times the loss's largest second derivative, plus the penalty),
        the classical safe gradient step.

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

    def step(self, adapter, state, request):
        g, w_new, _ = gradient_change(adapter, state.theta, request, state)
        gram, radius = updated_geometry(adapter, state, request)
        tau = self.tau
        if tau == "auto":
            h = adapter.loss.second_derivative_bound or 1.0
            top = float(np.linalg.eigvalsh(gram)[-1]) if gram.size else 0.0
            tau = 1.0 / (h * top + adapter.penalty_strength(w_new) + 1e-12)
        step = -tau * g
        return state.evolve(
            theta=state.theta + step,
            total_weight=w_new,
            gram=gram,
            radius=radius,
            residual_bound=None,
            drift_g=np.inf,
            drift_2=state.drift_2 + float(np.linalg.norm(step)),
        )
