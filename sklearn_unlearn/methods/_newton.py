"""The second-order (influence / certified-removal) update."""

from __future__ import annotations

from numbers import Integral, Real

from ..adapters._newton_solver import minimize_newton
from ..curvature import CholeskyCurvature
from ..utils._compat import Interval, StrOptions
from ._base import UnlearningMethod

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
        Linear models only.
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
        "refine": [Interval(Integral, 0, None, closed="left")],
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

    def __init__(
        self,
        refine: int = 0,
        damping: float | str = "auto",
        *,
        curvature: str = "auto",
        matrix: str = "gauss_newton",
        downdate: bool | str = "auto",
        rank: int = 512,
        curvature_rows: int | None = 8192,
        random_state=0,
        solver_options: dict | None = None,
    ):
        self.refine = refine
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
        if self.refine and not adapter.convex:
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
        gram, radius = adapter.updated_geometry(state.gram, state.radius, request)
        damping = self._given_damping()
        bound, drift_g, drift_2, cache_error = adapter.newton_certificate(
            state, request, step, gram, radius, damping, repaired=repaired
        )
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
        )
        if self.refine and request.retain is not None:
            new = refine_exactly(adapter, new, request.retain, self.refine, damping)
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
