"""An upper bound on the curvature's largest eigenvalue (for gradient steps)."""

from __future__ import annotations

import numpy as np

__all__ = ["CurvatureScale"]


class CurvatureScale:
    """``L >= lambda_max(H)``: the safe gradient step is ``1 / L``.

    Computed once at fit from the exact Hessian; removing rows can only lower
    the largest eigenvalue, so ``L`` stays an upper bound; adding rows raises
    it by at most the trace of their curvature.

    Parameters
    ----------
    top : float
        The initial bound, e.g. ``eigvalsh(H)[-1]``.

    Examples
    --------
    >>> from sklearn_unlearn.curvature import CurvatureScale
    >>> CurvatureScale(4.0).updated(added_trace=1.0).top
    5.0
    """

    def __init__(self, top: float):
        self.top = float(top)

    def updated(self, *, added_trace: float = 0.0) -> CurvatureScale:
        """A new bound after rows whose curvature has trace ``added_trace`` join."""
        return CurvatureScale(self.top + max(float(added_trace), 0.0))

    def congruence(self, transform, fixed_diagonal) -> CurvatureScale:
        """The bound after the parameters are re-expressed (``A -> B A B^T``)."""
        p = len(fixed_diagonal)
        stretch = float(np.linalg.norm(transform(np.eye(p)), 2))
        return CurvatureScale(
            self.top * max(stretch, 1.0) + float(np.max(fixed_diagonal, initial=0.0))
        )
