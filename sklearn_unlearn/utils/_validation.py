"""Validation shared by the estimators, the pipeline, the metrics and the splitter."""

from __future__ import annotations

import os
import sys

import numpy as np

__all__ = ["ForgetMaskError", "check_forget_mask"]


class ForgetMaskError(TypeError, ValueError):
    """A ``forget`` argument that is not a boolean mask (a ``TypeError`` and a
    ``ValueError``, so that either ``except`` catches it)."""


def check_forget_mask(forget, n: int, *, require_some: bool = False):
    """``forget`` as a boolean mask of length ``n`` (``None`` passes through).

    Only a boolean mask is accepted, because cross-validation slices masks
    per fold but not index arrays.

    Parameters
    ----------
    forget : array-like of bool or None
    n : int
        Number of rows the mask must cover.
    require_some : bool, default=False
        Also refuse a mask that marks no row, or every row.

    Returns
    -------
    ndarray of bool of shape (n,), or None

    Examples
    --------
    >>> from sklearn_unlearn.utils._validation import check_forget_mask
    >>> check_forget_mask([True, False, False], 3).tolist()
    [True, False, False]
    >>> try:
    ...     check_forget_mask([0, 2], 3)
    ... except ValueError as exc:
    ...     print(str(exc)[:43])
    forget must be a boolean mask of length n_s
    """
    if forget is None:
        return None
    mask = np.asarray(forget)
    if mask.dtype != bool:
        raise ForgetMaskError(
            f"forget must be a boolean mask of length n_samples={n}, got dtype "
            f"{mask.dtype}; index arrays are not accepted because "
            "cross-validation slices masks per fold."
        )
    if mask.shape != (n,):
        raise ValueError(
            f"forget must be a boolean mask of length n_samples={n}, got shape "
            f"{mask.shape}."
        )
    if require_some:
        if not mask.any():
            raise ValueError("forget marks no rows: there is nothing to forget.")
        if mask.all():
            raise ValueError("forget marks every row: no retained rows are left.")
    return mask


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside
    the package, whatever route (pipeline, fit with ``forget=``) led to it.

    Call it in the function that calls :func:`warnings.warn`.
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level
