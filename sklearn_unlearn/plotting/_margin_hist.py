"""Margin histograms of chosen rows: unlearned ensemble against oracles."""

from __future__ import annotations

import numpy as np

from ..metrics._klom import _ensemble_margins, klom_from_margins
from ._base import import_pyplot

__all__ = ["MarginHistogramDisplay"]


class MarginHistogramDisplay:
    """Per-row histograms of margins over unlearned and oracle models.

    For each chosen row, the margins of the row under every unlearned model
    and under every oracle, binned over their pooled range as :func:`klom`
    bins them; the row's KLoM is in the panel's title. Build it with
    :meth:`from_estimators` or :meth:`from_margins`.

    Parameters
    ----------
    unlearned, oracle : ndarray of shape (n_models, n_rows)
        Margins of the chosen rows.
    rows : ndarray of int, shape (n_rows,)
        Row labels for the titles.
    n_bins : int, default=20
    names : tuple of str, default=("unlearned", "oracle")

    Attributes
    ----------
    klom_ : ndarray of shape (n_rows,)
        KLoM of each row (:func:`klom_from_margins`).
    bins_ : list of ndarray
        Each row's bin edges.
    axes_ : ndarray of matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_unlearn.plotting import MarginHistogramDisplay
    >>> u = np.array([[0.0, 1.0], [0.2, 1.2]])
    >>> o = np.array([[0.1, 3.0], [0.3, 3.2]])
    >>> disp = MarginHistogramDisplay.from_margins(u, o, n_bins=4)
    >>> disp.axes_.shape
    (2,)
    """

    def __init__(self, *, unlearned, oracle, rows, n_bins=20, names=None):
        self.unlearned = np.asarray(unlearned, dtype=np.float64)
        self.oracle = np.asarray(oracle, dtype=np.float64)
        self.rows = np.asarray(rows)
        self.n_bins = n_bins
        self.names = ("unlearned", "oracle") if names is None else tuple(names)

    def plot(self, axes=None, *, alpha=0.5):
        """Draw one panel per row.

        Parameters
        ----------
        axes : matplotlib Axes or array of them, default=None
            One per row; a new figure with a row of panels when None.
        alpha : float, default=0.5

        Returns
        -------
        self : MarginHistogramDisplay
        """
        plt = import_pyplot("MarginHistogramDisplay")
        n = self.unlearned.shape[1]
        if axes is None:
            _, axes = plt.subplots(1, n, figsize=(3.2 * n, 2.8), squeeze=False)
        axes = np.ravel(np.asarray(axes, dtype=object))
        if len(axes) != n:
            raise ValueError(f"{n} rows need {n} axes, got {len(axes)}.")
        self.klom_ = klom_from_margins(self.unlearned, self.oracle, self.n_bins)
        self.bins_ = []
        for j, ax in enumerate(axes):
            u, o = self.unlearned[:, j], self.oracle[:, j]
            lo, hi = min(u.min(), o.min()), max(u.max(), o.max())
            if hi == lo:
                lo, hi = lo - 0.5, hi + 0.5
            bins = np.linspace(lo, hi, self.n_bins + 1)
            self.bins_.append(bins)
            ax.hist(u, bins=bins, alpha=alpha, label=self.names[0])
            ax.hist(o, bins=bins, alpha=alpha, label=self.names[1])
            ax.set_title(f"row {self.rows[j]}: KLoM = {self.klom_[j]:.3g}")
            ax.set_xlabel("margin")
            ax.set_ylabel("models")
        axes[0].legend()
        self.axes_, self.figure_ = axes, axes[0].figure
        return self

    @classmethod
    def from_margins(
        cls, unlearned, oracle, *, rows=None, n_bins=20, names=None, axes=None
    ):
        """Plot from margin samples ``(n_models, n_rows)``.

        Parameters
        ----------
        unlearned, oracle : ndarray of shape (n_models, n_rows)
        rows : array-like of int, default=None
            Columns to draw (default: all).
        n_bins : int, default=20
        names : tuple of str, default=None
        axes : matplotlib Axes or array of them, default=None

        Returns
        -------
        MarginHistogramDisplay
        """
        U = _ensemble_margins(np.asarray(unlearned, dtype=np.float64), None, None)
        O = _ensemble_margins(np.asarray(oracle, dtype=np.float64), None, None)
        if U.shape[1] != O.shape[1]:
            raise ValueError(
                f"unlearned and oracle margins cover {U.shape[1]} and {O.shape[1]} "
                "rows."
            )
        rows = np.arange(U.shape[1]) if rows is None else np.asarray(rows)
        if rows.ndim != 1 or len(rows) == 0:
            raise ValueError("rows must be a non-empty 1-d array of row indices.")
        disp = cls(
            unlearned=U[:, rows],
            oracle=O[:, rows],
            rows=rows,
            n_bins=n_bins,
            names=names,
        )
        return disp.plot(axes=axes)

    @classmethod
    def from_estimators(
        cls, unlearned, oracles, X, y, *, rows, n_bins=20, names=None, axes=None
    ):
        """Margins of the chosen rows under two ensembles of fitted models.

        Parameters
        ----------
        unlearned : list of fitted classifiers
            E.g. from :func:`~sklearn_unlearn.metrics.fit_unlearned`.
        oracles : list of fitted classifiers
            E.g. from :func:`~sklearn_unlearn.metrics.fit_oracles`.
        X : array-like of shape (n_rows, n_features)
        y : array-like of shape (n_rows,)
        rows : array-like of int
            Rows of ``X`` to draw.
        n_bins : int, default=20
        names : tuple of str, default=None
        axes : matplotlib Axes or array of them, default=None

        Returns
        -------
        MarginHistogramDisplay
        """
        from sklearn.utils import _safe_indexing

        rows = np.atleast_1d(np.asarray(rows))
        Xr, yr = _safe_indexing(X, rows), np.asarray(y)[rows]
        U = _ensemble_margins(unlearned, Xr, yr)
        O = _ensemble_margins(oracles, Xr, yr)
        disp = cls(unlearned=U, oracle=O, rows=rows, n_bins=n_bins, names=names)
        return disp.plot(axes=axes)
