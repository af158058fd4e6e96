"""Real tabular datasets bundled with :mod:`sklearn_unlearn`, loadable offline.

The loaders mirror scikit-learn's ``sklearn.datasets.load_*`` functions: they
return a :class:`sklearn.utils.Bunch` (or ``(X, y)`` with ``return_X_y=True``)
and accept ``as_frame=True`` to get pandas objects.
"""

from ._base import (
    list_datasets,
    load_adult,
    load_breast_cancer_original,
    load_california_housing,
    load_german_credit,
)

__all__ = [
    "list_datasets",
    "load_adult",
    "load_breast_cancer_original",
    "load_california_housing",
    "load_german_credit",
]
