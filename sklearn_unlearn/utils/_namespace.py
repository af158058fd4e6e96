"""Small helpers that accept a NumPy array or a torch tensor alike.

The parameters of a linear model are a NumPy vector; those of a net are a
torch tensor on the net's device. The estimator's bookkeeping uses these
helpers so that it never imports torch nor copies a GPU tensor to the host
more than a scalar.
"""

from __future__ import annotations

import numpy as np

__all__ = ["all_finite", "distance", "is_torch"]


def is_torch(x) -> bool:
    """True for a torch tensor, decided without importing torch.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.utils._namespace import is_torch
    >>> is_torch(np.zeros(2))
    False
    """
    return type(x).__module__.split(".")[0] == "torch"


def all_finite(x) -> bool:
    """Whether every entry of ``x`` (array or tensor) is finite.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.utils._namespace import all_finite
    >>> all_finite(np.array([1.0, np.nan]))
    False
    """
    if is_torch(x):
        import torch

        return bool(torch.isfinite(x).all())
    return bool(np.all(np.isfinite(x)))


def distance(a, b) -> float:
    """Euclidean norm of ``a - b`` (arrays or tensors of one namespace).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.utils._namespace import distance
    >>> distance(np.array([3.0, 0.0]), np.array([0.0, 4.0]))
    5.0
    """
    if is_torch(a):
        import torch

        return float(torch.linalg.vector_norm(a - b))
    return float(np.linalg.norm(a - b))
