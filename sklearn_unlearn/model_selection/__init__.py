"""Cross-validation for unlearning: forget requests and folds that judge them."""

from ._forget_mask import sample_forget_mask
from ._split import ForgetSplit

__all__ = ["ForgetSplit", "sample_forget_mask"]
