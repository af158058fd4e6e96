"""What every torch curvature operator shares: checking ``v`` and its namespace."""

from __future__ import annotations

import numpy as np
import torch

from ._base import CurvatureOperator

__all__ = ["TorchCurvatureOperator"]


class TorchCurvatureOperator(CurvatureOperator):
    """Base class of the net operators: ``solve`` in torch, on any device.

    Subclasses give ``n_params``, ``_like`` (a tensor whose dtype and device
    the solve runs in) and ``_solve_tensor(b)`` for ``b`` of shape ``(p, m)``.
    """

    _like: torch.Tensor

    def solve(self, v):
        """Apply the inverse curvature to ``v`` of shape ``(p,)`` or ``(p, m)``.

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
        like = self._like
        out_dtype = t.dtype if t.is_floating_point() else like.dtype
        b = t.to(dtype=like.dtype, device=like.device).reshape(self.n_params, -1)
        x = self._solve_tensor(b)
        x = x.reshape(t.shape).to(dtype=out_dtype, device=t.device)
        return x.cpu().numpy() if numpy_in else x

    def _solve_tensor(self, b: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError
