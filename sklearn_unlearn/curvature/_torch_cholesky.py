"""Exact damped curvature of a net with a cached Cholesky factor, in torch.

For nets small enough that a dense ``p x p`` matrix fits in memory (tabular
MLPs of a few thousand to tens of thousands of weights) the Gauss-Newton (or
Hessian) matrix of the training objective is built once, factorised with
``torch.linalg.cholesky`` on the net's device, and kept as an aggregate: no
row and no per-row factor survives an update. Each request subtracts the
removed rows' contribution (and adds the added rows'), at the current
parameters, and refactorises.
"""

from __future__ import annotations

import numpy as np
import torch

from ._base import CurvatureOperator, NotPositiveDefiniteError

__all__ = ["TorchCholeskyCurvature"]


class TorchCholeskyCurvature(CurvatureOperator):
    """``(M + damping I)^{-1}`` from a cached Cholesky factor, on any torch device.

    Parameters
    ----------
    matrix : torch.Tensor of shape (p, p)
        The symmetric curvature ``M`` (Gauss-Newton or Hessian of the data
        term plus the penalty), without damping. Symmetrised and cast to
        ``dtype`` on its own device.
    damping : float, default=0.0
        Added to the diagonal before factorising.
    dtype : torch.dtype, default=torch.float64
        Precision of the matrix and its factor. float64 is advised: a float32
        Gauss-Newton matrix of a trained net is often too ill-conditioned to
        factorise or downdate accurately.

    Attributes
    ----------
    matrix_ : torch.Tensor of shape (p, p)
        ``M`` (undamped).
    factor_ : torch.Tensor of shape (p, p)
        Lower Cholesky factor of ``M + damping I``.

    Raises
    ------
    NotPositiveDefiniteError
        When ``M + damping I`` is not positive definite (add damping, or use
        the Gauss-Newton matrix instead of the Hessian).

    Examples
    --------
    >>> import torch
    >>> from sklearn_unlearn.curvature import TorchCholeskyCurvature
    >>> M = torch.tensor([[4.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    >>> op = TorchCholeskyCurvature(M, damping=0.5)
    >>> x = op.solve(torch.tensor([1.0, 2.0]))
    >>> bool(torch.allclose(x, torch.linalg.solve(M + 0.5 * torch.eye(2),
    ...                                           torch.tensor([1.0, 2.0],
    ...                                           dtype=torch.float64)).float()))
    True
    >>> V = torch.tensor([[1.0], [0.5]], dtype=torch.float64)
    >>> op.updated(remove=V).matrix_.tolist()
    [[3.0, 0.5], [0.5, 2.75]]
    """

    def __init__(self, matrix, *, damping: float = 0.0, dtype=torch.float64):
        M = torch.as_tensor(matrix).detach().to(dtype)
        if M.ndim != 2 or M.shape[0] != M.shape[1]:
            raise ValueError(f"matrix must be square, got shape {tuple(M.shape)}.")
        self.damping = float(damping)
        if not self.damping >= 0.0:
            raise ValueError(f"damping must be >= 0, got {damping}.")
        self.matrix_ = 0.5 * (M + M.T)
        self.factor_ = self._factorize(self.matrix_)

    @property
    def n_params(self) -> int:
        return int(self.matrix_.shape[0])

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the matrix and its factor."""
        return 2 * self.matrix_.numel() * self.matrix_.element_size()

    def _factorize(self, M):
        A = M.clone()
        if self.damping:
            A.diagonal().add_(self.damping)
        L, info = torch.linalg.cholesky_ex(A)
        if int(info) != 0 or not bool(torch.isfinite(L).all()):
            raise NotPositiveDefiniteError(
                "the damped curvature matrix is not positive definite "
                f"(leading minor {int(info)} of {self.n_params}); add damping or use "
                "the Gauss-Newton matrix"
            )
        return L

    def solve(self, v):
        """Apply ``(M + damping I)^{-1}`` to ``v`` of shape ``(p,)`` or ``(p, m)``.

        Parameters
        ----------
        v : torch.Tensor or ndarray of shape (p,) or (p, m)

        Returns
        -------
        x : same namespace, shape and dtype as ``v`` (a tensor on ``v``'s device)
        """
        numpy_in = not torch.is_tensor(v)
        t = torch.as_tensor(np.asarray(v) if numpy_in else v).detach()
        if t.ndim not in (1, 2) or t.shape[0] != self.n_params:
            raise ValueError(
                f"v must have shape ({self.n_params},) or ({self.n_params}, m); got "
                f"{tuple(t.shape)}."
            )
        if not bool(torch.isfinite(t).all()):
            raise ValueError("v contains NaN or infinity.")
        out_dtype = t.dtype if t.is_floating_point() else self.factor_.dtype
        b = t.to(dtype=self.factor_.dtype, device=self.factor_.device)
        x = torch.cholesky_solve(b.reshape(self.n_params, -1), self.factor_)
        x = x.reshape(t.shape).to(dtype=out_dtype, device=t.device)
        return x.cpu().numpy() if numpy_in else x

    def updated(self, *, add=None, remove=None, delta=None, shift=None):
        """A new operator for ``M + A A^T - R R^T + delta + diag(shift)``.

        Parameters
        ----------
        add, remove : torch.Tensor of shape (p, r), optional
            Factors of the rows' contributions (e.g.
            ``SkorchAdapter.gauss_newton_factor``).
        delta : torch.Tensor of shape (p, p), optional
            A dense symmetric change (e.g. a difference of Hessians).
        shift : torch.Tensor of shape (p,), optional
            Added to the diagonal (a change of the penalty).

        Returns
        -------
        TorchCholeskyCurvature
            Refactorised; ``self`` is unchanged, also when an error is raised.

        Raises
        ------
        NotPositiveDefiniteError
            When the new damped matrix is not positive definite.
        """
        M = self.matrix_.clone()
        like = dict(dtype=M.dtype, device=M.device)
        if add is not None and add.numel():
            A = add.detach().to(**like)
            M.addmm_(A, A.T)
        if remove is not None and remove.numel():
            R = remove.detach().to(**like)
            M.addmm_(R, R.T, alpha=-1.0)
        if delta is not None:
            D = delta.detach().to(**like)
            M += 0.5 * (D + D.T)
        if shift is not None:
            M.diagonal().add_(torch.as_tensor(shift).to(**like))
        new = object.__new__(type(self))
        new.damping = self.damping
        new.matrix_ = M
        new.factor_ = new._factorize(M)
        return new

    def congruence(self, transform, fixed_diagonal):
        """Not available for nets (their inputs are not reparameterised)."""
        raise NotImplementedError(
            "TorchCholeskyCurvature does not support congruence transforms."
        )
