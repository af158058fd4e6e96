"""PUMA: Performance Unchanged Model Augmentation (Wu, Hashemi & Srinivasa, 2022)."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array, check_random_state

from ..utils._compat import Interval, StrOptions
from ._base import Rows, UnlearningMethod, uncertified_step
from ._newton import Newton
from ._puma_criteria import criterion_gradient, resolve_criteria
from ._puma_lambda import solve_reweighting

__all__ = ["PUMA", "PumaCache", "criterion_direction", "influence"]

#: largest parameter count for which a net's ``curvature="auto"`` is dense
MAX_DENSE_PARAMS = 20_000


def influence(adapter, theta, X, y_enc, V) -> np.ndarray:
    """``psi = G V``: every row's loss gradient against the columns of ``V``.

    ``G`` holds the per-row gradients ``grad loss_j`` at ``theta``; the
    adapter forms the products without them
    (:meth:`~sklearn_unlearn.adapters.LinearAdapter.row_gradient_products`: a
    linear model's gradients are rank one; a net's are forward-mode
    Jacobian-vector products of the per-row losses).

    Parameters
    ----------
    adapter : LinearAdapter, SkorchAdapter or an adapter with ``per_sample_gradients``
    theta : ndarray or torch.Tensor of shape (p,)
    X : {ndarray, sparse matrix} of shape (n, d)
    y_enc : ndarray
    V : ndarray or torch.Tensor of shape (p, m)

    Returns
    -------
    ndarray of shape (n, m)
    """
    if hasattr(adapter, "row_gradient_products"):
        return adapter.row_gradient_products(theta, X, y_enc, V)
    n = X.shape[0]
    V = np.asarray(V, dtype=np.float64).reshape(adapter.n_params, -1)
    out = np.empty((n, V.shape[1]))
    for start in range(0, n, adapter.chunk_size):
        s = slice(start, start + adapter.chunk_size)
        G = np.asarray(adapter.per_sample_gradients(theta, X[s], y_enc[s]))
        out[s] = G @ V
    return out


def _row_keys(X) -> list[bytes]:
    A = X.toarray() if sp.issparse(X) else np.asarray(X)
    A = np.ascontiguousarray(A, dtype=np.float64) + 0.0  # -0.0 is 0.0
    return [row.tobytes() for row in A]


def _concat(a: Rows, b: Rows) -> Rows:
    return Rows(
        np.concatenate([np.asarray(a.X), np.asarray(b.X)]),
        np.concatenate([a.y, b.y]),
        np.concatenate([a.c, b.c]),
    )


def _take(rows: Rows, idx) -> Rows:
    X = rows.X[idx]
    if not sp.issparse(X):
        X = np.array(X, order="C")  # a copy, never a view
    return Rows(X, np.array(rows.y[idx]), np.array(rows.c[idx]))


def draw_pool(rows: Rows, pool_size, random_state) -> Rows:
    """The re-weighting pool: ``pool_size`` rows drawn without replacement."""
    rng = check_random_state(random_state)
    size = rows.n if pool_size is None else min(pool_size, rows.n)
    return _take(rows, np.sort(rng.choice(rows.n, size=size, replace=False)))


def purged(pool: Rows, remove: Rows) -> Rows:
    """The pool without any row equal to a removed one (all copies go)."""
    if not (remove.n and pool.n):
        return pool
    gone = set(_row_keys(remove.X))
    keep = np.array([k not in gone for k in _row_keys(pool.X)], dtype=bool)
    return _take(pool, np.flatnonzero(keep))


@dataclass
class PumaCache:
    """What PUMA keeps between requests (``UnlearnState.curvature``).

    Attributes
    ----------
    curvature : CholeskyCurvature
        Exact Hessian of the objective on the rows that remain.
    V : ndarray of shape (p, m)
        ``H^{-1} grad C`` at the current parameters (one column per criterion
        component).
    pool : Rows or None
        With ``PUMA(pool="fit")``, the re-weighting pool: a random sample of
        the raw training rows that remain; rows are purged from it the moment
        they are unlearned. ``None`` with ``pool="retain"`` (the default): the
        pool is then drawn from each request's retained rows and never kept.
    labels : ndarray or None
        Group labels of a per-group criterion, fixed at fit.
    """

    curvature: object
    V: np.ndarray
    pool: Rows | None
    labels: np.ndarray | None = None

    def congruence(self, transform, fixed_diagonal):
        raise ValueError(
            "PUMA keeps its criterion direction (and with pool='fit' a pool of "
            "rows) in the model's input features, which a downdated "
            "preprocessing step would change; put PUMA behind fixed "
            "preprocessing, or use Newton."
        )


def criterion_direction(
    adapter, theta, curvature, X, y_enc, criteria, group_by=None, labels=None
):
    """``H^{-1} grad C`` on rows ``(X, y_enc)``; returns ``(V, values, labels)``.

    Parameters
    ----------
    adapter : LinearAdapter
    theta : ndarray of shape (p,)
    curvature : CurvatureOperator
    X : {ndarray, sparse matrix}
    y_enc : ndarray
    criteria : list of criterion objects
    group_by : None, "class" or callable, default=None
    labels : ndarray, default=None
        Group labels; found on these rows when ``None``.

    Returns
    -------
    V : ndarray of shape (p, m)
    values : ndarray of shape (m,)
    labels : ndarray or None
    """
    groups = None
    if group_by is not None:
        if isinstance(group_by, str):  # "class"
            groups = np.argmax(y_enc, axis=1) if y_enc.ndim == 2 else y_enc
        else:
            groups = np.asarray(group_by(X))
        if groups.ndim != 1 or len(groups) != X.shape[0]:
            raise ValueError(
                f"group_by must give one label per row: got shape {groups.shape} "
                f"for {X.shape[0]} rows."
            )
        if labels is None:
            labels = np.unique(groups)
    values, G = criterion_gradient(adapter, theta, X, y_enc, criteria, groups, labels)
    V = adapter.without_null_directions(curvature.solve(G))
    return V, values, labels


class PUMA(UnlearningMethod):
    """Remove rows while keeping a performance criterion unchanged (PUMA).

    For a request that removes rows ``k`` (marked data), PUMA (Wu et al.,
    AAAI 2022) re-weights other training rows ``j`` (the pool) so that the
    criterion ``C`` stays where it was to first order:

    1. ``v = H^{-1} grad C`` is cached (``H``: Hessian of the training
       objective, ``C``: the criterion on the training rows or on
       ``validation``); each row's influence on ``C`` is
       ``psi_j = v . grad loss_j`` (eq. 9), the first-order change of ``C``
       when the row is deleted.
    2. ``lam = argmin ||sum_j lam_j psi_j - sum_k psi_k||^2 + l1 ||lam||_1 +
       l2 ||lam||^2`` over the pool, within ``bounds`` (eq. 10). A scalar
       criterion with ``l2 > 0`` is solved exactly in closed form; a
       vector-valued one (several criteria, or one per group) with cvxpy.
    3. ``theta += eta * H^{-1} [sum_k grad loss_k - sum_j lam_j grad loss_j]``
       (eq. 11-12), with the ``H`` of before the request.

    The pool. By default (``pool="retain"``) the fitted model keeps no raw
    training row: each request re-weights a random sample of ``pool_size``
    of the rows that remain, which the caller passes (``X_retain``,
    ``y_retain``; ``fit(X, y, forget=mask)`` and
    :class:`~sklearn_unlearn.UnlearnPipeline` pass them). With
    ``pool="fit"`` the pool is drawn at fit and kept in the model, so that
    requests need no retained rows, at the price of storing raw rows. With
    the same rows in the pool both give the same step.

    Afterwards the cached Hessian is downdated by the removed rows exactly as
    :class:`Newton` does, and ``v`` is recomputed at the new parameters.
    PUMA gives no certificate: it trades exactness for performance.

    On a skorch net ``H`` is the damped Gauss-Newton matrix of the training
    objective (see ``curvature``), ``grad C`` a vector-Jacobian product of
    the criterion through the net's outputs and the influences ``psi``
    forward-mode Jacobian-vector products of the per-row losses: no matrix
    of per-row gradients is formed.

    Scaling. ``H`` is the Hessian of the summed objective, so ``eta=1`` with
    ``lam=0`` is the influence-function removal (one Newton step with the
    fit-time Hessian); the paper's ``eta`` uses the mean objective and equals
    ours divided by the number of rows. The re-weighting problem (and so
    ``l1``, ``l2``) is posed in the paper's scale: ``psi`` multiplied by the
    total row weight.

    Parameters
    ----------
    eta : float, default=1.0
        Projection rate; ``0`` leaves the model unchanged.
    l1 : float, default=1e-3
        Lasso penalty on ``lam`` (sparsity).
    l2 : float, default=1e-2
        Ridge penalty on ``lam`` (small changes).
    criterion : str, callable, or list of these, default="auto"
        ``"log_loss"``, ``"brier"``, ``"ece"`` (a differentiable ECE, see
        :class:`~sklearn_unlearn.inspection.SoftECE`), ``"squared_error"``,
        or a callable ``f(y_true, y_pred) -> (value, gradient)`` with
        ``y_pred`` the class probabilities (classifiers) or predictions.
        ``"auto"``: log loss for probabilistic classifiers, squared error
        otherwise. A list makes the criterion vector-valued.
    group_by : None, "class" or callable, default=None
        Evaluate the criterion per group of rows (``"class"``, or
        ``f(X) -> labels`` on the model's input features): one component per
        group and criterion.
    validation : tuple (X_val, y_val), default=None
        Rows on which ``C`` is measured (in the model's input features). By
        default ``C`` is measured on the training rows: all of them at fit;
        after a request on the retained rows when the caller passes them
        (always with ``pool="retain"``), else on the stored pool (a random
        sample of the rows that remain). The estimator's
        ``fit(X, y, X_val=..., y_val=...)`` sets it for the fitted copy of
        the method (raw features behind a pipeline are transformed).
    pool : {"retain", "fit"}, default="retain"
        Where the re-weighting pool comes from.

        - ``"retain"``: nothing is stored at fit; each request re-weights
          ``pool_size`` rows drawn (without replacement, with
          ``random_state``) from the retained rows it is given (rows the
          request adds excluded), so every request must pass ``X_retain``
          and ``y_retain``. The fitted model and its pickles hold no raw
          training row.
        - ``"fit"``: ``pool_size`` training rows are drawn at fit and kept in
          the fitted model, purged of every row unlearned (all copies of an
          equal row go). The model, and **every pickle of it, then holds up
          to** ``pool_size`` **raw training rows** (all of them with
          ``pool_size=None``); requests need no retained rows (unless a
          net's curvature is matrix-free).
    pool_size : int or None, default=1000
        Size of the re-weighting pool (drawn at each request with
        ``pool="retain"``, at fit with ``pool="fit"``); ``None``: every row
        that remains (``"retain"``) or every training row (``"fit"``).
    bounds : tuple (lo, hi), default=None
        Bounds on every ``lam_j`` (``lo <= 0 <= hi``); ``None``: unbounded.
    solver : {"auto", "closed_form", "cvxpy"}, default="auto"
        ``"auto"``: the closed form for a scalar criterion with ``l2 > 0``.
    damping : float, default=0.0
        Added to the Hessian's diagonal.
    curvature : {"auto", "cholesky", "cg", "lissa"}, default="auto"
        How a **net**'s curvature (its damped Gauss-Newton matrix) is
        inverted, as in :class:`Newton`: ``"cholesky"`` keeps a dense inverse
        downdated by each request, ``"cg"``/``"lissa"`` solve over the rows
        that remain, which every request must then pass (``X_retain``,
        ``y_retain``); ``"auto"`` is dense up to 20,000 parameters. A linear
        model always uses its exact Hessian's Cholesky factor.
    random_state : int, RandomState or None, default=None
        Draws the pool (at fit, or at each request with ``pool="retain"``).

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.methods import PUMA
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = UnlearningClassifier(LogisticRegression(), method=PUMA(eta=0.5))
    >>> clf = clf.fit(X, y).unlearn(X[:10], y[:10], X_retain=X[10:], y_retain=y[10:])
    >>> clf.ledger_[-1].method, clf.ledger_[-1].n_remaining
    ('PUMA', 190)

    With ``pool="fit"`` the model keeps its pool (raw rows) and a request
    needs no retained rows:

    >>> clf = UnlearningClassifier(LogisticRegression(), method=PUMA(pool="fit"))
    >>> clf.fit(X, y).unlearn(X[:10], y[:10]).ledger_[-1].n_remaining
    190
    """

    _parameter_constraints = {
        "eta": [Interval(Real, 0, None, closed="left")],
        "l1": [Interval(Real, 0, None, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "criterion": "no_validation",
        "group_by": [None, StrOptions({"class"}), callable],
        "validation": [None, tuple],
        "pool": [StrOptions({"retain", "fit"})],
        "pool_size": [Interval(Integral, 0, None, closed="left"), None],
        "bounds": [None, tuple],
        "solver": [StrOptions({"auto", "closed_form", "cvxpy"})],
        "damping": [Interval(Real, 0, None, closed="left")],
        "curvature": [StrOptions({"auto", "cholesky", "cg", "lissa"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        eta: float = 1.0,
        l1: float = 1e-3,
        l2: float = 1e-2,
        criterion="auto",
        *,
        group_by=None,
        validation=None,
        pool: str = "retain",
        pool_size: int | None = 1000,
        bounds=None,
        solver: str = "auto",
        damping: float = 0.0,
        curvature: str = "auto",
        random_state=None,
    ):
        self.eta = eta
        self.l1 = l1
        self.l2 = l2
        self.criterion = criterion
        self.group_by = group_by
        self.validation = validation
        self.pool = pool
        self.pool_size = pool_size
        self.bounds = bounds
        self.solver = solver
        self.damping = damping
        self.curvature = curvature
        self.random_state = random_state

    @property
    def requires_retained_data(self) -> bool:
        """True with ``pool="retain"`` or a net's matrix-free curvature."""
        pool = getattr(self, "pool", "fit")  # a pickle from before the parameter
        return pool == "retain" or getattr(self, "_matrix_free", False)

    # ------------------------------------------------------------- checks
    def _check_bounds(self):
        if self.bounds is None:
            return
        if len(self.bounds) != 2:
            raise ValueError(f"bounds must be a pair (lo, hi), got {self.bounds!r}.")
        lo, hi = (np.asarray(v, dtype=np.float64) for v in self.bounds)
        if (
            np.any(np.isnan(lo))
            or np.any(np.isnan(hi))
            or np.any(lo > 0)
            or (np.any(hi < 0))
        ):
            raise ValueError(
                f"bounds must satisfy lo <= 0 <= hi (lam = 0 leaves a row as it "
                f"is), got {self.bounds!r}."
            )

    def _validation_rows(self, adapter):
        if self.validation is None:
            return None
        if len(self.validation) != 2:
            raise ValueError("validation must be a pair (X_val, y_val).")
        X_val, y_val = self.validation
        X_val = check_array(X_val, **adapter.input_checks)
        n_features = getattr(adapter, "n_features_in_", None)
        if X_val.ndim == 2 and n_features is not None and X_val.shape[1] != n_features:
            raise ValueError(
                f"validation has {X_val.shape[1]} features; the model expects "
                f"{n_features}."
            )
        y_val = np.asarray(y_val)
        if y_val.shape[0] != X_val.shape[0]:
            raise ValueError(
                f"validation has {X_val.shape[0]} rows but {y_val.shape[0]} targets."
            )
        return X_val, adapter.encode_target(y_val)

    def _criteria(self, adapter):
        criteria = resolve_criteria(self.criterion, adapter)
        if self.solver == "closed_form" and (
            len(criteria) > 1 or self.group_by is not None or not self.l2 > 0
        ):
            raise ValueError(
                "solver='closed_form' solves a scalar criterion with l2 > 0; use "
                "solver='cvxpy' for several criteria, groups or l2=0."
            )
        return criteria

    def _curvature_kind(self, adapter) -> str:
        """``"auto"``: dense up to ``MAX_DENSE_PARAMS``, else matrix-free if any."""
        if self.curvature != "auto":
            return self.curvature
        if adapter.matrix_free_curvature and adapter.n_params > MAX_DENSE_PARAMS:
            return "cg"
        return "cholesky"  # PUMA downdates its curvature at every request

    # ------------------------------------------------------------ protocol
    def prepare(self, adapter, theta, rows, hessian=None):
        self._check_bounds()
        self._criteria(adapter)  # bad criteria fail before the curvature's cost
        newton = Newton(
            damping=self.damping, curvature=self._curvature_kind(adapter), downdate=True
        )
        curvature = newton.prepare(adapter, theta, rows, hessian)
        self._matrix_free = newton.requires_retained_data
        solver = adapter.curvature_solver(curvature, theta, rows, rows.weight)
        return self._fit_cache(adapter, theta, curvature, solver, rows)

    def _fit_cache(self, adapter, theta, curvature, solver, rows):
        """The cache: ``v`` on the criterion rows (``solver``: ``H^{-1}``), the pool."""
        val = self._validation_rows(adapter)
        X_c, y_c = val if val is not None else (rows.X, rows.y)
        V, _, labels = criterion_direction(
            adapter, theta, solver, X_c, y_c, self._criteria(adapter), self.group_by
        )
        pool = None
        if self.pool == "fit":  # raw rows kept in the model
            pool = draw_pool(rows, self.pool_size, self.random_state)
        return PumaCache(curvature, V, pool, labels)

    def step(self, adapter, state, request):
        """Eq. (10)-(11); then ``H`` loses the rows and ``v`` is refreshed."""
        cache = state.curvature
        theta = state.theta
        if cache.pool is None:  # pool="retain": drawn now, never kept
            if request.retain is None:
                raise ValueError(
                    "PUMA(pool='retain') needs the rows that remain: pass X_retain "
                    "and y_retain (or use PUMA(pool='fit'), which keeps a pool of "
                    "raw training rows in the model)."
                )
            # the rows of before that remain: added rows are not in a stored pool
            source = request.retain
            if request.add is not None:
                source = purged(source, request.add)
            pool = draw_pool(source, self.pool_size, self.random_state)
            kept = None
        else:
            pool = purged(cache.pool, request.remove)  # every unlearned row, at once
            kept = pool
        g, w_new, dlam = adapter.gradient_change(theta, request, state)
        g = adapter.as_float64(g)
        direction = -g  # sum_k grad loss_k for a pure removal
        if pool.n and self.eta and cache.V.shape[1]:
            W = state.total_weight  # the paper's mean scaling of psi
            psi = influence(adapter, theta, pool.X, pool.y, cache.V)
            b = -adapter.to_numpy(cache.V.T @ g)  # sum_k psi_k
            lam = solve_reweighting(
                W * psi, W * b, self.l1, self.l2, self.bounds, self.solver
            )
            if np.any(lam):
                pull = adapter.gradient(theta, pool.X, pool.y, lam)
                direction = direction - adapter.as_float64(pull)
        matrix_free = getattr(cache.curvature, "requires_retained_data", False)
        before = None
        if matrix_free:
            if request.retain is None:
                raise ValueError(
                    f"PUMA(curvature={cache.curvature.kind!r}) on a net needs the "
                    "rows that remain: pass X_retain and y_retain."
                )
            before = _concat(request.retain, request.remove)
        solver = adapter.curvature_solver(
            cache.curvature, theta, before, state.total_weight
        )
        step = self.eta * solver.solve(direction)  # eq. (11), H of before
        step = adapter.without_null_directions(step)
        curvature, repaired = adapter.updated_curvature(
            cache.curvature,
            theta,
            request,
            dlam,
            floor=adapter.penalty_strength(w_new),
            downdate=True,
        )
        theta_new = adapter.add_step(theta, step)
        solver = adapter.curvature_solver(curvature, theta_new, request.retain, w_new)
        V = self._refresh(adapter, theta_new, solver, request, pool, cache.labels)
        return uncertified_step(
            adapter,
            state,
            request,
            step,
            curvature=PumaCache(curvature, V, kept, cache.labels),
            curvature_repaired=repaired,
            total_weight=w_new,
        )

    def _refresh(self, adapter, theta, curvature, request, pool, labels):
        """``v`` at the new parameters, measured on rows that remain (or validation)."""
        val = self._validation_rows(adapter)
        if val is not None:
            X_c, y_c = val
        elif request.retain is not None:
            X_c, y_c = request.retain.X, request.retain.y
        elif pool.n:
            X_c, y_c = pool.X, pool.y
        else:
            return adapter.empty_directions()
        V, _, _ = criterion_direction(
            adapter,
            theta,
            curvature,
            X_c,
            y_c,
            self._criteria(adapter),
            self.group_by,
            labels,
        )
        return V
