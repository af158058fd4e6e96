"""Matrix-free inverse curvature: conjugate gradients and LiSSA.

Both operators see the curvature ``A`` only through a product ``v -> A v``
(a Hessian-, Gauss-Newton- or Fisher-vector product), so they serve nets too
large for a dense factor. They solve ``(A + damping I) x = v`` and work in the
namespace of ``v``: NumPy arrays stay NumPy, torch tensors stay torch tensors
on their device and dtype. torch is never imported unless a tensor is passed.

Neither fails silently: every ``solve`` records ``info_`` and warns with
:class:`CurvatureConvergenceWarning` when a column did not converge.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._base import CurvatureOperator

__all__ = [
    "ConjugateGradientCurvature",
    "CurvatureConvergenceWarning",
    "LissaCurvature",
    "chunked_matvec",
]

Vector = Any  # a 1-d ndarray or torch.Tensor
MatVec = Callable[[Vector], Vector]


class CurvatureConvergenceWarning(ConvergenceWarning):
    """An iterative inverse-curvature solve did not converge or diverged.

    A subclass of scikit-learn's ``ConvergenceWarning`` (itself a
    ``UserWarning``), so either can be used to filter it.
    """


# ----------------------------------------------------------- array helpers
def _is_torch(x) -> bool:
    """True for a torch tensor, decided without importing torch."""
    return type(x).__module__.split(".")[0] == "torch"


def _dot(a, b) -> float:
    """Inner product of two 1-d vectors of one namespace, as a Python float."""
    if _is_torch(a):
        import torch

        return float(torch.dot(a, b))
    return float(np.dot(a, b))


def _norm(a) -> float:
    """Euclidean norm of a 1-d vector, as a Python float."""
    if _is_torch(a):
        import torch

        return float(torch.linalg.vector_norm(a))
    return float(np.linalg.norm(a))


def _copy(a):
    return a.clone() if _is_torch(a) else a.copy()


def _as_like(y, like, what: str):
    """``y`` (a product's output) in the namespace, dtype and device of ``like``."""
    if _is_torch(like):
        import torch

        if _is_torch(y):
            y = y.detach().to(dtype=like.dtype, device=like.device)
        else:
            y = torch.as_tensor(np.asarray(y), dtype=like.dtype, device=like.device)
    else:
        if _is_torch(y):
            y = y.detach().cpu().numpy()
        y = np.asarray(y, dtype=like.dtype)
    if tuple(y.shape) != tuple(like.shape):
        raise ValueError(
            f"{what} returned shape {tuple(y.shape)}; expected {tuple(like.shape)}."
        )
    return y


def _prepare_rhs(v, n_params: int):
    """Validate ``v``; NumPy input becomes float64, tensors keep dtype/device."""
    if _is_torch(v):
        import torch

        v = v.detach()
        if not v.is_floating_point():
            v = v.to(torch.float64)
        finite = bool(torch.isfinite(v).all())
    else:
        v = np.asarray(v, dtype=np.float64)
        finite = bool(np.all(np.isfinite(v)))
    if v.ndim not in (1, 2):
        raise ValueError(f"v must have shape (p,) or (p, m); got {tuple(v.shape)}.")
    if v.shape[0] != n_params:
        raise ValueError(
            f"v has {v.shape[0]} rows but the curvature acts on {n_params} parameters."
        )
    if not finite:
        raise ValueError("v contains NaN or infinity.")
    return v


def _stack(cols, like):
    if _is_torch(like):
        import torch

        return torch.stack(cols, dim=1)
    return np.stack(cols, axis=1)


def _column(v, j: int):
    return v[:, j].contiguous() if _is_torch(v) else np.ascontiguousarray(v[:, j])


# ------------------------------------------------------------- base class
class _IterativeCurvature(CurvatureOperator):
    """Shared plumbing: validation, column loop, ``info_`` and warnings."""

    _name = "iterative solver"

    def __init__(self, matvec: MatVec, n_params: int, damping: float):
        if not callable(matvec):
            raise TypeError("matvec must be callable: v -> A v.")
        self.matvec = matvec
        self._n_params = int(n_params)
        if self._n_params < 1:
            raise ValueError(f"n_params must be >= 1, got {n_params}.")
        self.damping = float(damping)
        if not self.damping >= 0.0:
            raise ValueError(f"damping must be >= 0, got {damping}.")

    @property
    def n_params(self) -> int:
        return self._n_params

    def _apply(self, x):
        """``(A + damping I) x`` in the namespace of ``x``."""
        out = _as_like(self.matvec(x), x, "matvec")
        return out + self.damping * x if self.damping else out

    def solve(self, v):
        """Apply ``(A + damping I)^{-1}`` to ``v``, one column at a time.

        Parameters
        ----------
        v : ndarray or torch.Tensor of shape (p,) or (p, m)
            Right-hand side(s). NumPy input is cast to float64; a tensor keeps
            its dtype and device (and is detached: the solve is not
            differentiable).

        Returns
        -------
        x : ndarray or torch.Tensor, same shape and namespace as ``v``
            The solution. After a failure (see ``info_``) it is the solver's
            best available iterate, never NaN.

        Warns
        -----
        CurvatureConvergenceWarning
            If any column did not converge or diverged.
        """
        v = _prepare_rhs(v, self.n_params)
        if v.ndim == 1:
            x, info = self._solve_one(v)
            self.info_ = info
        else:
            results = [self._solve_one(_column(v, j)) for j in range(v.shape[1])]
            x = _stack([r[0] for r in results], v)
            self.info_ = _merge([r[1] for r in results])
        if not self.info_["converged"]:
            info = self.info_
            warnings.warn(
                f"{self._name} did not converge ({info['reason']}) after "
                f"{info['n_iter']} iterations: residual norm "
                f"{info['residual_norm']:.3g} (rtol={info['rtol']:.1e}). "
                + _advice(info["reason"]),
                CurvatureConvergenceWarning,
                stacklevel=2,
            )
        return x

    def _solve_one(self, v) -> tuple[Any, dict]:  # pragma: no cover - abstract
        raise NotImplementedError


def _merge(infos: list[dict]) -> dict:
    """One ``info_`` for several columns: worst case, details in ``columns``."""
    bad = [i for i in infos if not i["converged"]]
    merged = dict(bad[0] if bad else infos[0])
    merged["converged"] = not bad
    merged["diverged"] = any(i["diverged"] for i in infos)
    if "negative_curvature" in merged:
        merged["negative_curvature"] = any(i["negative_curvature"] for i in infos)
    for key in ("n_iter", "residual_norm", "relative_change"):
        if key in merged:
            merged[key] = max(i[key] for i in infos)
    merged["columns"] = infos
    return merged


def _advice(reason: str) -> str:
    return {
        "max_iter": "Raise max_iter/depth, add damping or a preconditioner.",
        "negative_curvature": (
            "The curvature is not positive definite along a search direction; "
            "add damping or use a Gauss-Newton product."
        ),
        "non_finite": "The iteration produced NaN or infinity.",
        "growing": (
            "The updates grow: scale is too small for the largest eigenvalue of "
            "A + damping I, or the curvature is indefinite (add damping)."
        ),
        "patience": "The updates stopped decreasing; loosen rtol or add damping.",
        "indefinite_preconditioner": "The preconditioner is not positive definite.",
    }.get(reason, "")


# ---------------------------------------------------- conjugate gradients
class ConjugateGradientCurvature(_IterativeCurvature):
    """``(A + damping I)^{-1} v`` by (preconditioned) conjugate gradients.

    ``A`` is known only through ``matvec``. CG needs ``A + damping I``
    symmetric positive definite: Hessians of non-convex losses are not, so
    prefer a Gauss-Newton product or enough damping. When a search direction
    ``p`` shows ``p^T (A + damping I) p <= 0`` the solve stops, returns the
    current iterate and reports ``negative_curvature``.

    Parameters
    ----------
    matvec : callable
        ``v -> A v`` for a 1-d ``v`` of length ``n_params``. Its output is
        moved to the namespace, dtype and device of ``v``.
    n_params : int
        Length of the vectors ``A`` acts on.
    damping : float, default=0.0
        Added to the diagonal.
    rtol : float, default=1e-8
        Stop when ``||v - (A + damping I) x|| <= rtol * ||v||``. The cheap
        recursive residual is confirmed by one extra product (CG restarts
        from the true residual if they disagree). In float32 choose about
        ``1e-5``: much lower is out of reach and ends in ``max_iter``.
    max_iter : int, default=None
        Most matvecs per column; ``None`` means ``10 * n_params``.
    preconditioner : callable, default=None
        ``r -> M r`` with ``M`` symmetric positive definite, approximating
        ``(A + damping I)^{-1}`` (e.g. the inverse diagonal).

    Attributes
    ----------
    info_ : dict
        Set by every ``solve``: ``converged`` (bool), ``diverged`` (bool),
        ``negative_curvature`` (bool), ``reason`` (``"converged"``,
        ``"max_iter"``, ``"negative_curvature"``, ``"non_finite"`` or
        ``"indefinite_preconditioner"``), ``n_iter`` (CG steps, one product
        each), ``residual_norm`` (the true ``||v - (A + damping I) x||`` of the
        returned ``x`` when converged or out of iterations, the recursive one
        after a breakdown) and ``rtol``. For several right-hand sides the worst column
        is reported and ``columns`` lists each column's dict.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.curvature._iterative import ConjugateGradientCurvature
    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> op = ConjugateGradientCurvature(lambda v: A @ v, 2, damping=0.5)
    >>> x = op.solve(np.array([1.0, 2.0]))
    >>> bool(np.allclose(x, np.linalg.solve(A + 0.5 * np.eye(2), [1.0, 2.0])))
    True
    >>> op.info_["converged"], op.info_["n_iter"]
    (True, 2)
    """

    _name = "Conjugate gradients"

    def __init__(
        self,
        matvec: MatVec,
        n_params: int,
        *,
        damping: float = 0.0,
        rtol: float = 1e-8,
        max_iter: int | None = None,
        preconditioner: MatVec | None = None,
    ):
        super().__init__(matvec, n_params, damping)
        self.rtol = float(rtol)
        if not self.rtol >= 0.0:
            raise ValueError(f"rtol must be >= 0, got {rtol}.")
        self.max_iter = 10 * self.n_params if max_iter is None else int(max_iter)
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {max_iter}.")
        if preconditioner is not None and not callable(preconditioner):
            raise TypeError("preconditioner must be callable: r -> M r.")
        self.preconditioner = preconditioner

    def _precondition(self, r):
        if self.preconditioner is None:
            return r
        return _as_like(self.preconditioner(r), r, "preconditioner")

    def _solve_one(self, v):
        info = {
            "converged": False,
            "diverged": False,
            "negative_curvature": False,
            "reason": "max_iter",
            "n_iter": 0,
            "residual_norm": _norm(v),
            "rtol": self.rtol,
        }
        x = v * 0.0
        tol = self.rtol * info["residual_norm"]
        if info["residual_norm"] <= tol:  # v == 0
            info.update(converged=True, reason="converged")
            return x, info
        r = _copy(v)
        z = self._precondition(r)
        rz = _dot(r, z)
        p = _copy(z)
        for k in range(1, self.max_iter + 1):
            if not (math.isfinite(rz) and rz > 0.0):
                reason = "non_finite" if not math.isfinite(rz) else None
                info.update(diverged=True, reason=reason or "indefinite_preconditioner")
                return x, info
            Ap = self._apply(p)
            info["n_iter"] = k
            pAp = _dot(p, Ap)
            if not math.isfinite(pAp):
                info.update(diverged=True, reason="non_finite")
                return x, info
            if pAp <= 0.0:
                info.update(
                    diverged=True, negative_curvature=True, reason="negative_curvature"
                )
                return x, info
            alpha = rz / pAp
            x_new = x + alpha * p
            r_new = r - alpha * Ap
            rnorm = _norm(r_new)
            if not math.isfinite(rnorm):
                info.update(diverged=True, reason="non_finite")
                return x, info
            x, r = x_new, r_new
            info["residual_norm"] = rnorm
            if rnorm <= tol:
                # the recursive residual drifts in floating point: confirm it
                # with the true one, and restart from it if it disagrees
                r = v - self._apply(x)
                rnorm = _norm(r)
                info["residual_norm"] = rnorm
                if rnorm <= tol:
                    info.update(converged=True, reason="converged")
                    return x, info
                z = self._precondition(r)
                rz = _dot(r, z)
                p = _copy(z)
                continue
            z = self._precondition(r)
            rz_new = _dot(r, z)
            p = z + (rz_new / rz) * p
            rz = rz_new
        info["residual_norm"] = _norm(v - self._apply(x))
        return x, info


# ------------------------------------------------------------------ LiSSA
class LissaCurvature(_IterativeCurvature):
    """``(A + damping I)^{-1} v`` by the LiSSA recursion (Agarwal et al., 2017).

    With ``B = A + damping I`` the recursion used for influence functions
    (Koh & Liang, 2017) is

        x_0 = v,    x_{t+1} = v + (I - B / scale) x_t,

    a Neumann series whose limit is ``scale * B^{-1} v``; the estimate is
    ``x_t / scale``. Each update ``x_{t+1} - x_t = v - B (x_t / scale)`` is
    the residual of the current estimate, and equals ``(I - B/scale)^{t+1} v``.

    **Convergence needs** ``scale > lambda_max(B)`` (the usual rule; strictly,
    ``lambda_max(B) / 2`` is the limit, but only above ``lambda_max`` is each
    step a monotone contraction) **and** ``B`` positive definite. The number
    of iterations grows like ``scale / lambda_min(B)``, so use damping.
    ``scale`` too small, or negative curvature, makes the updates grow: the
    solve stops once an update is longer than ``v`` (which a convergent
    recursion never allows) and reports ``diverged``.

    Parameters
    ----------
    matvec : callable
        ``v -> A v`` for a 1-d ``v`` of length ``n_params``; a deterministic
        full-data product, or a mini-batch one for stochastic LiSSA.
    n_params : int
        Length of the vectors ``A`` acts on.
    damping : float, default=0.0
        Added to the diagonal.
    scale : float, default=10.0
        Must exceed the largest eigenvalue of ``A + damping I`` (see above).
    depth : int, default=5000
        Most recursion steps (matvecs) per column.
    rtol : float, default=1e-6
        Stop when the relative change ``||x_{t+1} - x_t|| / ||x_{t+1}||`` is
        at most ``rtol``.
    patience : int, default=20
        Stop (not converged, ``reason="patience"``) when the update norm has
        not reached a new minimum for this many steps.

    Attributes
    ----------
    info_ : dict
        Set by every ``solve``: ``converged``, ``diverged``, ``reason``
        (``"converged"``, ``"max_iter"`` (depth reached), ``"patience"``,
        ``"growing"`` or ``"non_finite"``), ``n_iter``, ``residual_norm``,
        ``relative_change`` and ``rtol``; for several right-hand sides the
        worst column plus ``columns``. On convergence the last estimate is
        returned and ``residual_norm`` is the residual of the one before it
        (an upper bound when ``scale > lambda_max``); otherwise the estimate
        with the smallest residual seen is returned with its exact residual.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.curvature._iterative import LissaCurvature
    >>> A = np.diag([1.0, 2.0, 4.0])
    >>> op = LissaCurvature(lambda v: A @ v, 3, damping=1.0, scale=10.0, rtol=1e-10)
    >>> x = op.solve(np.ones(3))
    >>> bool(np.allclose(x, 1.0 / np.array([2.0, 3.0, 5.0])))
    True
    >>> op.info_["converged"]
    True
    """

    _name = "LiSSA"

    def __init__(
        self,
        matvec: MatVec,
        n_params: int,
        *,
        damping: float = 0.0,
        scale: float = 10.0,
        depth: int = 5000,
        rtol: float = 1e-6,
        patience: int = 20,
    ):
        super().__init__(matvec, n_params, damping)
        self.scale = float(scale)
        if not self.scale > 0.0:
            raise ValueError(f"scale must be > 0, got {scale}.")
        self.depth = int(depth)
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}.")
        self.rtol = float(rtol)
        if not self.rtol >= 0.0:
            raise ValueError(f"rtol must be >= 0, got {rtol}.")
        self.patience = int(patience)
        if self.patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}.")

    def _solve_one(self, v):
        s = self.scale
        vnorm = _norm(v)
        info = {
            "converged": False,
            "diverged": False,
            "reason": "max_iter",
            "n_iter": 0,
            "residual_norm": vnorm,
            "relative_change": math.inf,
            "rtol": self.rtol,
        }
        if vnorm == 0.0:
            info.update(converged=True, reason="converged", relative_change=0.0)
            return v * 0.0, info
        x = _copy(v)
        best_x, best_norm, since_best = v * 0.0, vnorm, 0  # estimate 0: residual v
        for t in range(1, self.depth + 1):
            step = v - self._apply(x) / s  # = x_{t+1} - x_t, residual of x_t / s
            info["n_iter"] = t
            snorm = _norm(step)
            if not math.isfinite(snorm):
                reason = "non_finite"
            elif snorm > 1.01 * vnorm:
                reason = "growing"
            else:
                reason = None
            if reason is not None:
                info.update(diverged=True, reason=reason, residual_norm=best_norm)
                return best_x / s, info
            if snorm < best_norm:
                best_x, best_norm, since_best = x, snorm, 0
            else:
                since_best += 1
            x = x + step
            change = snorm / max(_norm(x), np.finfo(float).tiny)
            info["relative_change"] = change
            if change <= self.rtol:
                info.update(converged=True, reason="converged", residual_norm=snorm)
                return x / s, info
            if since_best >= self.patience:
                info.update(reason="patience", residual_norm=best_norm)
                return best_x / s, info
        info["residual_norm"] = best_norm
        return best_x / s, info


# ---------------------------------------------------------- chunked products
def chunked_matvec(
    product: Callable[..., Vector],
    X,
    y=None,
    c=None,
    chunk_size: int = 4096,
    *,
    product_reduction: str = "sum",
) -> MatVec:
    """A matvec ``v -> sum_i c_i A_i v`` that streams rows in chunks.

    Every chunk contributes its **weighted sum** over its own rows, so chunks
    of different lengths (the last one shorter) add up to exactly the one-chunk
    result. Averaging per-chunk means with equal weight, as a well-known
    influence library does, over-weights the rows of a short last chunk.

    Parameters
    ----------
    product : callable
        ``product(X_chunk, y_chunk, c_chunk, v)``: the chunk's product. With
        ``product_reduction="sum"`` it must already return the weighted sum
        ``sum_{i in chunk} c_i A_i v`` (as ``SkorchAdapter.hvp``, ``gnvp`` and
        ``fisher_vp`` do), and chunk results are simply added. With ``"mean"``
        it returns the weighted mean ``sum c_i A_i v / sum c_i`` over the
        chunk, and each result is multiplied by the chunk's total weight.
    X : array-like, tensor or sparse matrix of shape (n, ...)
        Rows, sliced as ``X[start:stop]``.
    y : array-like of shape (n, ...), default=None
        Targets, sliced like ``X`` (passed as None when None).
    c : array-like of shape (n,), default=None
        Row weights, sliced like ``X``; None passes None to ``product`` (and
        counts each row once for ``"mean"``).
    chunk_size : int, default=4096
        Rows per chunk.
    product_reduction : {"sum", "mean"}, default="sum"
        What ``product`` returns over a chunk's rows (see above).

    Returns
    -------
    matvec : callable
        ``v -> A v`` with ``A = sum_i c_i A_i`` (no penalty, no damping).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.curvature._iterative import chunked_matvec
    >>> X, c = np.arange(14.0).reshape(7, 2), np.linspace(0.5, 1.5, 7)
    >>> def product(Xc, yc, cc, v):  # sum_i c_i x_i x_i^T v over the chunk
    ...     return Xc.T @ (cc * (Xc @ v))
    >>> mv = chunked_matvec(product, X, None, c, chunk_size=3)
    >>> bool(np.allclose(mv(np.ones(2)), X.T @ (c * (X @ np.ones(2)))))
    True
    """
    if product_reduction not in ("sum", "mean"):
        raise ValueError(
            f"product_reduction must be 'sum' or 'mean', got {product_reduction!r}."
        )
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
    n = X.shape[0]
    for name, arr in (("y", y), ("c", c)):
        if arr is not None and len(arr) != n:
            raise ValueError(f"X has {n} rows but {name} has {len(arr)}.")
    slices = [slice(a, min(a + chunk_size, n)) for a in range(0, n, chunk_size)]

    def matvec(v):
        total = None
        for sl in slices:
            cc = None if c is None else c[sl]
            out = product(X[sl], None if y is None else y[sl], cc, v)
            if product_reduction == "mean":
                weight = sl.stop - sl.start if cc is None else float(cc.sum())
                out = out * weight
            total = out if total is None else total + out
        if total is None:  # no rows: the zero operator
            return v * 0.0
        return total

    return matvec
