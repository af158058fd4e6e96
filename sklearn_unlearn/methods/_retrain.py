"""Retraining from scratch: the gold standard every method is measured against."""

from __future__ import annotations

from ._base import UnlearningMethod

__all__ = ["Retrain"]


class Retrain(UnlearningMethod):
    """Refit the wrapped model on the rows that remain.

    Needs the retained rows (``unlearn(..., X_retain=, y_retain=)``; with
    ``fit(..., forget=mask)`` they are passed automatically). The refit is
    polished to the exact optimum, so it is the reference the approximate
    methods are compared with. Keeps no curvature.

    A skorch net is re-initialised with the settings of the wrapped net and
    the random state its first fit started from (same initial weights and
    batch order) and trained for the same epochs on the remaining rows.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> X, y = make_classification(n_samples=100, random_state=0)
    >>> clf = UnlearningClassifier(LogisticRegression(), method="retrain")
    >>> clf.fit(X[3:], y[3:]).estimator_.coef_.shape
    (1, 20)
    """

    requires_retained_data = True
    certified = True
    estimates_error = True

    def __init__(self):
        pass

    def step(self, adapter, state, request):
        if request.retain is None:
            raise ValueError(
                "Retrain needs the rows that remain: pass X_retain and y_retain."
            )
        theta, grad_norm = request.refit(request.retain)  # a net's has no norm
        gram, radius = adapter.updated_geometry(state.gram, state.radius, request)
        return state.evolve(
            theta=theta,
            total_weight=request.retain.weight,
            gram=gram,
            radius=radius,
            residual_bound=grad_norm,
            drift_g=0.0,
            drift_2=0.0,
            cache_error=0.0,
            error_estimate=0.0,
        )
