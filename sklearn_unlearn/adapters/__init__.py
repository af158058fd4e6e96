"""Model adapters: one model family's math (gradients, Hessians, parameter layout)."""

from ._linear import SUPPORTED_LINEAR_MODELS, LinearAdapter, check_linear_model

__all__ = ["SUPPORTED_LINEAR_MODELS", "LinearAdapter", "check_linear_model"]
