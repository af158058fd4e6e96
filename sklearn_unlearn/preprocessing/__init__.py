"""Downdating fitted preprocessing: scalers refitted without forgotten rows.

A model behind preprocessing (``StandardScaler``, ``OneHotEncoder`` in a
``ColumnTransformer``, ...) sees features computed from statistics of every
training row. Forgetting rows therefore means downdating the preprocessing
too, and re-expressing the model in the new features: the affine map
``M`` returned by :func:`downdate_preprocessing` does the latter.
"""

from ._affine import affine_map_is_identity
from ._downdate import PreprocessingStateWarning, downdate_preprocessing
from ._record import PreprocessingRecord

__all__ = [
    "PreprocessingRecord",
    "PreprocessingStateWarning",
    "affine_map_is_identity",
    "downdate_preprocessing",
]
