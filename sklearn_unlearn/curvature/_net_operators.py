"""Matrix-free curvature of a net: products over streamed rows, CG and LiSSA.

A net too large for a dense ``p x p`` matrix is solved against with
conjugate gradients or LiSSA over Gauss-Newton (or Hessian) vector products
of the rows that *remain*, streamed in chunks by :func:`chunked_matvec`, so
memory stays bounded whatever ``n``. Such a solve needs those rows at every
request; nothing about them is cached between requests.
"""

from __future__ import annotations

import copy
import math

import torch

from ._base import NotPositiveDefiniteError
from ._iterative import ConjugateGradientCurvature, LissaCurvature, chunked_matvec

__all__ = ["IterativeNetCurvature", "net_matvec", "top_eigenvalue"]


def net_matvec(
    adapter, theta, X, y, c, *, penalty, matrix="gauss_newton", chunk_size=None
):
    """``v -> (sum_i c_i A_i + penalty * P) v`` over rows streamed in chunks.

    Parameters
    ----------
    adapter : SkorchAdapter
    theta : torch.Tensor of shape (n_params,)
        Where the curvature is taken.
    X, y, c : rows, targets and row weights (converted to tensors once).
    penalty : float
        The penalty strength ``lam``; ``P`` is ``adapter.penalty_mask``.
    matrix : {"gauss_newton", "hessian"}, default="gauss_newton"
        ``A_i`` is row ``i``'s Gauss-Newton matrix (``adapter.gnvp``, positive
        semi-definite) or its Hessian (``adapter.hvp``).
    chunk_size : int, default=None
        Rows per chunk; None takes the adapter's.

    Returns
    -------
    matvec : callable
        In the namespace, dtype and device of its argument.

    Examples
    --------
    >>> import torch
    >>> from skorch import NeuralNetRegressor
    >>> from sklearn_unlearn.adapters._torch import SkorchAdapter
    >>> from sklearn_unlearn.curvature._net_operators import net_matvec
    >>> net = NeuralNetRegressor(torch.nn.Linear(2, 1), max_epochs=0,
    ...                          optimizer__weight_decay=0.1).initialize()
    >>> adapter = SkorchAdapter(net)
    >>> X, y = torch.randn(7, 2), torch.randn(7, 1)
    >>> theta = adapter.get_theta(net)
    >>> mv = net_matvec(adapter, theta, X, y, None, penalty=0.7, chunk_size=3)
    >>> G = adapter.gauss_newton(theta, X, y) + 0.7 * torch.eye(3)
    >>> v = torch.randn(3)
    >>> bool(torch.allclose(mv(v), G @ v, atol=1e-5))
    True
    """
    if matrix not in ("gauss_newton", "hessian"):
        raise ValueError(f"matrix must be 'gauss_newton' or 'hessian', got {matrix!r}.")
    X, y, c = adapter.as_tensors(X, y, c)
    product = adapter.gnvp if matrix == "gauss_newton" else adapter.hvp
    mv = chunked_matvec(
        lambda Xc, yc, cc, v: product(theta, Xc, yc, cc, v),
        X,
        y,
        c,
        adapter.chunk_size if chunk_size is None else chunk_size,
    )
    mask = adapter.penalty_mask
    penalty = float(penalty)

    def matvec(v):
        out = mv(v).to(dtype=v.dtype, device=v.device)
        if penalty:
            out = out + penalty * mask.to(dtype=v.dtype, device=v.device) * v
        return out

    return matvec


def top_eigenvalue(matvec, n_params, *, like, n_iter=30, rtol=1e-3, seed=0):
    """Largest eigenvalue of a symmetric positive semi-definite operator.

    Power iteration from a seeded random start; returns the last Rayleigh
    quotient, a lower bound that approaches ``lambda_max`` (the callers
    multiply it by a safety margin).

    Parameters
    ----------
    matvec : callable
    n_params : int
    like : torch.Tensor
        Dtype and device of the iterates.
    n_iter : int, default=30
    rtol : float, default=1e-3
        Stop when the estimate changes by less than this, relatively.
    seed : int, default=0

    Returns
    -------
    float
    """
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(n_params, generator=gen, dtype=torch.float64)
    v = (v / torch.linalg.vector_norm(v)).to(dtype=like.dtype, device=like.device)
    est = 0.0
    for _ in range(n_iter):
        w = matvec(v)
        new = float(torch.dot(v, w))
        norm = float(torch.linalg.vector_norm(w))
        if not math.isfinite(norm) or norm == 0.0:
            return max(new, 0.0)
        v = w / norm
        if abs(new - est) <= rtol * abs(new):
            return new
        est = new
    return est


class IterativeNetCurvature:
    """How a net's curvature is inverted without a dense matrix: CG or LiSSA.

    It holds settings only (and the last solve's report): the product needs
    the rows that remain, so :meth:`operator` is given a fresh ``matvec`` at
    every request and returns the solver for it.

    Parameters
    ----------
    kind : {"cg", "lissa"}
    damping : float, default=0.0
    matrix : {"gauss_newton", "hessian"}, default="gauss_newton"
    rtol : float, default=1e-6
        Relative tolerance (CG: residual; LiSSA: change of the iterate).
    max_iter : int, default=None
        CG's most iterations (None: ``10 * n_params``), LiSSA's depth
        (None: 5000).
    scale : float, default=None
        LiSSA's scale, which must exceed the largest eigenvalue of the damped
        curvature (see :class:`LissaCurvature`).
    patience : int, default=20
        LiSSA's patience.

    Attributes
    ----------
    info_ : dict or None
        The last solve's report (``converged``, ``diverged``, ``reason``,
        ``n_iter``, ``residual_norm``, ...), None before the first.

    Examples
    --------
    >>> import torch
    >>> from sklearn_unlearn.curvature import IterativeNetCurvature
    >>> A = torch.diag(torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64))
    >>> spec = IterativeNetCurvature("cg", damping=1.0)
    >>> op = spec.operator(lambda v: A @ v, 3)
    >>> op.solve(torch.ones(3, dtype=torch.float64)).tolist()
    [0.5, 0.3333333333333333, 0.2]
    """

    #: a matrix-free solve needs the rows that remain at every request
    requires_retained_data = True

    def __init__(
        self,
        kind,
        *,
        damping=0.0,
        matrix="gauss_newton",
        rtol=1e-6,
        max_iter=None,
        scale=None,
        patience=20,
    ):
        if kind not in ("cg", "lissa"):
            raise ValueError(f"kind must be 'cg' or 'lissa', got {kind!r}.")
        if kind == "lissa" and scale is None:
            raise ValueError("LiSSA needs a scale above the largest eigenvalue.")
        self.kind = kind
        self.damping = float(damping)
        self.matrix = matrix
        self.rtol = float(rtol)
        self.max_iter = max_iter
        self.scale = scale
        self.patience = int(patience)
        self.info_ = None

    def operator(self, matvec, n_params):
        """The CG or LiSSA operator for ``matvec``."""
        if self.kind == "cg":
            return ConjugateGradientCurvature(
                matvec,
                n_params,
                damping=self.damping,
                rtol=self.rtol,
                max_iter=self.max_iter,
            )
        return LissaCurvature(
            matvec,
            n_params,
            damping=self.damping,
            scale=self.scale,
            depth=5000 if self.max_iter is None else self.max_iter,
            rtol=self.rtol,
            patience=self.patience,
        )

    def solved(self, matvec, n_params, v):
        """``(x, spec)``: ``(A + damping I)^{-1} v`` and a copy holding its report.

        Raises
        ------
        NotPositiveDefiniteError
            When the iteration diverged (negative curvature, growing LiSSA
            updates, NaN): its iterate is not a usable step.
        """
        op = self.operator(matvec, n_params)
        x = op.solve(v)  # warns CurvatureConvergenceWarning when not converged
        info = op.info_
        if info["diverged"]:
            raise NotPositiveDefiniteError(
                f"{'conjugate gradients' if self.kind == 'cg' else 'LiSSA'} "
                f"diverged ({info['reason']}) after {info['n_iter']} iterations; add "
                "damping, use the Gauss-Newton matrix"
                + (" or a larger scale" if self.kind == "lissa" else "")
            )
        new = copy.copy(self)
        new.info_ = {k: v for k, v in info.items() if k != "columns"}
        return x, new

    def solve(self, v):
        """Not available: a matrix-free solve needs the rows that remain."""
        raise NotImplementedError(
            "IterativeNetCurvature needs the rows that remain; use operator(matvec)."
        )
