"""Utility against forgetting over the candidates of a search."""

from __future__ import annotations

import numpy as np

from ._base import get_axes

__all__ = ["TradeoffDisplay"]


def _pareto(x, y) -> np.ndarray:
    """Mask of candidates no other candidate beats on both axes (greater is better)."""
    better = (x[None, :] >= x[:, None]) & (y[None, :] >= y[:, None])
    strictly = (x[None, :] > x[:, None]) | (y[None, :] > y[:, None])
    return ~np.any(better & strictly, axis=1)


class TradeoffDisplay:
    """Each candidate of a search as a point: forgetting score against utility.

    Both scores are "greater is better" (as scikit-learn's scorers and ours
    are), so the best candidates sit top right; the Pareto front is joined
    by a line and the refit candidate ringed. Build it with
    :meth:`from_cv_results` or :meth:`from_search`.

    Parameters
    ----------
    forgetting, utility : ndarray of shape (n_candidates,)
        Mean test scores.
    forgetting_std, utility_std : ndarray of shape (n_candidates,), default=None
    labels : list of str, default=None
        One per candidate (e.g. ``"eta=0.01"``).
    best_index : int, default=None
    forgetting_name, utility_name : str
        Axis labels.
    name : str, default=None
        Legend label.

    Attributes
    ----------
    pareto_ : ndarray of bool
        Candidates on the Pareto front.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_unlearn.plotting import TradeoffDisplay
    >>> results = {"mean_test_accuracy": [0.8, 0.9], "mean_test_mia": [0.9, 0.7],
    ...            "params": [{"method__eta": 0.1}, {"method__eta": 1.0}]}
    >>> disp = TradeoffDisplay.from_cv_results(results, utility="accuracy",
    ...                                        forgetting="mia")
    >>> disp.pareto_.tolist()
    [True, True]
    """

    def __init__(
        self,
        *,
        forgetting,
        utility,
        forgetting_std=None,
        utility_std=None,
        labels=None,
        best_index=None,
        forgetting_name="forgetting",
        utility_name="utility",
        name=None,
    ):
        self.forgetting = np.asarray(forgetting, dtype=np.float64)
        self.utility = np.asarray(utility, dtype=np.float64)
        self.forgetting_std = forgetting_std
        self.utility_std = utility_std
        self.labels = labels
        self.best_index = best_index
        self.forgetting_name = forgetting_name
        self.utility_name = utility_name
        self.name = name

    def plot(self, ax=None, *, name=None, annotate=True, **kw):
        """Draw the candidates.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        name : str, default=None
            Legend label (default: the display's name).
        annotate : bool, default=True
            Write each candidate's label beside its point.
        **kw : dict
            Passed to ``ax.errorbar``.

        Returns
        -------
        self : TradeoffDisplay
        """
        ax = get_axes(ax, "TradeoffDisplay")
        name = self.name if name is None else name
        x, y = self.forgetting, self.utility
        kw = {"fmt": "o", "capsize": 2, **kw}
        self.errorbar_ = ax.errorbar(
            x, y, xerr=self.forgetting_std, yerr=self.utility_std, label=name, **kw
        )
        color = self.errorbar_.lines[0].get_color()
        self.pareto_ = _pareto(x, y)
        order = np.argsort(x[self.pareto_])
        ax.plot(x[self.pareto_][order], y[self.pareto_][order], "-", color=color)
        if self.best_index is not None:
            b = int(self.best_index)
            ax.plot(x[b], y[b], "o", ms=14, mfc="none", mec=color, label="_best")
        if annotate and self.labels is not None:
            for xi, yi, text in zip(x, y, self.labels, strict=True):
                ax.annotate(
                    text,
                    (xi, yi),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=7,
                )
        ax.set_xlabel(f"{self.forgetting_name} (greater = forgets better)")
        ax.set_ylabel(f"{self.utility_name} (greater = more useful)")
        if name is not None:
            ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_cv_results(
        cls,
        cv_results,
        *,
        utility,
        forgetting,
        best_index=None,
        name=None,
        ax=None,
        **kw,
    ):
        """Plot from a search's ``cv_results_``.

        Parameters
        ----------
        cv_results : dict
            ``cv_results_`` of ``GridSearchCV`` / ``RandomizedSearchCV``
            with multi-metric scoring.
        utility, forgetting : str
            Scorer names: the keys ``mean_test_<name>`` are read.
        best_index : int, default=None
        name : str, default=None
        ax : matplotlib Axes, default=None
        **kw : dict
            Passed to :meth:`plot`.

        Returns
        -------
        TradeoffDisplay
        """
        cols = {}
        for metric in (utility, forgetting):
            key = f"mean_test_{metric}"
            if key not in cv_results:
                have = sorted(k[10:] for k in cv_results if k.startswith("mean_test_"))
                raise ValueError(f"cv_results has no {key!r}; its scorers are {have}.")
            cols[metric] = np.asarray(cv_results[key], dtype=np.float64)
        std = {
            m: (
                np.asarray(cv_results[f"std_test_{m}"], dtype=np.float64)
                if f"std_test_{m}" in cv_results
                else None
            )
            for m in (utility, forgetting)
        }
        params = cv_results.get("params")
        labels = None
        if params is not None:
            labels = [
                ", ".join(
                    f"{k.split('__')[-1]}={v:g}"
                    if isinstance(v, float)
                    else f"{k.split('__')[-1]}={v}"
                    for k, v in p.items()
                )
                for p in params
            ]
        disp = cls(
            forgetting=cols[forgetting],
            utility=cols[utility],
            forgetting_std=std[forgetting],
            utility_std=std[utility],
            labels=labels,
            best_index=best_index,
            forgetting_name=forgetting,
            utility_name=utility,
            name=name,
        )
        return disp.plot(ax=ax, **kw)

    @classmethod
    def from_search(cls, search, *, utility=None, forgetting, name=None, ax=None, **kw):
        """Plot a fitted search; ``utility`` defaults to its ``refit`` scorer.

        Parameters
        ----------
        search : fitted GridSearchCV or RandomizedSearchCV
        utility : str, default=None
        forgetting : str
        name : str, default=None
        ax : matplotlib Axes, default=None
        **kw : dict
            Passed to :meth:`plot`.

        Returns
        -------
        TradeoffDisplay
        """
        if not hasattr(search, "cv_results_"):
            raise ValueError("the search is not fitted: call fit first.")
        if utility is None:
            if not isinstance(search.refit, str):
                raise ValueError(
                    "give utility=: the search's refit is not a scorer name."
                )
            utility = search.refit
        return cls.from_cv_results(
            search.cv_results_,
            utility=utility,
            forgetting=forgetting,
            best_index=getattr(search, "best_index_", None),
            name=name,
            ax=ax,
            **kw,
        )
