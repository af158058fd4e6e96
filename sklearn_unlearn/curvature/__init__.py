"""Inverse-curvature operators: one interface, ``solve(v)``."""

from ._base import CurvatureOperator, NotPositiveDefiniteError
from ._block_fisher import BlockDiagonalFisherInverse
from ._cholesky import CholeskyCurvature, cholesky_rank_one_update
from ._fisher import EmpiricalFisherInverse
from ._iterative import (
    ConjugateGradientCurvature,
    CurvatureConvergenceWarning,
    LissaCurvature,
    chunked_matvec,
)
from ._scale import CurvatureScale

__all__ = [
    "BlockDiagonalFisherInverse",
    "ConjugateGradientCurvature",
    "CurvatureConvergenceWarning",
    "LissaCurvature",
    "chunked_matvec",
    "CholeskyCurvature",
    "CurvatureOperator",
    "CurvatureScale",
    "EmpiricalFisherInverse",
    "NotPositiveDefiniteError",
    "cholesky_rank_one_update",
]
