"""Inverse-curvature operators: one interface, ``solve(v)``.

The operators for nets (``TorchCholeskyCurvature``, ``LowRankCurvature``,
``KroneckerFactoredCurvature``, ``IterativeNetCurvature``) need the optional
``torch`` extra and are imported on first use.
"""

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
    "IterativeNetCurvature",
    "KroneckerFactoredCurvature",
    "LowRankCurvature",
    "TorchCholeskyCurvature",
]

_NET_OPERATORS = {
    "TorchCholeskyCurvature": "._torch_cholesky",
    "IterativeNetCurvature": "._net_operators",
    "LowRankCurvature": "._low_rank",
    "KroneckerFactoredCurvature": "._kfac",
}


def __getattr__(name):
    if name in _NET_OPERATORS:  # torch is optional: import it only when asked
        import importlib

        return getattr(importlib.import_module(_NET_OPERATORS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
