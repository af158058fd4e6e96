"""Cross-validation for unlearning: forget requests and folds that judge them."""

from ._forget_mask import sample_forget_mask
from ._registry import clear_split_registry
from ._split import ForgetSplit

__all__ = ["ForgetSplit", "clear_split_registry", "sample_forget_mask"]
