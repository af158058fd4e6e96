"""Shared pieces of the displays: lazy matplotlib, axis scales, short labels."""

from __future__ import annotations

import importlib
import math

import numpy as np

__all__ = [
    "SCALES",
    "apply_scale",
    "choose_scale",
    "format_value",
    "get_axes",
    "import_pyplot",
]

#: axis scales a display accepts besides ``"auto"``
SCALES = ("linear", "log", "symlog")


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


def choose_scale(values, scale: str = "auto", *, decades: float = 1.5):
    """An axis scale for ``values``: ``(name, keyword arguments of set_*scale)``.

    ``"auto"`` picks ``"linear"`` unless the non-zero magnitudes span more
    than ``decades`` decades; then ``"log"`` when every value is positive,
    else ``"symlog"`` (negated losses such as ``-KL`` are negative), whose
    linear region reaches the power of ten below the smallest non-zero
    magnitude, so that every value lands in the logarithmic part.

    Parameters
    ----------
    values : array-like
        The values drawn along the axis (non-finite ones are ignored).
    scale : {"auto", "linear", "log", "symlog"}, default="auto"
    decades : float, default=1.5

    Returns
    -------
    name : str
    kwargs : dict

    Examples
    --------
    >>> from sklearn_unlearn.plotting._base import choose_scale
    >>> choose_scale([1e-8, 1e-6, 1e-4])
    ('log', {})
    >>> choose_scale([-1e-4, -3e-8])
    ('symlog', {'linthresh': 1e-08})
    >>> choose_scale([0.2, 0.9])
    ('linear', {})
    """
    if scale not in ("auto", *SCALES):
        raise ValueError(
            f"an axis scale must be 'auto', 'linear', 'log' or 'symlog', got {scale!r}."
        )
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    mag = np.abs(v[v != 0])
    if scale == "auto":
        if len(mag) < 2 or mag.max() <= mag.min() * 10.0**decades:
            return "linear", {}
        scale = "log" if np.all(v > 0) else "symlog"
    if scale == "symlog":
        low = mag.min() if len(mag) else 1.0
        return "symlog", {"linthresh": 10.0 ** math.floor(math.log10(low))}
    return scale, {}


def apply_scale(axis, name: str, kwargs: dict, *, keep: bool) -> None:
    """Set ``axis`` (an ``XAxis`` or ``YAxis``) to the scale ``name``.

    With ``keep`` (``"auto"``, on axes a display has drawn on already), a
    scale already set is not undone: ``"linear"`` leaves a log scale, and
    two symlog scales keep the smaller linear region.
    """
    current = axis.get_scale()
    if keep and current != "linear":
        if name == "linear" or (name == "log" and current == "symlog"):
            return
        if name == "symlog" and current == "symlog":
            old = axis.get_transform().linthresh
            kwargs = {"linthresh": min(old, kwargs["linthresh"])}
    setter = axis.axes.set_xscale if axis is axis.axes.xaxis else axis.axes.set_yscale
    setter(name, **kwargs)


def format_value(value, width: int = 24) -> str:
    """A short text for a hyperparameter value, as a point label.

    Numbers in 3 significant digits (``1e-06``, ``0.5``, ``100``), an
    estimator (or any object with ``get_params``) by its class name,
    functions and classes by name, anything else by its ``str`` cut at
    ``width`` characters.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn.plotting._base import format_value
    >>> [format_value(v) for v in (1e-6, 0.5, 100.0, 3, LogisticRegression(C=2))]
    ['1e-06', '0.5', '100', '3', 'LogisticRegression']
    """
    if isinstance(value, bool | np.bool_ | str) or value is None:
        text = str(value)
    elif isinstance(value, int | np.integer):
        text = str(int(value))
    elif isinstance(value, float | np.floating):
        text = f"{float(value):.3g}"
    elif hasattr(value, "get_params") and not isinstance(value, type):
        text = type(value).__name__
    elif hasattr(value, "__name__"):
        text = value.__name__
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."
