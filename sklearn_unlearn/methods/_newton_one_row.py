"""The Newton step that forgets one row of a single-output linear model.

The same state as :meth:`Newton.step <sklearn_unlearn.methods.Newton.step>`
for a request that removes one row and adds none, from scalar derivatives
and ``O(p^2)`` updates with a few NumPy calls: the general step handles any
number of rows and outputs and costs about half a millisecond of fixed
overhead, ten times this step's arithmetic at ``p = 51``. For a removed row
``x~`` with weight ``c``, ``r = l'(eta)`` and ``a = l''(eta)``:

    g = -c r x~,   H' = H - c a x~ x~^T,   s = -H'^{-1} g,
    G' = G - c x~ x~^T

(the rank-one downdate goes through :meth:`CholeskyCurvature.updated`, which
refactors or updates the factor and carries the proven bound on the smallest
eigenvalue by the row's leverage); the certificate and the error estimate are
the general step's own functions.
"""

from __future__ import annotations

import numpy as np

from ..curvature import CholeskyCurvature, NotPositiveDefiniteError
from ._base import Rows, UnlearnState, UpdateRequest
from ._newton import Newton, step_error_estimate

__all__ = ["one_row_newton_state"]


def one_row_newton_state(
    adapter, state: UnlearnState, method, request: UpdateRequest, keys
) -> UnlearnState | None:
    """The new state after forgetting ``request.remove``'s one row, or None.

    None when this step does not apply (another method, several outputs, a
    penalty that scales with the rows, a damped or projected curvature, a
    pending gradient, a curvature that would lose positive definiteness):
    the general step then takes the request, with its own handling.

    Parameters
    ----------
    adapter : LinearAdapter
    state : UnlearnState
        The state before the request.
    method : UnlearningMethod
        The estimator's method; only a plain :class:`Newton` qualifies.
    request : UpdateRequest
        One row to remove, none to add, no retained rows.
    keys : ndarray of shape (1, 2)
        The row's keyed fingerprint (for the sampled third derivative).
    """
    curvature = state.curvature
    if not (
        type(method) is Newton
        and not method.third_order
        and method._given_damping() == 0.0
        and adapter.n_outputs == 1
        and not adapter.mean_scaled
        and adapter.convex
        and state.pending_gradient is None
        and type(curvature) is CholeskyCurvature
        and curvature.damping == 0.0
        and not curvature.null_directions_.shape[1]
        and request.remove.n == 1
        and request.add.n == 0
        and request.retain is None
    ):
        return None
    rows = request.remove
    d = rows.X.shape[1]
    xt = np.empty(d + adapter.fit_intercept)
    xt[:d] = rows.X[0]
    if adapter.fit_intercept:
        xt[d] = 1.0
    theta = state.theta
    c = float(rows.c[0])
    r, A = adapter.loss.derivatives(np.array([[xt @ theta]]), rows.y)
    a = c * float(A[0, 0, 0])
    if not a >= 0.0:
        return None
    g = (-c * float(r[0, 0])) * xt
    try:
        curvature = curvature.updated(remove=(np.sqrt(a) * xt)[:, None])
    except NotPositiveDefiniteError:
        return None  # the general step repairs or refuses
    step = -curvature._solve(g)
    gram = state.gram - c * np.outer(xt, xt)
    radius = state.radius
    norm = float(np.sqrt(xt @ xt))
    if radius < np.inf and norm >= radius * (1.0 - 1e-9):
        radius = np.inf  # the largest row may have left; see updated_geometry
    bound, drift_g, drift_2, cache_error = adapter.newton_certificate(
        state, request, step, gram, radius, 0.0, moved_cubed=c * norm**3
    )
    third = state.third
    if third is not None and int(keys[0, 0]) < third.threshold_:  # sampled
        none = Rows(rows.X[:0], rows.y[:0], rows.c[:0])
        third = third.with_request(adapter, theta, rows, keys, none, keys[:0])
    total_weight = state.total_weight - c
    return state.evolve(
        theta=theta + step,
        curvature=curvature,
        total_weight=total_weight,
        gram=gram,
        radius=radius,
        residual_bound=bound,
        drift_g=drift_g,
        drift_2=drift_2,
        cache_error=cache_error,
        third=third,
        error_estimate=step_error_estimate(
            adapter, state.error_estimate, third, curvature, step, total_weight
        ),
    )
