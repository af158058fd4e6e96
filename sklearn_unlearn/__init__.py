"""sklearn-unlearn: machine unlearning for scikit-learn and skorch models."""

from ._audit import audit_rows
from ._base import UnlearningBudgetWarning
from ._classifier import UnlearningClassifier
from ._fingerprint_key import FingerprintKey, KeyUnavailableError
from ._ledger import Ledger, LedgerEntry
from ._regressor import UnlearningRegressor
from .preprocessing import PreprocessingStateWarning

__version__ = "0.1.0.dev0"

__all__ = [
    "FingerprintKey",
    "KeyUnavailableError",
    "Ledger",
    "LedgerEntry",
    "PreprocessingStateWarning",
    "UnlearningBudgetWarning",
    "UnlearningClassifier",
    "UnlearningRegressor",
    "__version__",
    "audit_rows",
]
