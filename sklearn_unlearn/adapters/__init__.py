"""Model adapters: one model family's math (gradients, Hessians, parameter layout).

``SkorchAdapter`` needs the optional ``torch`` extra and is imported on first use.
"""

from ._factory import check_model, is_skorch_net
from ._linear import SUPPORTED_LINEAR_MODELS, LinearAdapter, check_linear_model

__all__ = [
    "SUPPORTED_LINEAR_MODELS",
    "LinearAdapter",
    "SkorchAdapter",
    "check_linear_model",
    "check_model",
    "is_skorch_net",
]


def __getattr__(name):
    if name == "SkorchAdapter":  # torch is optional: import it only when asked
        from ._torch import SkorchAdapter

        return SkorchAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
