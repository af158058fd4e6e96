"""What the benchmarks share about the bundled tables: one column encoder."""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def column_encoder(bunch) -> ColumnTransformer:
    """One-hot categoricals (missing values as a category), standardised numerics.

    Unfitted; ``bunch`` is a bundled data set loaded with ``as_frame=True``.
    Cast its categorical columns to ``object`` before fitting (see
    :func:`categorical_as_object`).
    """
    categorical = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    return ColumnTransformer(
        [
            ("cat", categorical, bunch.categorical_features),
            ("num", StandardScaler(), bunch.numerical_features),
        ]
    )


def categorical_as_object(bunch):
    """The frame with its categorical columns as ``object`` (the imputer's need)."""
    return bunch.data.astype({c: object for c in bunch.categorical_features})
