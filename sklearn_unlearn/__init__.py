"""sklearn-unlearn: machine unlearning for scikit-learn and skorch models."""

from ._base import UnlearningBudgetWarning
from ._classifier import UnlearningClassifier
from ._regressor import UnlearningRegressor
from .preprocessing import PreprocessingStateWarning

__version__ = "0.1.0.dev0"

__all__ = [
    "PreprocessingStateWarning",
    "UnlearningBudgetWarning",
    "UnlearningClassifier",
    "UnlearningRegressor",
    "__version__",
]
