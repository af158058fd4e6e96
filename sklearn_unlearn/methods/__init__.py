"""Unlearning methods: how an update request becomes a parameter step."""

from ._base import UnlearningMethod
from ._first_order import FirstOrder
from ._newton import Newton
from ._puma import PUMA
from ._retrain import Retrain
from ._ssse import SSSE

__all__ = ["PUMA", "SSSE", "FirstOrder", "Newton", "Retrain", "UnlearningMethod"]

METHOD_SHORTCUTS = {
    "newton": Newton,
    "first_order": FirstOrder,
    "ssse": SSSE,
    "retrain": Retrain,
    "puma": PUMA,
}
