"""What every unlearning method shares: the request, the state, the step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["Rows", "UnlearningMethod", "UnlearnState", "UpdateRequest"]


@dataclass
class Rows:
    """Validated rows: numeric design ``X``, encoded targets, row weights ``c``.

    What a method's ``prepare`` and ``step`` receive: the rows in the
    model's features, targets encoded as the adapter's loss wants them.

    Attributes
    ----------
    X : ndarray, sparse matrix or tensor of shape (n, n_features)
    y : ndarray of shape (n,) or (n, n_outputs)
    c : ndarray of shape (n,)
        Row weights.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.methods import Rows
    >>> rows = Rows(np.eye(3), np.array([0, 1, 0]), np.ones(3))
    >>> rows.n, rows.weight
    (3, 3.0)
    """

    X: object
    y: np.ndarray
    c: np.ndarray

    @property
    def n(self) -> int:
        return len(self.c)

    @property
    def weight(self) -> float:
        return float(np.sum(self.c))


@dataclass
class UpdateRequest:
    """``remove`` and ``add`` rows; ``retain`` is every row that remains, if given.

    ``refit`` (set by the estimator) fits the wrapped model from scratch on
    given rows and returns its exact parameter vector.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.methods import Rows, UpdateRequest
    >>> gone = Rows(np.ones((1, 2)), np.array([1]), np.ones(1))
    >>> none = Rows(np.zeros((0, 2)), np.zeros(0), np.zeros(0))
    >>> UpdateRequest(remove=gone, add=none).remove.n
    1
    """

    remove: Rows
    add: Rows
    retain: Rows | None = None
    refit: Callable[[Rows], np.ndarray] | None = None


@dataclass
class UnlearnState:
    """Everything a fitted estimator keeps between updates, and nothing more.

    Attributes
    ----------
    theta : ndarray
        Current parameters.
    curvature : CurvatureOperator or None
        The method's cached inverse-curvature operator.
    total_weight : float
        Sum of the row weights that remain (a GLM's penalty depends on it).
    gram : ndarray
        ``X~^T diag(c) X~`` of the rows that remain (for the removal bound).
    radius : float
        Upper bound on ``||x~_i||`` over every row ever trained.
    residual_bound : float or None
        Bound on the gradient norm of the objective at ``theta``; ``None``
        once a step without a certificate has been taken.
    drift_g, drift_2 : float
        Bounds on the distance from ``theta`` to the point where the curvature
        was last computed exactly, in the Gram norm and the Euclidean norm.
    cache_error : float
        Bound on the spectral-norm error of the cached curvature.
    pending_gradient : ndarray or None
        Gradient of the objective at ``theta`` not yet accounted for by a
        step (set by :func:`reparameterize_state`; zero after every step).
    curvature_repaired : bool
        True when the last step had to repair the cached curvature (see
        the adapters' ``updated_curvature``); its certificate is then dropped.
    third : SampledThirdDerivative or None
        The sampled third derivative of a linear model's data term, kept
        current by every request (see ``adapters/_third_derivative.py``).
    error_estimate : float or None
        Estimated distance from ``theta`` to the exact minimiser of the
        objective on the rows that remain (the third-order term of each step,
        accumulated); ``None`` once a step without an estimate was taken.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> X, y = np.random.RandomState(0).randn(30, 2), np.arange(30) % 2
    >>> state = UnlearningClassifier(LogisticRegression()).fit(X, y).state_
    >>> state.theta.shape, state.evolve(theta=state.theta * 0).theta.sum()
    ((3,), np.float64(0.0))
    """

    theta: np.ndarray
    curvature: object
    total_weight: float
    gram: np.ndarray
    radius: float
    residual_bound: float | None = 0.0
    drift_g: float = 0.0
    drift_2: float = 0.0
    cache_error: float = 0.0
    pending_gradient: np.ndarray | None = None
    curvature_repaired: bool = False
    third: object = None
    error_estimate: float | None = 0.0

    def evolve(self, **changes) -> UnlearnState:
        """A copy with ``changes``; a step clears ``pending_gradient`` by default."""
        changes.setdefault("pending_gradient", None)
        changes.setdefault("curvature_repaired", False)
        return replace(self, **changes)


class UnlearningMethod(BaseEstimator):
    """Base class of unlearning methods.

    A method is a small scikit-learn estimator-like object whose ``__init__``
    arguments are its hyperparameters, so ``GridSearchCV`` reaches them as
    ``method__<name>``. It turns an update request into a new state; it never
    validates user input nor touches storage.

    Examples
    --------
    >>> from sklearn_unlearn.methods import Newton, UnlearningMethod
    >>> method = Newton(refine=1)
    >>> isinstance(method, UnlearningMethod), method.name, method.get_params()["refine"]
    (True, 'Newton', 1)
    """

    _parameter_constraints: dict = {}

    #: whether every step needs the retained rows
    requires_retained_data = False
    #: whether the method's cached curvature is an exact Hessian
    exact_curvature = False
    #: whether its steps carry the certified error bound (``error_budget``)
    certified = False
    #: whether its steps estimate their distance to retraining (``error_estimate``)
    estimates_error = False

    def prepare(self, adapter, theta, rows: Rows, hessian=None):
        """Build the cached curvature at fit time (``None`` if not needed)."""
        return None

    def step(
        self, adapter, state: UnlearnState, request: UpdateRequest
    ) -> UnlearnState:
        """Return the new state after applying ``request``; never mutate ``state``."""
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__


# --------------------------------------------------------------------- helpers
def uncertified_step(
    adapter, state: UnlearnState, request: UpdateRequest, step, **changes
):
    """The state at ``theta + step`` after a step that carries no certificate.

    The certificate's geometry still follows the request's rows (see
    ``adapter.updated_geometry``), so that a later exact step can restart it.
    """
    gram, radius = adapter.updated_geometry(state.gram, state.radius, request)
    return state.evolve(
        theta=adapter.add_step(state.theta, step),
        gram=gram,
        radius=radius,
        residual_bound=None,
        drift_g=np.inf,
        drift_2=state.drift_2 + adapter.step_norm(step),
        **changes,
    )


def reparameterize_state(adapter, state: UnlearnState, M: np.ndarray) -> UnlearnState:
    """Express the state in new input features ``z'`` with ``[z, 1] = M [z', 1]``.

    A change of standardisation in front of a linear model (a downdated
    ``StandardScaler``) is an affine change of its inputs, hence a linear
    change of its parameters: ``W' = W M``, i.e. ``theta' = T theta`` with
    ``T = I_K (x) M^T``. The data term is invariant, so its gradient and
    Hessian map by ``T^{-T}``; the penalty stays ``lam/2 ||coef'||^2`` in the
    new coordinates, so the old optimum is no longer one: the difference is
    left in ``pending_gradient`` and the next step accounts for it. No row is
    needed.

    Parameters
    ----------
    adapter : LinearAdapter
    state : UnlearnState
    M : ndarray of shape (d + 1, d + 1)
        Augmented affine map from new to old features (last row ``[0, ..., 1]``).

    Returns
    -------
    UnlearnState
    """
    M = np.asarray(M, dtype=np.float64)
    d = adapter.n_features_in_
    if M.shape != (d + 1, d + 1):
        raise ValueError(
            f"feature_map must have shape {(d + 1, d + 1)}, got {M.shape}."
        )
    if not adapter.fit_intercept:
        if np.any(M[:d, d]):
            raise ValueError(
                "The preprocessing shifts features (e.g. StandardScaler with "
                "with_mean=True) but the model has no intercept to absorb the "
                "shift; use fit_intercept=True or with_mean=False."
            )
        M = M[:d, :d]
    Minv = np.linalg.inv(M)
    K, m = adapter.n_outputs, adapter.n_cols
    lam = adapter.penalty_strength(state.total_weight)
    P = adapter.penalty_mask

    def theta_map(v):  # T v
        return (v.reshape(K, m) @ M).ravel()

    def grad_map(v):  # T^{-T} v
        return (v.reshape(K, m) @ Minv.T).ravel()

    theta_new = theta_map(state.theta)
    third = state.third
    if third is not None:
        third = third.reparameterized(M, Minv)
    # old data gradient at the optimum is -lam P theta; add the new penalty's
    pending = grad_map(-lam * P * state.theta) + lam * P * theta_new
    if state.pending_gradient is not None:
        pending += grad_map(state.pending_gradient)

    def congruence(A):  # T^{-T} A T^{-1} for A of shape (p, p)
        A4 = A.reshape(K, m, K, m)
        A4 = np.einsum("ab,kbjc,dc->kajd", Minv, A4, Minv, optimize=True)
        return A4.reshape(K * m, K * m)

    curvature = state.curvature
    if curvature is not None:
        curvature = curvature.congruence(congruence, lam * P)
    norm_M, norm_Minv = np.linalg.norm(M, 2), np.linalg.norm(Minv, 2)
    residual = state.residual_bound
    return state.evolve(
        theta=theta_new,
        curvature=curvature,
        gram=Minv @ state.gram @ Minv.T,
        radius=state.radius * norm_Minv,
        residual_bound=None if residual is None else residual * norm_Minv,
        drift_2=state.drift_2 * norm_M,
        cache_error=state.cache_error * norm_Minv**2,
        pending_gradient=pending,
        third=third,
        error_estimate=(
            None if state.error_estimate is None else state.error_estimate * norm_M
        ),
    )
