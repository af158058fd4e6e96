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

import torch

from ..curvature._base import NotPositiveDefiniteError
from ..curvature._block_fisher import BlockDiagonalFisherInverse
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
def resolve_curvature(curvature: str, n_params: int, max_dense_params: int) -> str:
    """``"auto"`` becomes ``"cholesky"`` up to ``max_dense_params``, else ``"cg"``."""
    if curvature == "auto":
        return "cholesky" if n_params <= max_dense_params else "cg"
    return curvature


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
        method.curvature, adapter.n_params, method.max_dense_params
    )
    lam = adapter.penalty_strength(rows.weight)
    if kind == "cholesky":
        M = _dense_matrix(adapter, theta, rows, method.matrix).to(torch.float64)
        floor = lam * adapter.penalty_mask.to(torch.float64)
        M.diagonal().add_(floor)
        return TorchCholeskyCurvature(M, damping=method.damping, floor=floor)
    # matrix-free: every request needs the rows that remain
    method.requires_retained_data = True
    opts = _solver_options(method, adapter)
    if kind == "lissa" and "scale" not in opts:
        X, y, c = _tensors(adapter, rows)
        mv = net_matvec(adapter, theta, X, y, c, penalty=lam, matrix=method.matrix)
        top = top_eigenvalue(mv, adapter.n_params, like=theta)
        opts["scale"] = _TOP_MARGIN * (abs(top) + method.damping)
    return IterativeNetCurvature(
        kind, damping=method.damping, matrix=method.matrix, **opts
    )


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


def newton_step(method, adapter, state, request):
    """``theta' = theta - (M' + damping I)^{-1} g`` with the remaining rows' ``M'``."""
    theta = state.theta
    g, w_new, dlam = net_gradient_change(adapter, theta, request, state)
    curvature = state.curvature
    if isinstance(curvature, TorchCholeskyCurvature):
        curvature, repaired = _updated_dense(
            adapter, curvature, theta, request, dlam, method.matrix
        )
        step = -curvature.solve(g)
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
        repaired = False
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
def _fisher_columns(adapter, theta, rows):
    """Chunks of columns ``sqrt(c_i) g_i`` (per-row gradients at ``theta``)."""
    X, y, c = _tensors(adapter, rows)
    start = 0
    for G in adapter.per_sample_gradients(theta, X, y):
        w = c[start : start + G.shape[0]].sqrt().to(G.dtype)
        start += G.shape[0]
        yield (G * w[:, None]).T


def ssse_prepare(method, adapter, theta, rows):
    """SSSE's per-layer block-diagonal empirical Fisher inverse (Peste et al., Sec. 4).

    Built from per-row gradients chunk by chunk (never the whole ``(n, p)``
    matrix) by the Sherman-Morrison recursion of eq. (3), in float64.
    """
    lam = adapter.penalty_strength(rows.weight)
    diagonal = lam * adapter.penalty_mask.to(torch.float64) + method.damping
    op = BlockDiagonalFisherInverse.from_layers(
        adapter.param_sizes,
        diagonal,
        block_size=method.block_size,
        block_rows=method.block_rows,
    )
    for U in _fisher_columns(adapter, theta, rows):
        op = op.updated(add=U)
    return op


def ssse_step(method, adapter, state, request):
    """``theta' = theta - epsilon F^{-1} g`` (eq. 4); the rows' terms leave ``F``."""
    theta = state.theta
    g, w_new, _ = net_gradient_change(adapter, theta, request, state)
    step = -method.epsilon * state.curvature.solve(g)
    curvature = state.curvature
    for key, rows in (("add", request.add), ("remove", request.remove)):
        if rows.n:
            for U in _fisher_columns(adapter, theta, rows):
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
