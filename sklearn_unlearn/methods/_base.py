"""What every unlearning method shares: the request, the state, the step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from sklearn.base import BaseEstimator

from ..curvature import NotPositiveDefiniteError
from ..curvature._cholesky import default_rank_limit

__all__ = ["Rows", "UnlearningMethod", "UnlearnState", "UpdateRequest"]


@dataclass
class Rows:
    """Validated rows: numeric design ``X``, encoded targets, row weights ``c``."""

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
        :func:`updated_curvature`); its certificate is then dropped.
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
def gradient_change(adapter, theta, request: UpdateRequest, state: UnlearnState):
    """Gradient of the new objective at ``theta`` minus that of the old one.

    ``sum_add c grad l - sum_remove c grad l + (lam_new - lam_old) P theta``:
    at an optimum of the old objective this is the new objective's gradient.
    """
    g = np.zeros(adapter.n_params)
    if request.add.n:
        g += adapter.gradient(theta, request.add.X, request.add.y, request.add.c)
    if request.remove.n:
        g -= adapter.gradient(
            theta, request.remove.X, request.remove.y, request.remove.c
        )
    w_new = state.total_weight - request.remove.weight + request.add.weight
    dlam = adapter.penalty_strength(w_new) - adapter.penalty_strength(
        state.total_weight
    )
    if dlam:
        g += dlam * adapter.penalty_mask * theta
    if state.pending_gradient is not None:
        g += state.pending_gradient
    return g, w_new, dlam


def curvature_factors(adapter, theta, rows: Rows):
    """Factors ``(V_plus, V_minus)`` with ``V+ V+^T - V- V-^T = sum_i c_i hess l_i``."""
    if rows.n == 0:
        return np.zeros((adapter.n_params, 0)), np.zeros((adapter.n_params, 0))
    eta = adapter.linear_predictor(theta, rows.X)
    _, A = adapter.loss.derivatives(eta, rows.y)
    lam, Q = np.linalg.eigh(np.asarray(A) * rows.c[:, None, None])  # (n,K), (n,K,K)
    Xt = rows.X.toarray() if hasattr(rows.X, "toarray") else np.asarray(rows.X)
    if adapter.fit_intercept:
        Xt = np.hstack([Xt, np.ones((Xt.shape[0], 1))])
    # column (i, j) = sqrt(|lam_ij|) * Q[i, :, j] (x) x~_i
    cols = np.sqrt(np.abs(lam))[:, None, :] * Q  # (n, K, K): [:, k, j]
    V = np.einsum("nkj,nd->kdnj", cols, Xt).reshape(adapter.n_params, -1)
    sign = (lam >= 0).reshape(-1)
    return V[:, sign], V[:, ~sign]


def updated_curvature(
    adapter, curvature, theta, request: UpdateRequest, dlam: float, floor: float = 0.0
):
    """Exact Hessian of the new objective from the cached one, without old rows.

    Rows removed subtract their curvature at ``theta``, rows added add theirs;
    a GLM's penalty change shifts the diagonal. Few rows: rank-one updates of
    the Cholesky factor; many: one dense downdate and a refactorisation.

    Returns ``(curvature, repaired)``. A row's curvature is subtracted at the
    current parameters, not at those where it was added (which are not kept:
    they depend on forgotten rows), so after long streams on small data the
    downdated matrix can lose positive definiteness. For a penalised,
    non-quadratic objective it is then repaired by clipping its eigenvalues
    at the penalty (the objective's own floor), and ``repaired`` is True so
    that the caller drops the certificate. A quadratic objective's cache is
    exact, so there the loss means the remaining problem is singular: raise.
    """
    shift = dlam * adapter.penalty_mask if dlam else None
    rank = (request.remove.n + request.add.n) * adapter.n_outputs
    limit = curvature.refactor_rank
    if limit is None:
        limit = default_rank_limit(adapter.n_params)
    if rank <= limit and shift is None:
        rp, rm = curvature_factors(adapter, theta, request.remove)
        ap, am = curvature_factors(adapter, theta, request.add)
        try:
            new = curvature.updated(remove=np.hstack([rp, am]), add=np.hstack([ap, rm]))
            return new, False
        except NotPositiveDefiniteError:
            pass
    delta = np.zeros((adapter.n_params, adapter.n_params))
    if request.add.n:
        delta += adapter.hessian(theta, request.add.X, request.add.y, request.add.c)
    if request.remove.n:
        delta -= adapter.hessian(
            theta, request.remove.X, request.remove.y, request.remove.c
        )
    try:
        return curvature.updated(delta=delta, shift=shift), False
    except NotPositiveDefiniteError:
        if adapter.is_quadratic or floor <= 0:
            raise  # the cache is exact: the remaining problem is singular
        H = curvature.matrix_ + delta + (0 if shift is None else np.diag(shift))
        return curvature.clipped(H, floor=floor), True


def updated_geometry(adapter, state: UnlearnState, request: UpdateRequest):
    """New Gram matrix, radius and total weight after the request."""
    gram = state.gram.copy()
    if request.add.n:
        gram += adapter.gram(request.add.X, request.add.c)
    if request.remove.n:
        gram -= adapter.gram(request.remove.X, request.remove.c)
    radius = (
        max(state.radius, adapter.max_row_norm(request.add.X))
        if request.add.n
        else state.radius
    )
    return gram, radius


def newton_residual_bound(
    adapter, state: UnlearnState, step, gram, radius, moved_cubed, damping=0.0
):
    """Certified bound (Guo et al. 2020, Thm. 1 generalised) after a Newton step.

    With ``L3`` the Lipschitz constant of the loss curvature in the linear
    predictor and ``R`` the largest row norm, the new gradient satisfies

        ||grad J'(theta + step)|| <= B_old
            + L3 R ||step||_G (drift_G + ||step||_G / 2)
            + cache_error * ||step|| + damping * ||step||

    where ``||v||_G^2 = tr(V G V^T)`` over the rows that remain, ``drift_G``
    bounds the distance to the point of the last exact curvature, and
    ``cache_error`` bounds the error of curvature subtracted or added away
    from that point: a row moved at distance ``drift_2`` from it adds at most
    ``L3 c_i ||x~_i||^3 drift_2`` (``moved_cubed`` sums ``c_i ||x~_i||^3``
    over the rows of this request); a damped step ``(H + damping I) s = -g`` leaves
    ``-damping * s`` of the gradient behind. Returns the new ``(bound, drift_g, drift_2,
    cache_error)``; the bound is ``None`` when the loss has no global ``L3``.
    """
    L3 = adapter.loss.third_derivative_bound
    S = step.reshape(adapter.n_outputs, adapter.n_cols)
    step_g = float(np.sqrt(max(np.einsum("kd,de,ke->", S, gram, S), 0.0)))
    step_2 = float(np.linalg.norm(step))
    if L3 is None or state.residual_bound is None:
        bound = None
        cache_error = state.cache_error
    else:
        cache_error = state.cache_error + L3 * moved_cubed * state.drift_2
        bound = (
            state.residual_bound
            + L3 * radius * step_g * (state.drift_g + 0.5 * step_g)
            + cache_error * step_2
            + damping * step_2
        )
    return bound, state.drift_g + step_g, state.drift_2 + step_2, cache_error


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
    )
