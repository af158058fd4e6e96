"""A net's inverse curvature, prepared once at fit (``SkorchAdapter``'s side).

The damped Gauss-Newton matrix (or exact Hessian) of a skorch net's training
objective for :class:`~sklearn_unlearn.methods.Newton` (and the methods
that reuse its curvature: PUMA, OracleMatching, inspection), kept in the form
its size allows (exact dual form, low rank plus diagonal, K-FAC, dense
inverse, CG or LiSSA); the empirical Fisher of
:class:`~sklearn_unlearn.methods.SSSE`; and the largest eigenvalue that
:class:`~sklearn_unlearn.methods.FirstOrder`'s step size needs. ``spec`` is
the method whose hyperparameters choose the form (``curvature``, ``matrix``,
``damping``, ``rank``, ...). Everything stays in torch on the net's device.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..curvature._block_fisher import BlockDiagonalFisherInverse
from ..curvature._kfac import KroneckerFactoredCurvature, KroneckerLayer
from ..curvature._low_rank import LowRankCurvature
from ..curvature._net_operators import IterativeNetCurvature, net_matvec, top_eigenvalue
from ..curvature._torch_cholesky import TorchCholeskyCurvature
from ._training_damping import AT_MINIMUM_GRADIENT, training_damping

__all__ = [
    "curvature_upper_bound",
    "fisher_columns",
    "fisher_curvature",
    "net_damping",
    "newton_curvature",
    "resolve_curvature",
    "row_tensors",
]

#: margin on a power-iteration estimate of the largest eigenvalue
_TOP_MARGIN = 1.1


def row_tensors(adapter, rows):
    """``rows``' ``X, y, c`` as tensors on the net's device and dtype."""
    return adapter.as_tensors(rows.X, rows.y, rows.c)


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
    X, y, c = row_tensors(adapter, rows)
    g = adapter.gradient(theta, X, y, c)
    g += adapter.penalty_strength(rows.weight) * adapter.penalty_mask * theta
    return float(torch.linalg.vector_norm(g))


def net_damping(spec, adapter, theta, rows):
    """The method's damping on a net, and a ledger note on where it came from.

    ``"auto"`` reads it from the training run
    (:func:`~sklearn_unlearn.adapters._training_damping.training_damping`); a
    number is taken as given, with a warning when it is 0 and the net is not
    at a minimum (the undamped step divides by the bare penalty in every
    direction the data do not reach, and overshoots).
    """
    if spec.damping == "auto":
        gnorm = objective_gradient_norm(adapter, theta, rows)
        found = training_damping(adapter._net, rows.weight, gnorm)
        return found.value, found.rule
    damping = float(spec.damping)
    if damping == 0.0:
        gnorm = objective_gradient_norm(adapter, theta, rows)
        if gnorm > AT_MINIMUM_GRADIENT * max(rows.weight, 1.0):
            warnings.warn(
                f"{spec.name}(damping=0) on a net that is not at a minimum "
                f"(objective gradient norm {gnorm:.3g}): the undamped step "
                "overshoots in every direction the data do not constrain. Use "
                "damping='auto' (matched to the training run) or a positive "
                "damping.",
                UserWarning,
                stacklevel=5,
            )
    return damping, f"damping {damping:g} (given)"


def _factor_chunks(adapter, theta, rows, index=None, matrix="gauss_newton"):
    """A callable streaming ``(p, m)`` factor blocks of ``rows``' curvature.

    ``matrix="gauss_newton"``: :meth:`SkorchAdapter.gauss_newton_factor`;
    ``"fisher"``: the per-row gradients ``sqrt(c_i) g_i`` (empirical Fisher).
    """
    X, y, c = row_tensors(adapter, rows)
    if index is not None:
        X, y, c = X[index], y[index], c[index]
    size = adapter._dense_rows(2)

    def chunks():
        for start in range(0, X.shape[0], size):
            sl = slice(start, start + size)
            if matrix == "fisher":
                yield from fisher_columns(adapter, theta, X[sl], y[sl], c[sl])
            else:
                yield adapter.gauss_newton_factor(theta, X[sl], y[sl], c[sl])

    return chunks


def _sampled_rows(spec, n):
    """Positions of the rows the randomized range finder sees (all when few)."""
    m = spec.curvature_rows
    if m is None or m >= n:
        return None
    gen = torch.Generator().manual_seed(_seed(spec.random_state))
    return torch.sort(torch.randperm(n, generator=gen)[:m]).values


def _seed(random_state) -> int:
    if random_state is None:
        return int(torch.randint(0, 2**31 - 1, ()).item())
    if isinstance(random_state, int):
        return random_state
    return int(np.random.default_rng(random_state).integers(2**31 - 1))


def low_rank_curvature(
    spec, adapter, theta, rows, kind, floor, damping, notes, matrix="gauss_newton"
):
    """The dual (exact) or sampled low-rank-plus-floor curvature of ``rows``.

    ``matrix`` is ``"gauss_newton"`` or ``"fisher"`` (:func:`_factor_chunks`);
    ``spec`` gives ``rank``, ``curvature_rows`` and ``random_state``.
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
    index = _sampled_rows(spec, rows.n)
    scale, m = 1.0, rows.n
    if index is not None:
        c = torch.as_tensor(np.asarray(rows.c, dtype=np.float64))
        m = len(index)
        scale = float(c.sum() / c[index].sum())
    return LowRankCurvature.randomized(
        _factor_chunks(adapter, theta, rows, index, matrix=matrix),
        adapter.n_params,
        rank=spec.rank,
        floor=floor.to(**like),
        damping=damping,
        scale=scale,
        random_state=_seed(spec.random_state),
        device=theta.device,
        notes=(
            f"net {what} curvature: top {min(spec.rank, adapter.n_params)} "
            f"eigenpairs from {m} of {rows.n} rows, plus the dropped spectrum's "
            "diagonal and the penalty floor",
        )
        + notes,
    )


def _dense_matrix(adapter, theta, rows, matrix):
    X, y, c = row_tensors(adapter, rows)
    if matrix == "hessian":
        return adapter.hessian(theta, X, y, c)
    return adapter.gauss_newton(theta, X, y, c)


def _solver_options(spec, adapter):
    opts = dict(spec.solver_options or {})
    unknown = set(opts) - {"rtol", "max_iter", "scale", "patience"}
    if unknown:
        raise ValueError(
            f"unknown solver_options {sorted(unknown)}; known are rtol, max_iter, "
            "scale (LiSSA) and patience (LiSSA)."
        )
    opts.setdefault("rtol", 1e-10 if adapter.dtype == torch.float64 else 1e-6)
    return opts


def newton_curvature(adapter, spec, theta, rows):
    """The cached curvature of ``Newton`` on a net (see :class:`Newton`).

    ``spec`` gives ``curvature``, ``matrix``, ``damping``, ``rank``,
    ``curvature_rows``, ``random_state`` and ``solver_options``.
    """
    kind = resolve_curvature(
        spec.curvature, adapter, theta, rows, spec.matrix, spec.rank
    )
    if kind in ("dual", "lowrank", "kfac") and spec.matrix == "hessian":
        raise ValueError(
            f"curvature={kind!r} factors the Gauss-Newton matrix; the exact "
            "Hessian needs curvature='cholesky', 'cg' or 'lissa'."
        )
    damping, rule = net_damping(spec, adapter, theta, rows)
    notes = (rule,)
    lam = adapter.penalty_strength(rows.weight)
    floor = lam * adapter.penalty_mask.to(torch.float64)
    if kind in ("dual", "lowrank"):
        return low_rank_curvature(
            spec, adapter, theta, rows, kind, floor, damping, notes
        )
    if kind == "kfac":
        return kfac_curvature(spec, adapter, theta, rows, floor, damping, notes)
    if kind == "cholesky":
        M = _dense_matrix(adapter, theta, rows, spec.matrix).to(torch.float64)
        M.diagonal().add_(floor)
        op = TorchCholeskyCurvature(M, damping=damping, floor=floor)
        op.notes = ("net curvature: dense matrix with a cached inverse",) + notes
        return op
    # matrix-free: every request needs the rows that remain
    opts = _solver_options(spec, adapter)
    if kind == "lissa" and "scale" not in opts:
        X, y, c = row_tensors(adapter, rows)
        mv = net_matvec(adapter, theta, X, y, c, penalty=lam, matrix=spec.matrix)
        top = top_eigenvalue(mv, adapter.n_params, like=theta)
        opts["scale"] = _TOP_MARGIN * (abs(top) + damping)
    op = IterativeNetCurvature(kind, damping=damping, matrix=spec.matrix, **opts)
    op.notes = (f"net curvature: {kind} over the retained rows",) + notes
    return op


def kfac_curvature(spec, adapter, theta, rows, floor, damping, notes):
    """Per-layer Kronecker factors of the Gauss-Newton matrix (K-FAC).

    From ``curvature_rows`` sampled rows (all when fewer), scaled to the
    total row weight; see
    :class:`~sklearn_unlearn.curvature.KroneckerFactoredCurvature`.
    """
    X, y, c = row_tensors(adapter, rows)
    index = _sampled_rows(spec, rows.n)
    scale, m = 1.0, rows.n
    if index is not None:
        X, y = X[index.to(X.device)], y[index.to(y.device)]
        c_all = c.to(torch.float64)
        c = c[index.to(c.device)]
        m, scale = len(index), float(c_all.sum() / c.to(torch.float64).sum())
    layers = []
    for f in adapter.kfac_factors(theta, X, y, c):
        if f["weight"] is None:
            raise ValueError("K-FAC needs each layer's weight to be trainable.")
        layers.append(
            KroneckerLayer(
                f["weight"],
                f["bias"],
                f["GG"].to(torch.float64) * (scale / m),
                f["AA"].to(torch.float64),
            )
        )
    return KroneckerFactoredCurvature(
        layers,
        adapter.n_params,
        floor.to(theta.device),
        damping=damping,
        notes=(
            f"net Gauss-Newton curvature: per-layer Kronecker factors (K-FAC) "
            f"from {m} of {rows.n} rows",
        )
        + notes,
    )


def curvature_upper_bound(adapter, theta, rows) -> float:
    """An upper estimate of the largest eigenvalue of the Gauss-Newton curvature."""
    X, y, c = row_tensors(adapter, rows)
    lam = adapter.penalty_strength(rows.weight)
    mv = net_matvec(adapter, theta, X, y, c, penalty=lam)
    return _TOP_MARGIN * top_eigenvalue(mv, adapter.n_params, like=theta)


# ------------------------------------------------------------------- SSSE
def fisher_columns(adapter, theta, X, y, c):
    """Chunks of columns ``sqrt(c_i) g_i`` (per-row gradients at ``theta``)."""
    start = 0
    for G in adapter.per_sample_gradients(theta, X, y):
        w = c[start : start + G.shape[0]].sqrt().to(G.dtype)
        start += G.shape[0]
        yield (G * w[:, None]).T


def resolve_ssse_curvature(spec, adapter, rows) -> str:
    """``"auto"``: the paper's block Fisher for a small net or given blocks.

    Otherwise the empirical Fisher's exact dual form (at most ``4 * rank``
    rows) or its sampled low-rank-plus-floor form: the block recursion costs
    ``O(n b^2)`` for blocks of ``b`` parameters, far more than training a
    wide net.
    """
    if spec.curvature != "auto":
        return spec.curvature
    if spec.block_size is not None or adapter.n_params <= spec.rank:
        return "block"
    if rows.n <= min(adapter.n_params, DUAL_COLUMNS_PER_RANK * spec.rank):
        return "dual"
    return "lowrank"


def fisher_curvature(adapter, spec, theta, rows):
    """SSSE's empirical Fisher inverse on a net.

    ``"block"``: the per-layer block-diagonal inverse of Peste et al. (Sec. 4),
    built from per-row gradients chunk by chunk (never the whole ``(n, p)``
    matrix) by the Sherman-Morrison recursion of eq. (3), in float64;
    ``"dual"``/``"lowrank"``: the whole Fisher as
    :class:`~sklearn_unlearn.curvature.LowRankCurvature`.
    """
    damping, rule = net_damping(spec, adapter, theta, rows)
    if damping == 0.0:  # a net at a minimum: the paper's small start F_0
        damping, rule = SSSE_MIN_DAMPING, f"damping {SSSE_MIN_DAMPING:g} ({rule})"
    lam = adapter.penalty_strength(rows.weight)
    floor = lam * adapter.penalty_mask.to(torch.float64)
    kind = resolve_ssse_curvature(spec, adapter, rows)
    if kind in ("dual", "lowrank"):
        return low_rank_curvature(
            spec, adapter, theta, rows, kind, floor, damping, (rule,), "fisher"
        )
    op = BlockDiagonalFisherInverse.from_layers(
        adapter.param_sizes,
        floor + damping,
        block_size=spec.block_size,
        block_rows=spec.block_rows,
    )
    X, y, c = row_tensors(adapter, rows)
    for U in fisher_columns(adapter, theta, X, y, c):
        op = op.updated(add=U)
    op.notes = ("net empirical Fisher: per-layer blocks", rule)
    return op
