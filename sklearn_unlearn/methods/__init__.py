"""Unlearning methods: how an update request becomes a parameter step."""

from ._amnesiac import Amnesiac
from ._base import Rows, UnlearningMethod, UnlearnState, UpdateRequest
from ._first_order import FirstOrder
from ._gradient_ascent import GradientAscent
from ._newton import Newton
from ._oracle_matching import OracleMatching
from ._puma import PUMA
from ._retrain import Retrain
from ._ssse import SSSE
from ._weight_pruning import WeightPruning

__all__ = [
    "PUMA",
    "SSSE",
    "Amnesiac",
    "FirstOrder",
    "GradientAscent",
    "Newton",
    "OracleMatching",
    "Retrain",
    "Rows",
    "UnlearnState",
    "UnlearningMethod",
    "UpdateRequest",
    "WeightPruning",
]

METHOD_SHORTCUTS = {
    "newton": Newton,
    "first_order": FirstOrder,
    "ssse": SSSE,
    "retrain": Retrain,
    "puma": PUMA,
    "gradient_ascent": GradientAscent,
    "weight_pruning": WeightPruning,
    "oracle_matching": OracleMatching,
    "amnesiac": Amnesiac,
}
