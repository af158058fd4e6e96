"""SSSE's block-diagonal empirical Fisher inverse, for nets too large for one block.

For non-convex nets SSSE (Sec. 4) assumes the empirical Fisher
``F = D + sum_i c_i g_i g_i^T`` to be block-diagonal (ResNet20: blocks of a
fixed size) and keeps, per block ``b``, the explicit inverse of
``F_bb = D_b + sum_i c_i g_ib g_ib^T``, built by the same Sherman-Morrison
recursion (eq. 3) as :class:`EmpiricalFisherInverse`, restricted to the block's
coordinates. Memory is ``sum_b k_b^2`` entries instead of ``p^2``.

The blocks live in the namespace of ``diagonal``: NumPy arrays, or torch
tensors on the diagonal's device and dtype (so a CUDA net's gradients never
leave the GPU). torch is never imported here; a tensor is recognised only when
the caller has imported torch already.
"""

from __future__ import annotations

import math
import operator
import sys

import numpy as np
import scipy.linalg as la

from ._base import CurvatureOperator, NotPositiveDefiniteError

__all__ = ["BlockDiagonalFisherInverse"]


# --------------------------------------------------------------- dispatch
def _is_torch(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and torch.is_tensor(x)


def _eye_like(k: int, A):
    if _is_torch(A):
        torch = sys.modules["torch"]
        return torch.eye(k, dtype=A.dtype, device=A.device)
    return np.eye(k, dtype=A.dtype)


def _diag(d):
    if _is_torch(d):
        return sys.modules["torch"].diag(d)
    return np.diag(d)


def _all_finite(A) -> bool:
    if _is_torch(A):
        return bool(sys.modules["torch"].isfinite(A).all())
    return bool(np.all(np.isfinite(A)))


def _cho_solve(M, B):
    """``M^{-1} B`` for symmetric ``M``; None when ``M`` is not positive definite."""
    if _is_torch(M):
        torch = sys.modules["torch"]
        L, info = torch.linalg.cholesky_ex(M)
        if int(info) != 0:
            return None
        return torch.cholesky_solve(B, L)
    try:
        factor = la.cho_factor(M)
    except la.LinAlgError:
        return None
    return la.cho_solve(factor, B)


def _itemsize(A) -> int:
    return A.element_size() if _is_torch(A) else A.itemsize


def _float_dtype_numpy(a: np.ndarray) -> np.ndarray:
    if a.dtype in (np.float32, np.float64):
        return a
    return a.astype(np.float64)


def _float_dtype_torch(t):
    torch = sys.modules["torch"]
    if t.dtype in (torch.float32, torch.float64):
        return t
    # half precision has no Cholesky; integers get NumPy's default float
    return t.to(torch.float32 if t.is_floating_point() else torch.float64)


def _woodbury(Finv, U, sign: float):
    """``(F + sign U U^T)^{-1}`` from ``F^{-1}``; None when the result is indefinite.

    ``(F + s U U^T)^{-1} = F^-1 - s F^-1 U (I + s U^T F^-1 U)^-1 U^T F^-1``:
    the row-by-row Sherman-Morrison recursion, ``U.shape[1]`` rows at a time.
    ``I + s U^T F^-1 U`` is positive definite exactly when ``F + s U U^T`` is
    (for positive definite ``F``).
    """
    FU = Finv @ U
    M = U.T @ FU
    if sign < 0:
        M = -M
    M = M + _eye_like(U.shape[1], M)
    sol = _cho_solve(M, FU.T)
    if sol is None:
        return None
    out = Finv - sign * (FU @ sol)
    return 0.5 * (out + out.T)


# ---------------------------------------------------------------- layout
def _tile(p: int, blocks, block_size) -> list[tuple[int, int]]:
    """Validate ``blocks`` (or one block) as a tiling of [0, p); cut by block_size."""
    if block_size is not None:
        try:
            block_size = operator.index(block_size)
        except TypeError:
            raise ValueError(
                f"block_size must be a positive int, got {block_size!r}."
            ) from None
        if block_size < 1:
            raise ValueError(f"block_size must be a positive int, got {block_size}.")
    if blocks is None:
        tiles = [(0, p)]
    else:
        tiles = []
        for b in blocks:
            try:
                start, stop = b
                tiles.append((operator.index(start), operator.index(stop)))
            except (TypeError, ValueError):
                raise ValueError(
                    f"each block must be a (start, stop) pair of ints, got {b!r}."
                ) from None
        tiles.sort()
        if not tiles:
            raise ValueError(f"blocks is empty; it must tile [0, {p}).")
        end = 0
        for start, stop in tiles:
            if stop <= start:
                raise ValueError(f"block ({start}, {stop}) is empty or reversed.")
            if start != end:
                kind = "overlaps the previous block" if start < end else "leaves a gap"
                raise ValueError(
                    f"blocks must tile [0, {p}) exactly: block ({start}, {stop}) "
                    f"{kind} (which ends at {end})."
                )
            end = stop
        if end != p:
            raise ValueError(
                f"blocks must tile [0, {p}) exactly, but they cover [0, {end}); "
                "the parameter count and the blocks disagree."
            )
    if block_size is None:
        return tiles
    return [
        (s, min(s + block_size, stop))
        for start, stop in tiles
        for s in range(start, stop, block_size)
    ]


def _numel(size) -> int:
    """Entries of one parameter: an int, a shape, or anything with ``numel()``."""
    try:
        n = operator.index(size)
    except TypeError:
        n = size.numel() if hasattr(size, "numel") else math.prod(size)
    if n < 0:
        raise ValueError(f"a parameter size must be >= 0, got {size!r}.")
    return int(n)


class BlockDiagonalFisherInverse(CurvatureOperator):
    """Block-diagonal inverse of ``F = D + sum_i c_i g_i g_i^T`` (SSSE, Sec. 4).

    The parameter index range ``[0, p)`` is cut into contiguous blocks; the
    cross-block entries of ``F`` are dropped and each diagonal block
    ``F_bb = D_b + sum_i c_i g_ib g_ib^T`` is inverted exactly, by the
    Sherman-Morrison recursion of SSSE eq. (3) processed by Woodbury blocks of
    ``min(block_rows, k_b)`` rows (the same matrix as the row-by-row
    recursion). With one block this is :class:`EmpiricalFisherInverse`.

    Parameters
    ----------
    diagonal : ndarray or torch.Tensor of shape (p,)
        ``D`` (damping plus penalty), strictly positive. Its namespace, device
        and floating dtype (float32 or float64; others become float64, or
        float32 for half precision) are those of every block. float64 is
        advised: downdates lose accuracy in float32.
    blocks : sequence of (start, stop), default=None
        Half-open index ranges that tile ``[0, p)`` exactly (any order), e.g.
        one per layer. None: a single block.
    block_size : int, default=None
        Cut every block into pieces of ``block_size`` entries (the last piece
        of each may be shorter). With ``blocks=None`` this gives the fixed-size
        blocks of SSSE.
    block_rows : int, default=256
        Most rows folded in per Woodbury step.

    Attributes
    ----------
    diagonal_ : ndarray or torch.Tensor of shape (p,)
    blocks_ : list of (int, int)
        The blocks, sorted, after cutting by ``block_size``.
    inverses_ : list of ndarray or torch.Tensor
        ``F_bb^{-1}`` for each block, of shape (k_b, k_b).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.curvature._block_fisher import (
    ...     BlockDiagonalFisherInverse)
    >>> G = np.random.default_rng(0).normal(size=(50, 5))
    >>> op = BlockDiagonalFisherInverse(np.full(5, 0.1), block_size=2)
    >>> op.blocks_
    [(0, 2), (2, 4), (4, 5)]
    >>> op = op.updated(add=G.T)
    >>> F = G[:, :2].T @ G[:, :2] + 0.1 * np.eye(2)
    >>> bool(np.allclose(op.solve(np.eye(5))[:2, :2], np.linalg.inv(F)))
    True
    >>> op.memory_bytes  # (4 + 4 + 1) float64 entries
    72
    """

    def __init__(self, diagonal, *, blocks=None, block_size=None, block_rows=256):
        if _is_torch(diagonal):
            d = _float_dtype_torch(diagonal.detach()).clone()
        else:
            d = _float_dtype_numpy(np.array(diagonal))
        if d.ndim != 1 or d.shape[0] == 0:
            raise ValueError(
                f"diagonal must be a non-empty 1-d array, got shape {tuple(d.shape)}."
            )
        if not _all_finite(d) or bool((d <= 0).any()):
            raise ValueError(
                "the Fisher diagonal (damping + penalty) must be strictly positive "
                "and finite; increase damping."
            )
        try:
            self.block_rows = operator.index(block_rows)
        except TypeError:
            raise ValueError(
                f"block_rows must be a positive int, got {block_rows!r}."
            ) from None
        if self.block_rows < 1:
            raise ValueError(f"block_rows must be a positive int, got {block_rows}.")
        self.diagonal_ = d
        self.blocks_ = _tile(d.shape[0], blocks, block_size)
        self.inverses_ = [_diag(1.0 / d[s:e]) for s, e in self.blocks_]

    @classmethod
    def from_layers(
        cls, param_sizes, diagonal, block_size=None, *, block_rows=256
    ) -> BlockDiagonalFisherInverse:
        """One block per parameter tensor, cut into pieces of at most ``block_size``.

        Parameters
        ----------
        param_sizes : sequence of int, shape or tensor
            The parameters in the flattened order of ``diagonal`` (for a torch
            module, that of ``module.named_parameters()``): their entry counts,
            shapes, or the tensors themselves. Empty parameters are skipped.
        diagonal, block_rows : see the class.
        block_size : int, default=None
            Largest block; None keeps every tensor whole.
        """
        blocks, start = [], 0
        for size in param_sizes:
            n = _numel(size)
            if n:
                blocks.append((start, start + n))
                start += n
        return cls(
            diagonal, blocks=blocks, block_size=block_size, block_rows=block_rows
        )

    # --------------------------------------------------------------- info
    @property
    def n_params(self) -> int:
        return int(self.diagonal_.shape[0])

    @property
    def dtype(self):
        return self.diagonal_.dtype

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the block inverses, ``sum_b k_b^2 * itemsize``."""
        return sum(int(A.shape[0]) ** 2 * _itemsize(A) for A in self.inverses_)

    # ------------------------------------------------------------ convert
    @property
    def _torch(self) -> bool:
        return _is_torch(self.diagonal_)

    def _to_own(self, A):
        """``A`` (NumPy or torch) in this operator's namespace, device and dtype."""
        if self._torch:
            torch = sys.modules["torch"]
            d = self.diagonal_
            if not _is_torch(A):
                A = np.asarray(A)
            return torch.as_tensor(A).detach().to(dtype=d.dtype, device=d.device)
        if _is_torch(A):
            A = A.detach().cpu().numpy()
        return np.asarray(A, dtype=self.dtype)

    def _factor(self, U, name: str):
        U = self._to_own(U)
        if U.ndim == 1:
            U = U.reshape(-1, 1)
        if U.ndim != 2 or U.shape[0] != self.n_params:
            raise ValueError(
                f"{name} must have shape ({self.n_params},) or ({self.n_params}, r) "
                f"(columns sqrt(c_i) g_i), got {tuple(U.shape)}."
            )
        if not _all_finite(U):
            raise ValueError(f"{name} contains NaN or infinity.")
        return U

    # -------------------------------------------------------------- solve
    def solve(self, v):
        """Apply the block-diagonal inverse to ``v`` of shape ``(p,)`` or ``(p, m)``.

        Parameters
        ----------
        v : array-like or torch.Tensor of shape (p,) or (p, m)

        Returns
        -------
        ndarray or torch.Tensor of the same shape as ``v``
            In ``v``'s namespace (and device, for a tensor), in this operator's
            dtype.
        """
        shape = tuple(v.shape) if hasattr(v, "shape") else np.shape(v)
        if len(shape) not in (1, 2):
            raise ValueError(f"v must have shape (p,) or (p, m), got {shape}.")
        if shape[0] != self.n_params:
            raise ValueError(
                f"v has {shape[0]} rows but the curvature acts on "
                f"{self.n_params} parameters."
            )
        w = self._to_own(v)
        if not _all_finite(w):
            raise ValueError("v contains NaN or infinity.")
        out = self._solve(w)
        if _is_torch(v):
            return sys.modules["torch"].as_tensor(out, device=v.device)
        if self._torch:
            return out.cpu().numpy()
        return out

    def _solve(self, v):
        parts = [
            A @ v[s:e] for (s, e), A in zip(self.blocks_, self.inverses_, strict=True)
        ]
        if self._torch:
            return sys.modules["torch"].cat(parts)
        return np.concatenate(parts)

    # ------------------------------------------------------------- update
    def updated(self, *, add=None, remove=None) -> BlockDiagonalFisherInverse:
        """A new operator with columns of ``add`` folded in, then of ``remove`` out.

        Parameters
        ----------
        add, remove : array-like or torch.Tensor of shape (p,) or (p, r), optional
            Columns ``sqrt(c_i) g_i``; cast to the operator's namespace.

        Returns
        -------
        BlockDiagonalFisherInverse
            ``self`` is left unchanged, also when an error is raised.

        Raises
        ------
        NotPositiveDefiniteError
            When the downdate leaves a block indefinite.
        """
        factors = [
            (self._factor(U, name), sign)
            for U, name, sign in ((add, "add", 1.0), (remove, "remove", -1.0))
            if U is not None
        ]
        inverses = []
        for (s, e), Finv in zip(self.blocks_, self.inverses_, strict=True):
            width = min(self.block_rows, e - s)
            for U, sign in factors:
                Ub = U[s:e]
                for c in range(0, U.shape[1], width):
                    Finv = _woodbury(Finv, Ub[:, c : c + width], sign)
                    if Finv is None:
                        raise NotPositiveDefiniteError(
                            "the Sherman-Morrison downdate leaves block "
                            f"[{s}, {e}) of the empirical Fisher indefinite"
                        )
            inverses.append(Finv)
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.inverses_ = inverses
        return new

    def congruence(self, transform, fixed_diagonal):
        """Not available: a dense transform breaks the block structure."""
        raise NotImplementedError(
            "BlockDiagonalFisherInverse does not support congruence transforms "
            "(e.g. refitted preprocessing); rebuild it from the new gradients."
        )
