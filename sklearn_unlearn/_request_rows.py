"""Check the rows of a request against what ``fit`` saw, and explain misses.

A pipeline fitted on a DataFrame is asked to forget rows given as a
DataFrame: its columns must be those of ``fit`` (by name; the order is
restored), each of the same kind (numbers stay numbers). When rows are not
found among the training rows, :func:`explain_missing` says what differs
where it can tell: a NaN, a label that matches another class.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._fingerprint import fingerprint_array

__all__ = ["FrameSchema", "explain_missing"]


def _kind(dtype) -> str:
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    return "other"


class FrameSchema:
    """The columns of a DataFrame passed to ``fit``: names, order, kinds.

    Holds no value of any row.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_unlearn._request_rows import FrameSchema
    >>> schema = FrameSchema.of(pd.DataFrame({"a": [1.0], "b": ["x"]}))
    >>> list(schema.check(pd.DataFrame({"b": ["y"], "a": [2]}), "rows to remove"))
    ['a', 'b']
    """

    def __init__(self, columns, kinds):
        self.columns = list(columns)
        self.kinds = dict(kinds)

    @classmethod
    def of(cls, X) -> FrameSchema | None:
        """The schema of ``X``, or None when ``X`` is not a DataFrame."""
        if not isinstance(X, pd.DataFrame):
            return None
        return cls(X.columns, {c: _kind(t) for c, t in X.dtypes.items()})

    def check(self, X, what: str):
        """``X`` with the fitted columns in the fitted order; refuses mismatches.

        Raises
        ------
        TypeError
            When ``X`` is not a DataFrame.
        ValueError
            When a column is missing, unknown or of another kind; the message
            names the columns.
        """
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"{what}: this model was fitted on a DataFrame with columns "
                f"{self.columns[:8]}{' ...' if len(self.columns) > 8 else ''}; pass "
                f"the rows as a DataFrame with those columns, not a "
                f"{type(X).__name__}."
            )
        missing = [c for c in self.columns if c not in X.columns]
        extra = [c for c in X.columns if c not in self.kinds]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing column(s) {missing}")
            if extra:
                parts.append(f"column(s) {extra} that fit never saw")
            raise ValueError(f"{what}: {' and '.join(parts)}. Nothing was changed.")
        X = X[self.columns] if list(X.columns) != self.columns else X
        now = {c: _kind(t) for c, t in X.dtypes.items()}  # not X[c]: a copy each
        wrong = [
            f"{c!r} ({now[c]} here, {self.kinds[c]} at fit)"
            for c in self.columns
            if now[c] != self.kinds[c]
        ]
        if wrong:
            raise ValueError(
                f"{what}: column(s) {', '.join(wrong)} hold another kind of value "
                "than at fit. Nothing was changed."
            )
        return X


def explain_missing(bad, X, y, fingerprints, key, classes=None) -> str:
    """A sentence on why rows were not found, or "" when nothing is clear.

    Parameters
    ----------
    bad : ndarray of int
        Positions in ``(X, y)`` of the rows not found.
    X, y : the request's rows
    fingerprints : RowMultiset
        The training rows' fingerprints.
    key : bytes
        Their secret.
    classes : ndarray, default=None
        A classifier's classes: a row found with another label is named.
    """
    bad = np.asarray(bad)[:20]
    if not len(bad):
        return ""
    rows = X.iloc[bad] if hasattr(X, "iloc") else X[bad]
    labels = np.asarray(y)[bad]
    notes = []
    if isinstance(rows, pd.DataFrame):
        nan = rows.columns[rows.isna().any(axis=0).to_numpy()].tolist()
        if nan:
            notes.append(f"they hold NaN in column(s) {nan[:5]}")
    elif hasattr(rows, "dtype") and rows.dtype.kind == "f" and np.isnan(rows).any():
        notes.append("they hold NaN")
    if classes is not None and len(classes) < 50:
        relabelled = {}
        for c in classes:
            other = labels != c
            if not other.any():
                continue
            keys = fingerprint_array(rows, np.where(other, c, labels), key)
            found = fingerprints.count(keys) > 0
            for i in np.flatnonzero(found & other):
                relabelled.setdefault(
                    int(bad[i]), c.item() if hasattr(c, "item") else c
                )
        if relabelled:
            shown = list(relabelled.items())[:5]
            notes.append(
                "the features of row(s) "
                + ", ".join(f"{i} (with label {c!r})" for i, c in shown)
                + " match training rows, but not with the label given"
            )
    if not notes:
        return ""
    text = "; ".join(notes) + "."
    return text[0].upper() + text[1:]
