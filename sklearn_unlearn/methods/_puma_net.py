"""PUMA on a skorch net: the same equations, with the net's curvature operators.

``PUMA.prepare``/``step`` hand over here for a net. The curvature ``H`` is
the damped Gauss-Newton matrix of the training objective, inverted as
:class:`Newton` inverts it on a net: a dense matrix with a cached inverse,
downdated by each request (``"cholesky"``), or conjugate gradients /
LiSSA over the rows that remain (``"cg"``, ``"lissa"``: every request must
then pass them). ``grad C`` is a vector-Jacobian product of the criterion
through the net's outputs, the influences ``psi`` forward-mode products of
the per-row losses with ``v = H^{-1} grad C``: no ``(n, p)`` matrix of
per-row gradients is formed.
"""

from __future__ import annotations

import numpy as np
import torch

from ..curvature._net_operators import IterativeNetCurvature, net_matvec
from ._base import Rows
from ._net_steps import (
    _evolve,
    _updated_dense,
    net_gradient_change,
    newton_prepare,
)
from ._newton import Newton
from ._puma import PumaCache, influence, purged
from ._puma_lambda import solve_reweighting

__all__ = ["matrix_free_operator", "puma_net_prepare", "puma_net_step"]

#: largest parameter count for which ``curvature="auto"`` keeps a dense matrix
MAX_DENSE_PARAMS = 20_000


def matrix_free_operator(adapter, spec, theta, rows: Rows, total_weight):
    """The CG / LiSSA operator over ``rows`` at ``theta`` (penalty of that weight)."""
    mv = net_matvec(
        adapter,
        theta,
        rows.X,
        rows.y,
        rows.c,
        penalty=adapter.penalty_strength(total_weight),
        matrix=spec.matrix,
    )
    return spec.operator(mv, adapter.n_params)


def _concat(a: Rows, b: Rows) -> Rows:
    return Rows(
        np.concatenate([np.asarray(a.X), np.asarray(b.X)]),
        np.concatenate([a.y, b.y]),
        np.concatenate([a.c, b.c]),
    )


def puma_net_prepare(method, adapter, theta, rows):
    """``PumaCache`` of a net: curvature, ``v = H^{-1} grad C`` and the pool."""
    method._criteria(adapter)  # bad criteria fail before the curvature's cost
    kind = method.curvature
    if kind == "auto":  # PUMA downdates its curvature at every request
        kind = "cholesky" if adapter.n_params <= MAX_DENSE_PARAMS else "cg"
    newton = Newton(damping=method.damping, curvature=kind, downdate=True)
    curvature = newton_prepare(newton, adapter, theta, rows)
    solver = curvature
    if isinstance(curvature, IterativeNetCurvature):
        method.requires_retained_data = True
        solver = matrix_free_operator(adapter, curvature, theta, rows, rows.weight)
    return method._fit_cache(adapter, theta, curvature, solver, rows)


def puma_net_step(method, adapter, state, request):
    """Eq. (10)-(11) on a net; then ``H`` loses the rows and ``v`` is refreshed."""
    cache = state.curvature
    theta = state.theta
    pool = purged(cache.pool, request.remove)  # every unlearned row, at once
    g, w_new, dlam = net_gradient_change(adapter, theta, request, state)
    g = g.to(torch.float64)
    direction = -g  # sum_k grad loss_k for a pure removal
    if pool.n and method.eta and cache.V.shape[1]:
        W = state.total_weight  # the paper's mean scaling of psi
        psi = influence(adapter, theta, pool.X, pool.y, cache.V)
        b = -(cache.V.T @ g).cpu().numpy()  # sum_k psi_k
        lam = solve_reweighting(
            W * psi, W * b, method.l1, method.l2, method.bounds, method.solver
        )
        if np.any(lam):
            direction = direction - adapter.gradient(theta, pool.X, pool.y, lam).to(
                torch.float64
            )
    if isinstance(cache.curvature, IterativeNetCurvature):
        if request.retain is None:
            raise ValueError(
                f"PUMA(curvature={cache.curvature.kind!r}) on a net needs the rows "
                "that remain: pass X_retain and y_retain."
            )
        before = _concat(request.retain, request.remove)  # eq. (11): H of before
        op = matrix_free_operator(
            adapter, cache.curvature, theta, before, state.total_weight
        )
        step = method.eta * op.solve(direction)
        curvature, repaired = cache.curvature, False
    else:
        step = method.eta * cache.curvature.solve(direction)
        curvature, repaired = _updated_dense(
            adapter, cache.curvature, theta, request, dlam, "gauss_newton"
        )
    theta_new = theta + step.to(dtype=theta.dtype, device=theta.device)
    solver = curvature
    if isinstance(curvature, IterativeNetCurvature):
        solver = matrix_free_operator(
            adapter, curvature, theta_new, request.retain, w_new
        )
    V = method._refresh(adapter, theta_new, solver, request, pool, cache.labels)
    return _evolve(
        state,
        theta,
        step,
        curvature=PumaCache(curvature, V, pool, cache.labels),
        total_weight=w_new,
        curvature_repaired=repaired,
    )
