"""Margin histograms of chosen rows: unlearned ensemble against oracles."""

from __future__ import annotations

import numpy as np

from ..metrics._klom import _ensemble_margins, klom_from_margins, resolve_n_bins
from ._base import import_pyplot

__all__ = ["MarginHistogramDisplay"]


class MarginHistogramDisplay:
    """Per-row histograms of margins over unlearned and oracle models.

    For each chosen row, the margins of the row under every unlearned model
    and under every oracle, binned over their pooled range as :func:`klom`
    bins them (the same number of bins: ``"auto"`` is the rule of
    :func:`~sklearn_unlearn.metrics.klom`, of the KLoM scorer and of
    :func:`~sklearn_unlearn.metrics.unlearning_report`); the row's KLoM is in
    the panel's title. The panels fill a grid of at most ``n_cols``
    columns, sharing the y axis (models). Build it with
    :meth:`from_estimators` or :meth:`from_margins`.

    Parameters
    ----------
    unlearned, oracle : ndarray of shape (n_models, n_rows)
        Margins of the chosen rows.
    rows : ndarray of int, shape (n_rows,)
        Row labels for the titles.
    n_bins : int or "auto", default="auto"
        ``"auto"``: ``round(sqrt(n_models))`` between 3 and 20, for the
        smaller ensemble (3 bins for 8 models, 10 for 100).
    names : tuple of str, default=("unlearned", "oracle")

    Attributes
    ----------
    klom_ : ndarray of shape (n_rows,)
        KLoM of each row (:func:`klom_from_margins`).
    n_bins_ : int
        The number of bins used.
    bins_ : list of ndarray
        Each row's bin edges.
    axes_ : ndarray of matplotlib Axes, shape (n_rows,)
        One panel per row, in the order of ``rows``.
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
    >>> MarginHistogramDisplay.from_margins(u, o).n_bins_
    3
    """

    def __init__(self, *, unlearned, oracle, rows, n_bins="auto", names=None):
        self.unlearned = np.asarray(unlearned, dtype=np.float64)
        self.oracle = np.asarray(oracle, dtype=np.float64)
        self.rows = np.asarray(rows)
        self.n_bins = n_bins
        self.names = ("unlearned", "oracle") if names is None else tuple(names)

    def plot(self, axes=None, *, alpha=0.5, n_cols=3):
        """Draw one panel per row, in a grid.

        Parameters
        ----------
        axes : matplotlib Axes or array of them, default=None
            One per row; a new figure with a grid of panels when None.
        alpha : float, default=0.5
        n_cols : int, default=3
            Columns of the grid drawn when ``axes`` is None; rows as needed.

        Returns
        -------
        self : MarginHistogramDisplay
        """
        plt = import_pyplot("MarginHistogramDisplay")
        n = self.unlearned.shape[1]
        own_figure = axes is None
        if own_figure:
            if int(n_cols) != n_cols or n_cols < 1:
                raise ValueError(f"n_cols must be a positive integer, got {n_cols!r}.")
            cols = min(n, int(n_cols))
            grid_rows = -(-n // cols)
            fig, grid = plt.subplots(
                grid_rows,
                cols,
                figsize=(3.3 * cols, 2.4 * grid_rows + 0.5),
                squeeze=False,
                sharey=True,
                layout="constrained",
            )
            for ax in grid.ravel()[n:]:
                ax.set_visible(False)
            axes = grid.ravel()[:n]
        axes = np.ravel(np.asarray(axes, dtype=object))
        if len(axes) != n:
            raise ValueError(f"{n} rows need {n} axes, got {len(axes)}.")
        self.n_bins_ = resolve_n_bins(
            self.n_bins, min(self.unlearned.shape[0], self.oracle.shape[0])
        )
        self.klom_ = klom_from_margins(self.unlearned, self.oracle, self.n_bins_)
        self.bins_ = []
        for j, ax in enumerate(axes):
            u, o = self.unlearned[:, j], self.oracle[:, j]
            lo, hi = min(u.min(), o.min()), max(u.max(), o.max())
            if hi == lo:
                lo, hi = lo - 0.5, hi + 0.5
            bins = np.linspace(lo, hi, self.n_bins_ + 1)
            self.bins_.append(bins)
            ax.hist(u, bins=bins, alpha=alpha, label=self.names[0])
            ax.hist(o, bins=bins, alpha=alpha, label=self.names[1])
            ax.set_title(f"row {self.rows[j]}: KLoM {self.klom_[j]:.3g}", fontsize=10)
            ax.set_xlabel("margin")
            ax.set_ylabel("models")
            ax.grid(True, axis="y", alpha=0.3)
        if own_figure:
            for k, ax in enumerate(axes):
                if k % cols:  # y labels on the left column only
                    ax.set_ylabel("")
                    ax.tick_params(labelleft=False)
                if k + cols < n:  # x labels where no panel is below
                    ax.set_xlabel("")
            handles, labels = axes[0].get_legend_handles_labels()
            fig.legend(
                handles,
                labels,
                loc="outside upper center",
                ncols=2,
                fontsize="small",
                title=f"{self.n_bins_} bins per row, as KLoM",
                title_fontsize="small",
            )
        else:
            axes[0].legend(fontsize="small")
        self.axes_, self.figure_ = axes, axes[0].figure
        return self

    @classmethod
    def from_margins(
        cls,
        unlearned,
        oracle,
        *,
        rows=None,
        n_bins="auto",
        names=None,
        axes=None,
        **kw,
    ):
        """Plot from margin samples ``(n_models, n_rows)``.

        Parameters
        ----------
        unlearned, oracle : ndarray of shape (n_models, n_rows)
        rows : array-like of int, default=None
            Columns to draw (default: all).
        n_bins : int or "auto", default="auto"
            As in :func:`~sklearn_unlearn.metrics.klom`.
        names : tuple of str, default=None
        axes : matplotlib Axes or array of them, default=None
        **kw : dict
            Passed to :meth:`plot` (``alpha``, ``n_cols``).

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
        return disp.plot(axes=axes, **kw)

    @classmethod
    def from_estimators(
        cls,
        unlearned,
        oracles,
        X,
        y,
        *,
        rows,
        n_bins="auto",
        names=None,
        axes=None,
        **kw,
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
        n_bins : int or "auto", default="auto"
            As in :func:`~sklearn_unlearn.metrics.klom`.
        names : tuple of str, default=None
        axes : matplotlib Axes or array of them, default=None
        **kw : dict
            Passed to :meth:`plot` (``alpha``, ``n_cols``).

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
        return disp.plot(axes=axes, **kw)
