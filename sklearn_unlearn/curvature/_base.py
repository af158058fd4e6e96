"""The one interface every inverse-curvature operator offers: ``solve(v)``."""

from __future__ import annotations

import numpy as np

__all__ = ["CurvatureOperator", "NotPositiveDefiniteError"]


class NotPositiveDefiniteError(ValueError):
    """The curvature lost positive definiteness (e.g. too many rows removed)."""


class CurvatureOperator:
    """Base class: validate the right-hand side, then apply ``_solve``.

    Subclasses store only aggregate curvature (a factor or an inverse), never
    rows, and return *new* operators from ``updated`` so that a failed update
    leaves the old one intact.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.curvature import CholeskyCurvature, CurvatureOperator
    >>> op = CholeskyCurvature(np.diag([2.0, 4.0]))
    >>> isinstance(op, CurvatureOperator), op.solve(np.array([2.0, 4.0])).tolist()
    (True, [1.0, 1.0])
    """

    n_params: int

    def solve(self, v) -> np.ndarray:
        """Apply the inverse curvature to ``v`` of shape ``(p,)`` or ``(p, m)``.

        Parameters
        ----------
        v : array-like of shape (p,) or (p, m)

        Returns
        -------
        ndarray of the same shape as ``v``
        """
        v = np.asarray(v, dtype=np.float64)
        if v.shape[0] != self.n_params:
            raise ValueError(
                f"v has {v.shape[0]} rows but the curvature acts on "
                f"{self.n_params} parameters."
            )
        if not np.all(np.isfinite(v)):
            raise ValueError("v contains NaN or infinity.")
        return self._solve(v)

    def _solve(self, v: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError
