"""The net path of the unlearning methods (skorch nets through ``SkorchAdapter``).

Each method's ``prepare``/``step`` hands over to a function here when the
adapter is a net's. Everything stays in torch on the net's device; the state's
``theta`` is a torch tensor. A net is never trained to an exact optimum, so
every step uses only the *change* of the gradient that the request makes
(the removed and added rows' gradients and the change of the weight decay),
never the fit-time gradient, and carries no certificate.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from ..curvature._base import NotPositiveDefiniteError
from ..curvature._block_fisher import BlockDiagonalFisherInverse
from ..curvature._low_rank import LowRankCurvature
from ..curvature._net_operators import IterativeNetCurvature, net_matvec, top_eigenvalue
from ..curvature._scale import CurvatureScale
from ..curvature._torch_cholesky import TorchCholeskyCurvature

__all__ = [
    "first_order_prepare",
    "first_order_step",
    "net_gradient_change",
    "newton_prepare",
    "resolve_curvature",
    "newton_step",
    "retrain_step",
    "ssse_prepare",
    "ssse_step",
]

#: margin on a power-iteration estimate of the largest eigenvalue
_TOP_MARGIN = 1.1


def _tensors(adapter, rows):
    return adapter.as_tensors(rows.X, rows.y, rows.c)


def net_gradient_change(adapter, theta, request, state):
    """``sum_A c grad l - sum_S c grad l + dlam P theta`` at ``theta``, in torch.

    Returns ``(g, w_new, dlam)``: the gradient change, the new total weight
    and the change of the penalty strength (the weight decay scales with the
    rows that remain, as skorch's mean loss does).
    """
    g = torch.zeros_like(theta)
    if request.add.n:
        g += adapter.gradient(theta, *_tensors(adapter, request.add))
    if request.remove.n:
        g -= adapter.gradient(theta, *_tensors(adapter, request.remove))
    w_new = state.total_weight - request.remove.weight + request.add.weight
    dlam = adapter.penalty_strength(w_new) - adapter.penalty_strength(
        state.total_weight
    )
    if dlam:
        g += dlam * adapter.penalty_mask * theta
    return g, w_new, dlam


def _evolve(state, theta, step, **changes):
    """The state after a step without certificate."""
    return state.evolve(
        theta=theta + step.to(dtype=theta.dtype, device=theta.device),
        residual_bound=None,
        drift_g=math.inf,
        drift_2=state.drift_2 + float(torch.linalg.vector_norm(step)),
        **changes,
    )


# ------------------------------------------------------------------ Newton
#: the exact dual form is taken while the rows' factor has at most this many
#: columns per kept eigenpair of the sampled low-rank form (its memory is
#: ``p`` floats a column)
DUAL_COLUMNS_PER_RANK = 4

#: SSSE's damping on a net at a minimum (its recursion starts from F_0 > 0)
SSSE_MIN_DAMPING = 1e-4


def _outputs_per_row(adapter, theta, rows) -> int:
    """Columns of the Gauss-Newton factor per row (``K``, ``K - 1`` for softmax)."""
    X, y, c = adapter.as_tensors(rows.X[:1], rows.y[:1], rows.c[:1])
    return int(adapter.gauss_newton_factor(theta, X, y, c).shape[1])


def resolve_curvature(
    curvature: str, adapter, theta, rows, matrix, method_rank: int = 512
) -> str:
    """``"auto"``: the exact dual form when the rows' factor is thin, else low rank.

    The dual form keeps one ``p``-vector per Gauss-Newton column of the rows
    (``N = n * outputs`` of them); it is exact while ``N < p`` and is taken
    while ``N`` is at most ``4 * rank`` (memory comparable to the low-rank
    form). A net with at most ``rank`` parameters, and the exact Hessian
    (indefinite), take the dense matrix.
    """
    if curvature != "auto":
        return curvature
    if matrix == "hessian" or adapter.n_params <= method_rank:
        return "cholesky"
    n_cols = rows.n * _outputs_per_row(adapter, theta, rows)
    if n_cols <= min(adapter.n_params, DUAL_COLUMNS_PER_RANK * method_rank):
        return "dual"
    return "lowrank"


def objective_gradient_norm(adapter, theta, rows) -> float:
    """Norm of the training objective's gradient (data term and penalty)."""
    X, y, c = _tensors(adapter, rows)
    g = adapter.gradient(theta, X, y, c)
    g += adapter.penalty_strength(rows.weight) * adapter.penalty_mask * theta
    return float(torch.linalg.vector_norm(g))


def net_damping(method, adapter, theta, rows):
    """The method's damping on a net, and a ledger note on where it came from.

    ``"auto"`` reads it from the training run
    (:func:`~sklearn_unlearn.adapters._training_damping.training_damping`); a
    number is taken as given, with a warning when it is 0 and the net is not
    at a minimum (the undamped step divides by the bare penalty in every
    direction the data do not reach, and overshoots).
    """
    from ..adapters._training_damping import AT_MINIMUM_GRADIENT, training_damping

    if method.damping == "auto":
        gnorm = objective_gradient_norm(adapter, theta, rows)
        found = training_damping(adapter._net, rows.weight, gnorm)
        return found.value, found.rule
    damping = float(method.damping)
    if damping == 0.0:
        gnorm = objective_gradient_norm(adapter, theta, rows)
        if gnorm > AT_MINIMUM_GRADIENT * max(rows.weight, 1.0):
            warnings.warn(
                f"{method.name}(damping=0) on a net that is not at a minimum "
                f"(objective gradient norm {gnorm:.3g}): the undamped step "
                "overshoots in every direction the data do not constrain. Use "
                "damping='auto' (matched to the training run) or a positive "
                "damping.",
                UserWarning,
                stacklevel=4,
            )
    return damping, f"damping {damping:g} (given)"


def _factor_chunks(adapter, theta, rows, index=None, matrix="gauss_newton"):
    """A callable streaming ``(p, m)`` factor blocks of ``rows``' curvature.

    ``matrix="gauss_newton"``: :meth:`SkorchAdapter.gauss_newton_factor`;
    ``"fisher"``: the per-row gradients ``sqrt(c_i) g_i`` (empirical Fisher).
    """
    X, y, c = _tensors(adapter, rows)
    if index is not None:
        X, y, c = X[index], y[index], c[index]
    size = adapter._dense_rows(2)

    def chunks():
        for start in range(0, X.shape[0], size):
            sl = slice(start, start + size)
            if matrix == "fisher":
                yield from _fisher_columns(adapter, theta, X[sl], y[sl], c[sl])
            else:
                yield adapter.gauss_newton_factor(theta, X[sl], y[sl], c[sl])

    return chunks


def _sampled_rows(method, n):
    """Positions of the rows the randomized range finder sees (all when few)."""
    m = method.curvature_rows
    if m is None or m >= n:
        return None
    gen = torch.Generator().manual_seed(_seed(method.random_state))
    return torch.sort(torch.randperm(n, generator=gen)[:m]).values


def _seed(random_state) -> int:
    if random_state is None:
        return int(torch.randint(0, 2**31 - 1, ()).item())
    if isinstance(random_state, int):
        return random_state
    return int(np.random.default_rng(random_state).integers(2**31 - 1))


def low_rank_curvature(
    method, adapter, theta, rows, kind, floor, damping, notes, matrix="gauss_newton"
):
    """The dual (exact) or sampled low-rank-plus-floor curvature of ``rows``.

    ``matrix`` is ``"gauss_newton"`` or ``"fisher"`` (:func:`_factor_chunks`);
    ``method`` gives ``rank``, ``curvature_rows`` and ``random_state``.
    """
    like = dict(dtype=torch.float64, device=theta.device)
    what = "Gauss-Newton" if matrix == "gauss_newton" else "empirical Fisher"
    if kind == "dual":
        return LowRankCurvature.exact(
            _factor_chunks(adapter, theta, rows, matrix=matrix),
            adapter.n_params,
            floor=floor.to(**like),
            damping=damping,
            notes=(f"net {what} curvature: exact dual form over {rows.n} rows",)
            + notes,
        )
    index = _sampled_rows(method, rows.n)
    scale, m = 1.0, rows.n
    if index is not None:
        c = torch.as_tensor(np.asarray(rows.c, dtype=np.float64))
        m = len(index)
        scale = float(c.sum() / c[index].sum())
    return LowRankCurvature.randomized(
        _factor_chunks(adapter, theta, rows, index, matrix=matrix),
        adapter.n_params,
        rank=method.rank,
        floor=floor.to(**like),
        damping=damping,
        scale=scale,
        random_state=_seed(method.random_state),
        device=theta.device,
        notes=(
            f"net {what} curvature: top {min(method.rank, adapter.n_params)} "
            f"eigenpairs from {m} of {rows.n} rows, plus the dropped spectrum's "
            "diagonal and the penalty floor",
        )
        + notes,
    )


def _dense_matrix(adapter, theta, rows, matrix):
    X, y, c = _tensors(adapter, rows)
    if matrix == "hessian":
        return adapter.hessian(theta, X, y, c)
    return adapter.gauss_newton(theta, X, y, c)


def _solver_options(method, adapter):
    opts = dict(method.solver_options or {})
    unknown = set(opts) - {"rtol", "max_iter", "scale", "patience"}
    if unknown:
        raise ValueError(
            f"unknown solver_options {sorted(unknown)}; known are rtol, max_iter, "
            "scale (LiSSA) and patience (LiSSA)."
        )
    opts.setdefault("rtol", 1e-10 if adapter.dtype == torch.float64 else 1e-6)
    return opts


def newton_prepare(method, adapter, theta, rows):
    """The cached curvature of ``Newton`` on a net (see :class:`Newton`)."""
    if method.refine:
        raise ValueError(
            "Newton(refine=...) needs exact refits and is for linear models only; "
            "use refine=0 with a net."
        )
    kind = resolve_curvature(
        method.curvature, adapter, theta, rows, method.matrix, method.rank
    )
    if kind in ("dual", "lowrank") and method.matrix == "hessian":
        raise ValueError(
            f"curvature={kind!r} factors the Gauss-Newton matrix; the exact "
            "Hessian needs curvature='cholesky', 'cg' or 'lissa'."
        )
    damping, rule = net_damping(method, adapter, theta, rows)
    notes = (rule,)
    lam = adapter.penalty_strength(rows.weight)
    floor = lam * adapter.penalty_mask.to(torch.float64)
    if kind in ("dual", "lowrank"):
        return low_rank_curvature(
            method, adapter, theta, rows, kind, floor, damping, notes
        )
    if kind == "cholesky":
        M = _dense_matrix(adapter, theta, rows, method.matrix).to(torch.float64)
        M.diagonal().add_(floor)
        op = TorchCholeskyCurvature(M, damping=damping, floor=floor)
        op.notes = ("net curvature: dense matrix with a cached inverse",) + notes
        return op
    # matrix-free: every request needs the rows that remain
    method.requires_retained_data = True
    opts = _solver_options(method, adapter)
    if kind == "lissa" and "scale" not in opts:
        X, y, c = _tensors(adapter, rows)
        mv = net_matvec(adapter, theta, X, y, c, penalty=lam, matrix=method.matrix)
        top = top_eigenvalue(mv, adapter.n_params, like=theta)
        opts["scale"] = _TOP_MARGIN * (abs(top) + damping)
    op = IterativeNetCurvature(kind, damping=damping, matrix=method.matrix, **opts)
    op.notes = (f"net curvature: {kind} over the retained rows",) + notes
    return op


def _updated_dense(adapter, curvature, theta, request, dlam, matrix):
    """The dense curvature of the objective that remains; ``(operator, repaired)``.

    Rows' Gauss-Newton terms are taken at the *current* parameters and folded
    into the cached inverse by Woodbury, ``O(p^2 r)``; a Hessian change is
    refactorised. The parameters where a row's term went in are not kept
    (the fit-time parameters are a model trained on the forgotten rows), so
    a removed row's term differs from the one it added by the parameters'
    drift since. Should that leave the matrix indefinite, its eigenvalues are
    raised to the penalty floor (``O(p^3)``) and ``repaired`` is True.
    """
    shift = dlam * adapter.penalty_mask if dlam else None
    if matrix == "hessian":
        delta = None
        for rows, sign in ((request.add, 1.0), (request.remove, -1.0)):
            if rows.n:
                d = sign * _dense_matrix(adapter, theta, rows, matrix)
                delta = d if delta is None else delta + d
        return curvature.updated(delta=delta, shift=shift), False
    factors = {}
    for key, rows in (("add", request.add), ("remove", request.remove)):
        if rows.n:
            factors[key] = adapter.gauss_newton_factor(theta, *_tensors(adapter, rows))
    try:
        return curvature.updated(shift=shift, **factors), False
    except NotPositiveDefiniteError:
        return curvature.clipped(shift=shift, **factors), True


def _updated_low_rank(adapter, curvature, theta, request, dlam):
    """The low-rank curvature with the request's rows' terms (at ``theta``) moved."""
    factors = {}
    for key, rows in (("add", request.add), ("remove", request.remove)):
        if rows.n:
            factors[key] = adapter.gauss_newton_factor(theta, *_tensors(adapter, rows))
    shift = dlam * adapter.penalty_mask if dlam else None
    return curvature.updated(shift=shift, **factors)


def newton_step(method, adapter, state, request):
    """``theta' = theta - (M + damping I)^{-1} g``.

    ``M`` is the curvature cached at fit (the damped influence step), or,
    with ``downdate=True``, that of the rows that remain, its request's rows'
    terms taken out at the current parameters first.
    """
    theta = state.theta
    g, w_new, dlam = net_gradient_change(adapter, theta, request, state)
    curvature = state.curvature
    repaired = False
    downdate = method.downdate is True or (
        method.downdate == "auto" and isinstance(curvature, TorchCholeskyCurvature)
    )
    if isinstance(curvature, TorchCholeskyCurvature):
        if downdate:
            curvature, repaired = _updated_dense(
                adapter, curvature, theta, request, dlam, method.matrix
            )
        step = -curvature.solve(g)
    elif isinstance(curvature, LowRankCurvature):
        if downdate:
            curvature = _updated_low_rank(adapter, curvature, theta, request, dlam)
        step = -curvature.solve(g.to(curvature.U_.dtype))
    else:
        if request.retain is None:
            raise ValueError(
                f"Newton(curvature={curvature.kind!r}) on a net needs the rows that "
                "remain: pass X_retain and y_retain."
            )
        X, y, c = _tensors(adapter, request.retain)
        mv = net_matvec(
            adapter,
            theta,
            X,
            y,
            c,
            penalty=adapter.penalty_strength(w_new),
            matrix=curvature.matrix,
        )
        x, curvature = curvature.solved(mv, adapter.n_params, g.to(torch.float64))
        step = -x
    return _evolve(
        state,
        theta,
        step,
        curvature=curvature,
        total_weight=w_new,
        curvature_repaired=repaired,
    )


# -------------------------------------------------------------- FirstOrder
def first_order_prepare(method, adapter, theta, rows):
    """An upper estimate of the largest eigenvalue of the Gauss-Newton curvature."""
    X, y, c = _tensors(adapter, rows)
    lam = adapter.penalty_strength(rows.weight)
    mv = net_matvec(adapter, theta, X, y, c, penalty=lam)
    return CurvatureScale(
        _TOP_MARGIN * top_eigenvalue(mv, adapter.n_params, like=theta)
    )


def first_order_step(method, adapter, state, request):
    """``theta' = theta - tau * g`` (Warnecke et al., eq. 3)."""
    theta = state.theta
    g, w_new, _ = net_gradient_change(adapter, theta, request, state)
    scale = state.curvature
    if request.add.n:  # added rows can raise the top eigenvalue by their trace
        V = adapter.gauss_newton_factor(theta, *_tensors(adapter, request.add))
        scale = scale.updated(added_trace=float((V * V).sum()))
    tau = method.tau
    if tau == "auto":
        tau = 1.0 / max(scale.top, 1e-300)
    return _evolve(state, theta, -tau * g, curvature=scale, total_weight=w_new)


# ------------------------------------------------------------------- SSSE
def _fisher_columns(adapter, theta, X, y, c):
    """Chunks of columns ``sqrt(c_i) g_i`` (per-row gradients at ``theta``)."""
    start = 0
    for G in adapter.per_sample_gradients(theta, X, y):
        w = c[start : start + G.shape[0]].sqrt().to(G.dtype)
        start += G.shape[0]
        yield (G * w[:, None]).T


def resolve_ssse_curvature(method, adapter, rows) -> str:
    """``"auto"``: the paper's block Fisher for a small net or given blocks.

    Otherwise the empirical Fisher's exact dual form (at most ``4 * rank``
    rows) or its sampled low-rank-plus-floor form: the block recursion costs
    ``O(n b^2)`` for blocks of ``b`` parameters, far more than training a
    wide net.
    """
    if method.curvature != "auto":
        return method.curvature
    if method.block_size is not None or adapter.n_params <= method.rank:
        return "block"
    if rows.n <= min(adapter.n_params, DUAL_COLUMNS_PER_RANK * method.rank):
        return "dual"
    return "lowrank"


def ssse_prepare(method, adapter, theta, rows):
    """SSSE's empirical Fisher inverse on a net.

    ``"block"``: the per-layer block-diagonal inverse of Peste et al. (Sec. 4),
    built from per-row gradients chunk by chunk (never the whole ``(n, p)``
    matrix) by the Sherman-Morrison recursion of eq. (3), in float64;
    ``"dual"``/``"lowrank"``: the whole Fisher as
    :class:`~sklearn_unlearn.curvature.LowRankCurvature`.
    """
    damping, rule = net_damping(method, adapter, theta, rows)
    if damping == 0.0:  # a net at a minimum: the paper's small start F_0
        damping, rule = SSSE_MIN_DAMPING, f"damping {SSSE_MIN_DAMPING:g} ({rule})"
    lam = adapter.penalty_strength(rows.weight)
    floor = lam * adapter.penalty_mask.to(torch.float64)
    kind = resolve_ssse_curvature(method, adapter, rows)
    if kind in ("dual", "lowrank"):
        return low_rank_curvature(
            method, adapter, theta, rows, kind, floor, damping, (rule,), "fisher"
        )
    op = BlockDiagonalFisherInverse.from_layers(
        adapter.param_sizes,
        floor + damping,
        block_size=method.block_size,
        block_rows=method.block_rows,
    )
    X, y, c = _tensors(adapter, rows)
    for U in _fisher_columns(adapter, theta, X, y, c):
        op = op.updated(add=U)
    op.notes = ("net empirical Fisher: per-layer blocks", rule)
    return op


def ssse_step(method, adapter, state, request):
    """``theta' = theta - epsilon F^{-1} g`` (eq. 4).

    The block Fisher loses the rows' terms afterwards (Sherman-Morrison); the
    low-rank forms are kept as prepared, as ``Newton``'s are.
    """
    theta = state.theta
    g, w_new, _ = net_gradient_change(adapter, theta, request, state)
    curvature = state.curvature
    if isinstance(curvature, LowRankCurvature):
        step = -method.epsilon * curvature.solve(g.to(curvature.U_.dtype))
        return _evolve(state, theta, step, curvature=curvature, total_weight=w_new)
    step = -method.epsilon * curvature.solve(g)
    for key, rows in (("add", request.add), ("remove", request.remove)):
        if rows.n:
            X, y, c = _tensors(adapter, rows)
            for U in _fisher_columns(adapter, theta, X, y, c):
                curvature = curvature.updated(**{key: U})
    return _evolve(state, theta, step, curvature=curvature, total_weight=w_new)


# ---------------------------------------------------------------- Retrain
def retrain_step(method, adapter, state, request):
    """A fresh net with the first fit's settings and seed, trained on the rest."""
    theta, _ = request.refit(request.retain)
    return state.evolve(
        theta=theta,
        total_weight=request.retain.weight,
        residual_bound=None,
        drift_g=0.0,
        drift_2=0.0,
        cache_error=0.0,
    )
