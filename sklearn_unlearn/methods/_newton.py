"""The second-order (influence / certified-removal) update."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from ..curvature import CholeskyCurvature
from ..utils._compat import Interval, StrOptions
from ._base import Rows, UnlearningMethod, UpdateRequest

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
    refine : "auto" or int, default="auto"
        Exact Newton steps on the retained rows when the caller passes them
        (``unlearn(..., X_retain=, y_retain=)``; without them nothing is
        refined). Each step is one pass over those rows (gradient, Hessian
        formed once, a line search on the objective only when the full step
        would not decrease it). ``"auto"``: as many steps as it takes for
        the estimated distance to retraining (``error_estimate``, see
        :ref:`error-estimate`) to fall below ``tol`` times the parameters'
        norm, at most 10; none when the Newton step already is there. An
        int: exactly that many steps. A least-squares model's step is exact:
        its retained rows are only checked. Linear models only (a net
        ignores ``"auto"``).
    tol : float, default=1e-9
        Relative tolerance of ``refine="auto"``.
    third_order : bool, default=False
        Correct each step of a single-output linear model by its third-order
        term (Chebyshev's method): ``s' = s - H'^{-1} 1/2 T'[s, s]`` with the
        third derivative ``T'`` sampled for the error estimate (see
        :ref:`error-estimate`); one more contraction and solve per request,
        no row read. It is only as good as the sample: where most rows are
        sampled (tables up to a few thousand rows) it lands 1.5-10x closer to
        retraining; on 30,000 Adult rows, with 2,000 sampled, the sample's
        noise decides (``bench_linear.py``, scenario f: 0.43-1.13x the plain
        step's distance over three runs). The ledger's
        ``param_error_estimate`` stays that of the plain step, and the
        certificate adds the gradient the correction leaves
        (``||1/2 T'[s, s]||``). Models without a sampled tensor take the
        plain step.
    damping : float or "auto", default="auto"
        Added to the curvature's diagonal. ``"auto"``: 0 for a linear model
        (its step is exact); for a **net**, the damping that matches its
        training run, read at fit from the fitted optimizer (SGD:
        ``W (1 - momentum) / (lr T)``; Adam family:
        ``W mean(sqrt(v_hat) + eps) / (lr T)``, ``T`` steps, ``W`` the total
        row weight; see ``adapters/_training_damping.py``), and 0 for a net
        at a minimum. A net that is not at a minimum has moved only as far as
        its training allowed in the directions its data do not constrain;
        an undamped step divides by the bare weight decay there and
        overshoots (``damping=0`` on such a net warns). The value used is in
        the fit's ledger notes.
    curvature : {"auto", "dual", "lowrank", "kfac", "cholesky", "cg", "lissa"}, \
            default="auto"
        How a **net**'s damped Gauss-Newton curvature is kept (a linear
        model always uses the exact Cholesky factor). Prepared once at fit;
        each request then costs one solve:

        * ``"dual"``: exact, from every row's Gauss-Newton columns through
          their ``N x N`` Gram matrix; ``O(p N)`` memory and per request.
        * ``"lowrank"``: the top ``rank`` eigenpairs (a randomized range
          finder over ``curvature_rows`` sampled rows, scaled to all rows)
          plus the penalty floor and the damping elsewhere; ``O(p rank)``.
        * ``"kfac"``: per-layer Kronecker factors (K-FAC, Martens & Grosse,
          2015) from ``curvature_rows`` sampled rows, for nets of
          ``nn.Linear`` layers; ``d_out^2 + d_in^2`` floats a layer whatever
          ``p``, ``O(d_out d_in (d_out + d_in))`` a layer per request; no
          downdate.
        * ``"cholesky"``: the dense ``p x p`` matrix with a cached inverse
          (small nets; ``O(p^2)`` per request, ``2 p^2`` floats kept).
        * ``"cg"``/``"lissa"``: matrix-free solves over the rows that remain,
          which every request must then pass (``X_retain``, ``y_retain``).

        ``"auto"`` takes ``"cholesky"`` for a net of at most ``rank``
        parameters and for ``matrix="hessian"``; else ``"dual"`` when the
        rows' factor has at most ``min(p, 4 * rank)`` columns (``n`` times
        the outputs, less one for a softmax), else ``"lowrank"``.
    matrix : {"gauss_newton", "hessian"}, default="gauss_newton"
        A net's curvature matrix: the positive semi-definite Gauss-Newton
        matrix, or the exact Hessian (indefinite away from a minimum: add
        damping). The two agree for a linear model.
    downdate : bool or "auto", default="auto"
        Whether a request also takes its rows' terms out of the cached
        curvature (at the current parameters). ``"auto"``: yes for a linear
        model and a net's dense curvature (small nets: exact and cheap), no
        for the dual and low-rank forms, whose default is the damped
        influence step with the fit-time curvature (one solve per request;
        the rows' share of the curvature is at most their share of the data).
        ``True`` with the low-rank forms costs ``O(p (rank + k)^2)`` per
        request.
    rank : int, default=512
        Eigenpairs kept by ``curvature="lowrank"``.
    curvature_rows : int or None, default=8192
        Rows sampled for ``curvature="lowrank"`` and ``"kfac"`` (None: all).
    random_state : int, RandomState instance or None, default=0
        Seeds the sample of rows and the range finder's test matrix.
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
        "refine": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "third_order": ["boolean"],
        "damping": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "curvature": [
            StrOptions({"auto", "dual", "lowrank", "kfac", "cholesky", "cg", "lissa"})
        ],
        "matrix": [StrOptions({"gauss_newton", "hessian"})],
        "downdate": ["boolean", StrOptions({"auto"})],
        "rank": [Interval(Integral, 1, None, closed="left")],
        "curvature_rows": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "solver_options": [dict, None],
    }

    certified = True  # for linear models (see the adapter)
    estimates_error = True  # for linear models with a sampled third derivative

    def __init__(
        self,
        refine: int | str = "auto",
        damping: float | str = "auto",
        *,
        curvature: str = "auto",
        matrix: str = "gauss_newton",
        downdate: bool | str = "auto",
        rank: int = 512,
        curvature_rows: int | None = 8192,
        random_state=0,
        solver_options: dict | None = None,
        tol: float = 1e-9,
        third_order: bool = False,
    ):
        self.refine = refine
        self.tol = tol
        self.third_order = third_order
        self.damping = damping
        self.curvature = curvature
        self.matrix = matrix
        self.downdate = downdate
        self.rank = rank
        self.curvature_rows = curvature_rows
        self.random_state = random_state
        self.solver_options = solver_options

    def _given_damping(self) -> float:
        """The damping as given; ``"auto"`` is none for a linear model's exact step."""
        return 0.0 if self.damping == "auto" else float(self.damping)

    def prepare(self, adapter, theta, rows, hessian=None):
        if self.refine != "auto" and self.refine and not adapter.convex:
            raise ValueError(
                "Newton(refine=...) needs exact refits and is for linear models only; "
                "use refine=0 with a net."
            )
        curvature = adapter.newton_curvature(self, theta, rows, hessian)
        if getattr(curvature, "requires_retained_data", False):
            self.requires_retained_data = True  # a matrix-free solve needs them
        return curvature

    def step(self, adapter, state, request):
        theta = state.theta
        g, w_new, dlam = adapter.gradient_change(theta, request, state)
        curvature, repaired = adapter.updated_curvature(
            state.curvature,
            theta,
            request,
            dlam,
            floor=adapter.penalty_strength(w_new),
            matrix=self.matrix,
            downdate=self.downdate,
        )
        if getattr(curvature, "requires_retained_data", False) and (
            request.retain is None
        ):
            raise ValueError(
                f"Newton(curvature={curvature.kind!r}) on a net needs the rows that "
                "remain: pass X_retain and y_retain."
            )
        x, curvature = adapter.apply_inverse_curvature(
            curvature, theta, g, request.retain, w_new
        )
        step = adapter.without_null_directions(-x)
        estimate = step_error_estimate(
            adapter, state.error_estimate, state.third, curvature, step, w_new
        )
        left = 0.0  # gradient the step leaves by construction (its norm)
        if self.third_order and estimate is not None and not adapter.is_quadratic:
            half = state.third.half_contraction(step, w_new)
            if half is not None:  # Chebyshev: H' s' = -g - 1/2 T'[s, s]
                step = step - curvature.solve(half)
                left = float(np.linalg.norm(half))
        gram, radius = adapter.updated_geometry(state.gram, state.radius, request)
        damping = self._given_damping()
        bound, drift_g, drift_2, cache_error = adapter.newton_certificate(
            state, request, step, gram, radius, damping, repaired=repaired
        )
        if bound is not None:
            bound += left
        new = state.evolve(
            theta=adapter.add_step(theta, step),
            curvature_repaired=repaired,
            curvature=curvature,
            total_weight=w_new,
            gram=gram,
            radius=radius,
            residual_bound=bound,
            drift_g=drift_g,
            drift_2=drift_2,
            cache_error=cache_error,
            error_estimate=estimate,
        )
        if self.refine and request.retain is not None and adapter.convex:
            new = self._refined(adapter, new, request.retain, damping)
        return new

    def _refined(self, adapter, state, retain, damping):
        if adapter.is_quadratic:
            return state  # the step was exact; the retained rows were checked
        auto = self.refine == "auto"
        for _ in range(MAX_AUTO_REFINE if auto else self.refine):
            scale = self.tol * max(float(np.linalg.norm(state.theta)), 1e-300)
            if auto and state.error_estimate is not None:
                if state.error_estimate <= scale:
                    break
            state, moved = refine_once(adapter, state, retain, damping)
            if auto and state.error_estimate is None and moved <= scale:
                break
        return state


#: most steps ``Newton(refine="auto")`` takes
MAX_AUTO_REFINE = 10
#: relative estimated distance below which a refine step is taken in full
NEAR_OPTIMUM = 1e-3


def step_error_estimate(adapter, before, third, curvature, step, total_weight):
    """The estimated distance to the new optimum after a Newton ``step``.

    ``before`` (the estimate before the step) plus ``||H'^{-1} 1/2 T'[s, s]||``
    (see ``adapters/_third_derivative.py``): the triangle inequality keeps
    the estimate a scalar, so no vector that depends on a forgotten row is
    kept between requests. ``None`` when the model has no sampled tensor.
    """
    if before is None or not adapter.convex:
        return None
    if adapter.is_quadratic:
        return before
    if third is None:
        return None
    half = third.half_contraction(step, total_weight)
    if half is None:
        return None
    v = curvature._solve(half)  # a finite internal vector: no input checks
    return before + float(np.sqrt(v @ v))


def refine_once(adapter, state, retain, damping=0.0):
    """One exact Newton step on the retained rows: one Hessian, no second pass.

    The objective, gradient and Hessian are formed at ``theta`` in one pass;
    the full step is taken when the estimated distance is below
    :data:`NEAR_OPTIMUM` (relative) or when it decreases the objective
    (Armijo), else it is halved. The new
    gradient is not formed: the certificate bounds it by Taylor's theorem
    (``L3 R ||s||_G^2 / 2`` for an exact solve) and the estimate is the
    third-order term of the step. Returns ``(state, step_norm)``.
    """
    X, y, c = retain.X, retain.y, retain.c
    theta = state.theta
    lam = adapter.penalty_strength(retain.weight)
    P = adapter.penalty_mask
    value, g, H = adapter.newton_terms(theta, X, y, c)
    g = g + lam * P * theta
    H = H + lam * np.diag(P)
    J0 = value + 0.5 * lam * float(np.sum(P * theta**2))
    curvature = CholeskyCurvature(
        H, null_directions=adapter.null_directions(), damping=damping
    )
    step = adapter.without_null_directions(-curvature.solve(g))
    # close to the optimum (estimated), the full step is in Newton's region
    # of quadratic convergence: no objective pass to check it
    estimate = state.error_estimate
    near = estimate is not None and estimate <= NEAR_OPTIMUM * max(
        float(np.linalg.norm(theta)), 1.0
    )
    t = 1.0 if near else armijo_length(adapter, theta, step, g, X, y, c, J0)
    step = t * step
    gnorm = float(np.linalg.norm(g))
    flat = state.evolve(
        curvature=curvature,
        residual_bound=(1.0 - t) * gnorm,
        drift_g=0.0,
        drift_2=0.0,
        cache_error=0.0,
    )
    none = Rows(np.zeros((0, adapter.n_features_in_)), np.zeros(0), np.zeros(0))
    request = UpdateRequest(remove=none, add=none)
    bound, drift_g, drift_2, _ = adapter.newton_certificate(
        flat, request, step, state.gram, state.radius, damping
    )
    estimate = step_error_estimate(
        adapter, 0.0, state.third, curvature, step, retain.weight
    )
    if estimate is not None and t < 1.0:
        estimate += (1.0 - t) * float(np.linalg.norm(curvature.solve(g)))
    new = flat.evolve(
        theta=theta + step,
        residual_bound=bound,
        drift_g=drift_g,
        drift_2=drift_2,
        error_estimate=estimate,
    )
    return new, float(np.linalg.norm(step))


def armijo_length(adapter, theta, step, g, X, y, c, J0) -> float:
    """The largest ``t`` in 1, 1/2, 1/4, ... with sufficient decrease (Armijo)."""
    slope = float(g @ step)
    t = 1.0
    while t > 1e-10:
        J = adapter.objective(theta + t * step, X, y, c)
        if J <= J0 + 1e-4 * t * slope + 1e-15 * abs(J0):
            return t
        t *= 0.5
    return t
