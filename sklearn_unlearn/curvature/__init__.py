"""Inverse-curvature operators: one interface, ``solve(v)``."""

from ._base import CurvatureOperator, NotPositiveDefiniteError
from ._cholesky import CholeskyCurvature, cholesky_rank_one_update
from ._fisher import EmpiricalFisherInverse
from ._scale import CurvatureScale

__all__ = [
    "CholeskyCurvature",
    "CurvatureOperator",
    "CurvatureScale",
    "EmpiricalFisherInverse",
    "NotPositiveDefiniteError",
    "cholesky_rank_one_update",
]
