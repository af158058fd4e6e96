"""Data debugging: which training rows help or hurt a model's performance.

Influence scores of rows on a differentiable criterion (PUMA, eq. 9), the
mislabelled-row search of PUMA's Algorithm 2, and the calibration triage and
patch of its Algorithm 3.
"""

from ..methods._puma_criteria import Brier, LogLoss, SoftECE, SquaredError
from ._calibration import expected_calibration_error
from ._debugging import calibration_triage, find_mislabeled
from ._influence import influence_scores, self_influence

__all__ = [
    "Brier",
    "LogLoss",
    "SoftECE",
    "SquaredError",
    "calibration_triage",
    "expected_calibration_error",
    "find_mislabeled",
    "influence_scores",
    "self_influence",
]
