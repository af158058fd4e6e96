"""A net's damped curvature as low rank plus a diagonal floor, prepared once.

The Gauss-Newton matrix (or empirical Fisher) of a net's training objective
is a sum of row terms ``V_i V_i^T``. Its leading eigenpairs carry the
directions in which the data constrain the parameters; in every other
direction the objective's curvature is the weight-decay penalty, and the
training run's own implicit regularisation (``damping``). This module keeps

    A = U diag(s) U^T + diag(d),        d = penalty floor + damping > 0,

with ``U`` of shape ``(p, r)`` (orthonormal columns) and ``s >= 0``, and
solves with it by the Woodbury identity in ``O(p r)`` per right-hand side:

    A^{-1} = D^{-1} - D^{-1} W C^{-1} W^T D^{-1},
    W = U diag(sqrt(s)),  C = I + W^T D^{-1} W  (r x r, >= I, Cholesky-cached),

``W`` applied through ``U`` (only ``U`` is kept, ``p r`` entries).

Two builders give ``U, s`` from per-row factor columns streamed in chunks:

* :meth:`LowRankCurvature.exact` -- every row's columns ``V`` (``N`` of
  them): the eigenpairs of ``V V^T`` from the ``N x N`` Gram matrix ``V^T V``
  (the dual form). Exact when ``N`` is smaller than ``p``.
* :meth:`LowRankCurvature.randomized` -- a randomized range finder with power
  iterations (Halko, Martinsson & Tropp, 2011, Alg. 4.4 and 5.3) over a
  sample of rows, scaled to the total row weight; the diagonal of the
  spectrum it drops joins the floor (low rank plus diagonal).

Nothing here keeps a row or a per-row factor: only ``U``, ``s`` and ``d``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from ._base import NotPositiveDefiniteError
from ._torch_base import TorchCurvatureOperator

__all__ = ["LowRankCurvature"]

#: factor chunks: a callable giving an iterable of (p, m) column blocks
FactorChunks = Callable[[], Iterable[torch.Tensor]]


def _as_floor(floor, p, like):
    d = torch.as_tensor(floor).detach().to(**like)
    return d.expand(p).clone() if d.ndim == 0 else d.reshape(p).clone()


class LowRankCurvature(TorchCurvatureOperator):
    """``(U diag(s) U^T + diag(d))^{-1}``, solved in ``O(p r)``.

    Parameters
    ----------
    U : torch.Tensor of shape (p, r)
        Orthonormal columns (eigenvectors of the data curvature).
    s : torch.Tensor of shape (r,)
        Their eigenvalues, >= 0 (negative values are clipped to 0).
    floor : float or torch.Tensor of shape (p,)
        The objective's own diagonal curvature (``lam * penalty_mask``).
    damping : float, default=0.0
        Added to the floor. ``floor + damping`` must be positive everywhere.
    kind : str, default="lowrank"
        How ``U`` was found (``"dual"``: exactly; ``"lowrank"``: sampled).
    notes : tuple of str, default=()
        A description for the ledger.

    Attributes
    ----------
    U_, s_, diagonal_ : torch.Tensor
        The factors (``diagonal_ = floor + damping``).
    rank : int
    memory_bytes : int

    Examples
    --------
    >>> import torch
    >>> from sklearn_unlearn.curvature import LowRankCurvature
    >>> V = torch.tensor([[1.0, 0.0], [2.0, 1.0], [0.0, 3.0]], dtype=torch.float64)
    >>> op = LowRankCurvature.exact(lambda: [V], 3, floor=0.5, damping=0.5)
    >>> A = V @ V.T + torch.eye(3, dtype=torch.float64)
    >>> b = torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64)
    >>> bool(torch.allclose(op.solve(b), torch.linalg.solve(A, b)))
    True
    >>> op.rank, op.kind
    (2, 'dual')
    """

    def __init__(self, U, s, floor, *, damping: float = 0.0, kind="lowrank", notes=()):
        U = torch.as_tensor(U).detach()
        like = dict(dtype=U.dtype, device=U.device)
        if U.ndim != 2:
            raise ValueError(f"U must be 2-D, got shape {tuple(U.shape)}.")
        p, r = U.shape
        s = torch.as_tensor(s).detach().to(**like).reshape(-1)
        if s.shape[0] != r:
            raise ValueError(f"U has {r} columns but s has {s.shape[0]} values.")
        if not float(damping) >= 0.0:
            raise ValueError(f"damping must be >= 0, got {damping}.")
        self.damping = float(damping)
        self.kind = kind
        self.notes = tuple(notes)
        self.floor_ = _as_floor(floor, p, like)
        self.U_ = U.contiguous()
        self.s_ = s.clamp_min(0.0)
        self._factorize()

    def _factorize(self):
        d = self.floor_ + self.damping
        if not bool((d > 0).all()) or not bool(torch.isfinite(d).all()):
            raise NotPositiveDefiniteError(
                "the low-rank curvature's diagonal floor (the weight decay) plus "
                "damping must be positive: parameters without weight decay need "
                "damping > 0; add damping, or use the dense curvature"
            )
        self.diagonal_ = d
        root = self.s_.sqrt()
        C = (self.U_.T @ (self.U_ / d[:, None])) * root[:, None] * root[None, :]
        C.diagonal().add_(1.0)
        L, info = torch.linalg.cholesky_ex(0.5 * (C + C.T))
        if int(info) != 0:
            raise NotPositiveDefiniteError("the low-rank capacity matrix")
        self._root, self._L = root, L

    # ------------------------------------------------------------ builders
    @classmethod
    def exact(
        cls,
        factor_chunks: FactorChunks,
        n_params: int,
        *,
        floor,
        damping: float = 0.0,
        dtype=torch.float64,
        rtol: float = 1e-12,
        notes=(),
    ) -> LowRankCurvature:
        """Every eigenpair of ``V V^T`` from the Gram matrix ``V^T V`` (dual form).

        Parameters
        ----------
        factor_chunks : callable
            Returns an iterable of ``(p, m)`` blocks whose concatenation is
            ``V`` (all of them are held at once: ``N p`` entries).
        n_params : int
        floor, damping : see the class.
        dtype : torch.dtype, default=torch.float64
        rtol : float, default=1e-12
            Eigenvalues below ``rtol`` times the largest are dropped (null).
        notes : tuple of str

        Returns
        -------
        LowRankCurvature
        """
        blocks = [b.detach().to(dtype) for b in factor_chunks()]
        V = torch.cat(blocks, dim=1) if blocks else torch.zeros((n_params, 0))
        V = V.to(dtype)
        lam, Q = torch.linalg.eigh(V.T @ V)
        keep = lam > rtol * float(lam.max()) if lam.numel() else lam > 0
        lam, Q = lam[keep], Q[:, keep]
        U = (V @ Q) / lam.sqrt()
        return cls(U, lam, floor, damping=damping, kind="dual", notes=notes)

    @classmethod
    def randomized(
        cls,
        factor_chunks: FactorChunks,
        n_params: int,
        *,
        rank: int,
        floor,
        damping: float = 0.0,
        scale: float = 1.0,
        n_oversamples: int = 10,
        n_power_iter: int = 1,
        random_state: int = 0,
        residual_diagonal: bool = True,
        dtype=torch.float64,
        device=None,
        notes=(),
    ) -> LowRankCurvature:
        """The top ``rank`` eigenpairs of ``scale * V V^T`` (randomized range finder).

        Each pass streams the factor blocks once: ``2 + n_power_iter`` passes.

        Parameters
        ----------
        factor_chunks : callable
            Returns a fresh iterable of ``(p, m)`` blocks of ``V`` (called once
            per pass; the blocks are not kept).
        n_params : int
        rank : int
            Eigenpairs kept.
        floor, damping : see the class.
        scale : float, default=1.0
            Multiplies the sampled matrix (total weight over sampled weight).
        n_oversamples : int, default=10
        n_power_iter : int, default=1
        random_state : int, default=0
            Seeds the Gaussian test matrix (a private generator).
        residual_diagonal : bool, default=True
            Add to the floor the diagonal of what the kept eigenpairs leave
            out, ``diag(scale V V^T - U S U^T)`` (clipped at 0, accumulated in
            the first pass): the curvature of the dropped spectrum, per
            coordinate, instead of none. Without it a step overshoots in the
            directions just past the kept rank.
        dtype : torch.dtype, default=torch.float64
        device : torch.device, default=None
            Where the sketches live (the blocks' device when None).
        notes : tuple of str

        Returns
        -------
        LowRankCurvature
        """
        if rank < 1:
            raise ValueError(f"rank must be >= 1, got {rank}.")
        k = min(n_params, rank + n_oversamples)
        gen = torch.Generator().manual_seed(int(random_state))
        omega = torch.randn(n_params, k, generator=gen, dtype=dtype)
        if device is not None:
            omega = omega.to(device)

        diag = torch.zeros(n_params, dtype=dtype, device=omega.device)

        def apply(Q, diag=None):  # (V V^T) Q, one pass; diag(V V^T) on request
            out = torch.zeros_like(Q)
            for B in factor_chunks():
                # the products run in the blocks' precision (float32 for most
                # nets: twice as fast); sums and the small problems in dtype
                B = B.detach().to(device=Q.device)
                out += (B @ (B.T @ Q.to(B.dtype))).to(Q.dtype)
                if diag is not None:
                    diag += (B * B).sum(dim=1).to(diag.dtype)
            return out

        Y = apply(omega, diag if residual_diagonal else None)
        for _ in range(n_power_iter):
            Q, _ = torch.linalg.qr(Y)
            Y = apply(Q)
        Q, _ = torch.linalg.qr(Y)
        B = Q.T @ apply(Q)
        lam, Z = torch.linalg.eigh(0.5 * (B + B.T))
        top = torch.argsort(lam, descending=True)[: min(rank, k)]
        U, s = Q @ Z[:, top], scale * lam[top].clamp_min(0.0)
        floor = _as_floor(floor, n_params, dict(dtype=dtype, device=omega.device))
        if residual_diagonal:  # what the kept eigenpairs leave of diag(M)
            floor = floor + (scale * diag - (U * U) @ s).clamp_min(0.0)
        return cls(U, s, floor, damping=damping, kind="lowrank", notes=notes)

    # --------------------------------------------------------------- solve
    @property
    def n_params(self) -> int:
        return int(self.U_.shape[0])

    @property
    def rank(self) -> int:
        return int(self.U_.shape[1])

    @property
    def memory_bytes(self) -> int:
        """Bytes held (``U`` and the small factors)."""
        tensors = (self.U_, self._root, self.s_, self.floor_, self.diagonal_, self._L)
        return int(sum(t.numel() * t.element_size() for t in tensors))

    @property
    def _like(self):
        return self.U_

    def _solve_tensor(self, b):
        """``A^{-1} b`` by the Woodbury identity, ``O(p r m)`` for ``m`` columns."""
        x = b / self.diagonal_[:, None]
        root = self._root[:, None]
        corr = root * torch.cholesky_solve(root * (self.U_.T @ x), self._L)
        return x - (self.U_ @ corr) / self.diagonal_[:, None]

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``A v`` (for checks)."""
        v = v.to(self.U_.dtype)
        return self.U_ @ (self.s_ * (self.U_.T @ v)) + self.diagonal_ * v

    # ------------------------------------------------------------- updates
    def updated(self, *, add=None, remove=None, shift=None) -> LowRankCurvature:
        """``U S U^T + A A^T - R R^T``, re-diagonalised in the span of ``[U, A, R]``.

        Exact in that span (``O(p q^2)``, ``q = r + columns``); eigenvalues
        below zero are clipped (the rows leave at the current parameters,
        not where they went in, so the difference can be indefinite) and at
        most ``rank`` plus the added columns are kept, the largest first.
        ``shift`` moves the diagonal floor (a change of the penalty). ``self``
        is unchanged.
        """
        like = dict(dtype=self.U_.dtype, device=self.U_.device)
        cols, signs = [self.U_ * self.s_.sqrt()], [torch.ones(self.rank, **like)]
        for F, sign in ((add, 1.0), (remove, -1.0)):
            if F is not None and F.numel():
                F = F.detach().to(**like)
                cols.append(F)
                signs.append(torch.full((F.shape[1],), sign, **like))
        floor = self.floor_
        if shift is not None:
            floor = (floor + torch.as_tensor(shift).to(**like).reshape(-1)).clamp_min(
                0.0
            )
        if len(cols) == 1:
            return type(self)(
                self.U_,
                self.s_,
                floor,
                damping=self.damping,
                kind=self.kind,
                notes=self.notes,
            )
        F = torch.cat(cols, dim=1)
        sgn = torch.cat(signs)
        Q, R = torch.linalg.qr(F)
        B = (R * sgn) @ R.T
        lam, Z = torch.linalg.eigh(0.5 * (B + B.T))
        keep = self.rank + (0 if add is None else add.shape[1])
        top = torch.argsort(lam, descending=True)[:keep]
        tiny = torch.finfo(lam.dtype).eps * lam.shape[0] * float(lam.abs().max())
        top = top[lam[top] > tiny]  # clipped: negative, or null in the span
        return type(self)(
            Q @ Z[:, top],
            lam[top],
            floor,
            damping=self.damping,
            kind=self.kind,
            notes=self.notes,
        )
