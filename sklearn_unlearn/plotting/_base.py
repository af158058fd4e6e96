"""Lazy matplotlib import with a clear message when it is missing."""

from __future__ import annotations

import importlib

__all__ = ["get_axes", "import_pyplot"]


def import_pyplot(caller: str):
    """``matplotlib.pyplot``, or an ImportError that says how to install it.

    Examples
    --------
    >>> from sklearn_unlearn.plotting._base import import_pyplot
    >>> import_pyplot("example").__name__
    'matplotlib.pyplot'
    """
    try:
        return importlib.import_module("matplotlib.pyplot")
    except ImportError as exc:  # pragma: no cover - matplotlib is a test extra
        raise ImportError(
            f"{caller} needs matplotlib: pip install 'sklearn-unlearn[plot]' "
            "(or pip install matplotlib)."
        ) from exc


def get_axes(ax, caller: str):
    """``ax``, or the current axes of a new figure when ``ax`` is None."""
    plt = import_pyplot(caller)
    if ax is None:
        _, ax = plt.subplots()
    return ax
