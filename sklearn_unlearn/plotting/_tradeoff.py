"""Utility against forgetting over the candidates of a search."""

from __future__ import annotations

import numpy as np

from ._base import apply_scale, choose_scale, format_value, get_axes

__all__ = ["TradeoffDisplay"]

#: label positions tried around a point, in points: (dx, dy, ha, va)
_OFFSETS = (
    (5, 3, "left", "bottom"),
    (5, -3, "left", "top"),
    (-5, 3, "right", "bottom"),
    (-5, -3, "right", "top"),
    (0, 8, "center", "bottom"),
    (0, -8, "center", "top"),
    (9, 0, "left", "center"),
    (-9, 0, "right", "center"),
)


def _pareto(x, y) -> np.ndarray:
    """Mask of candidates no other candidate beats on both axes (greater is better).

    Candidates with a non-finite score (a failed fit) are never on the front
    and beat no other.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    better = (x[None, :] >= x[:, None]) & (y[None, :] >= y[:, None])
    strictly = (x[None, :] > x[:, None]) | (y[None, :] > y[:, None])
    return ok & ~np.any(better & strictly & ok[None, :], axis=1)


def _short_labels(params) -> list[str]:
    """One short label per candidate: the parameters that vary, compactly.

    Parameters that are the same for every candidate are left out; a
    parameter is named by the last part of its ``__`` path; an estimator
    value by its class name alone; numbers by :func:`format_value`.
    """
    keys: list[str] = []
    for p in params:
        keys += [k for k in p if k not in keys]
    texts = [{k: format_value(v) for k, v in p.items()} for p in params]
    varying = [k for k in keys if len({t.get(k) for t in texts}) > 1] or keys
    labels = []
    for p, t in zip(params, texts, strict=True):
        parts = []
        for k in varying:
            if k not in p:
                continue
            v = p[k]
            if hasattr(v, "get_params") and not isinstance(v, type):
                parts.append(t[k])
            else:
                parts.append(f"{k.split('__')[-1]}={t[k]}")
        labels.append(", ".join(parts))
    return labels


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _text_box(anchor, dx, dy, ha, va, w, h, px):
    """Display box of a ``w`` x ``h`` text offset by ``(dx, dy)`` points."""
    x0 = anchor[0] + dx * px - {"left": 0.0, "center": w / 2, "right": w}[ha]
    y0 = (
        anchor[1]
        + dy * px
        - {"bottom": 0.0, "baseline": 0.0, "center": h / 2}.get(va, h)
    )
    return (x0, y0, x0 + w, y0 + h)


def _text_size(text, fontsize, px):
    """Estimated display width and height of one line of ``text``."""
    return 0.6 * fontsize * px * len(text), 1.25 * fontsize * px


def _obstacles(ax, px):
    """Boxes of the axes' point labels and markers ``(centre, box)``, as drawn now.

    Labels and markers drawn before (another display on the same axes)
    are found from the axes' annotations and marker lines.
    """
    labels = []
    for t in ax.texts:
        xyann = getattr(t, "xyann", None)
        if (
            xyann is None
            or getattr(t, "anncoords", None) != "offset points"
            or getattr(t, "xycoords", None) != "data"
        ):
            continue
        anchor = ax.transData.transform([t.xy])[0]
        w, h = _text_size(t.get_text(), t.get_fontsize(), px)
        labels.append(_text_box(anchor, *xyann, t.get_ha(), t.get_va(), w, h, px))
    markers = []
    for line in ax.lines:
        if line.get_marker() in (None, "", "None", " ") or not line.get_visible():
            continue
        r = (line.get_markersize() / 2 + 4) * px  # a margin: no label by a stranger
        for u, v in ax.transData.transform(line.get_xydata()):
            if np.isfinite(u) and np.isfinite(v):
                markers.append(((u, v), (u - r, v - r, u + r, v + r)))
    return labels, markers


def _place_labels(ax, x, y, labels, order, *, fontsize, force=()):
    """Annotate the points in ``order`` where a label fits; return the texts.

    Each label tries the positions of ``_OFFSETS`` around its point and takes
    the first inside the axes that overlaps no other label and no marker of
    another point (those of earlier displays on the axes included); a label
    that fits nowhere is left out (except for the points in ``force``).
    Points closer than 3 pixels share one label. Text sizes are estimated
    from the font size.
    """
    ax.autoscale_view()
    px = ax.figure.dpi / 72.0
    pts = ax.transData.transform(np.column_stack([x, y]))
    frame = ax.bbox
    placed, markers = _obstacles(ax, px)
    texts, done = [], set()
    for i in order:
        if i in done:
            continue
        near = [
            j for j in order if j not in done and np.hypot(*(pts[j] - pts[i])) <= 3 * px
        ]
        done.update(near)
        names = list(dict.fromkeys(labels[j] for j in near))
        text = "; ".join(names[:2]) + (
            f" (+{len(names) - 2})" if len(names) > 2 else ""
        )
        w, h = _text_size(text, fontsize, px)
        others = [
            box
            for c, box in markers
            if np.hypot(c[0] - pts[i, 0], c[1] - pts[i, 1]) > 3 * px
        ]
        chosen = None
        for dx, dy, ha, va in _OFFSETS:
            box = _text_box(pts[i], dx, dy, ha, va, w, h, px)
            inside = (
                box[0] >= frame.x0
                and box[2] <= frame.x1
                and box[1] >= frame.y0
                and box[3] <= frame.y1
            )
            if inside and not any(_overlaps(box, b) for b in placed + others):
                chosen = (dx, dy, ha, va, box)
                break
        if chosen is None:
            if i not in force:
                continue
            dx, dy, ha, va = _OFFSETS[0]
            chosen = (dx, dy, ha, va, _text_box(pts[i], dx, dy, ha, va, w, h, px))
        dx, dy, ha, va, box = chosen
        placed.append(box)
        texts.append(
            ax.annotate(
                text,
                (x[i], y[i]),
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=fontsize,
            )
        )
    return texts


class TradeoffDisplay:
    """Each candidate of a search as a point: forgetting score against utility.

    Both scores are "greater is better" (as scikit-learn's scorers and ours
    are), so the best candidates sit top right; the Pareto front is joined
    by a line and the refit candidate ringed. An axis whose values span more
    than 1.5 decades (a factor of about 30) is drawn on a log scale
    (symmetric log for negated losses such as ``-KL``). Each candidate is
    labelled by the parameters that vary across the search (``eta=1e-06``),
    where the label fits without covering another. Build it with
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
        The scorers' names, in the axis labels.
    name : str, default=None
        Legend label.

    Attributes
    ----------
    pareto_ : ndarray of bool
        Candidates on the Pareto front.
    annotations_ : list of matplotlib Text
        The point labels drawn (labels that found no free place are left
        out).
    errorbar_ : matplotlib ErrorbarContainer
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
    >>> disp.labels
    ['eta=0.1', 'eta=1']
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

    def plot(
        self,
        ax=None,
        *,
        name=None,
        annotate=True,
        xscale="auto",
        yscale="auto",
        fontsize=7.5,
        **kw,
    ):
        """Draw the candidates.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        name : str, default=None
            Legend label (default: the display's name).
        annotate : bool or "pareto", default=True
            Label the candidates: ``True`` every one whose label fits
            without covering another label or point (the refit candidate
            first, then the Pareto front); ``"pareto"`` only the front and
            the refit candidate; ``False`` none.
        xscale, yscale : {"auto", "linear", "log", "symlog"}, default="auto"
            The axes' scales. ``"auto"``: logarithmic when the non-zero
            magnitudes span more than 1.5 decades (``"symlog"`` when some
            values are zero or negative), else linear. On axes drawn on before,
            ``"auto"`` does not undo a log scale.
        fontsize : float, default=7.5
            Of the point labels.
        **kw : dict
            Passed to ``ax.errorbar``.

        Returns
        -------
        self : TradeoffDisplay
        """
        if annotate not in (True, False, "pareto"):
            raise ValueError(
                f"annotate must be True, False or 'pareto', got {annotate!r}."
            )
        ax = get_axes(ax, "TradeoffDisplay")
        keep = ax.has_data()
        name = self.name if name is None else name
        x, y = self.forgetting, self.utility
        kw = {"fmt": "o", "capsize": 2, "ms": 5, **kw}
        explain = name is None
        self.errorbar_ = ax.errorbar(
            x,
            y,
            xerr=self.forgetting_std,
            yerr=self.utility_std,
            label="candidates" if explain else name,
            **kw,
        )
        color = self.errorbar_.lines[0].get_color()
        self.pareto_ = _pareto(x, y)
        order = np.argsort(x[self.pareto_])
        ax.plot(
            x[self.pareto_][order],
            y[self.pareto_][order],
            "-",
            color=color,
            lw=1.2,
            label="Pareto front" if explain else "_nolegend_",
        )
        if self.best_index is not None:
            b = int(self.best_index)
            ax.plot(
                x[b],
                y[b],
                "o",
                ms=13,
                mfc="none",
                mec=color,
                label="refit candidate" if explain else "_nolegend_",
            )
        for axis, values, scale in ((ax.xaxis, x, xscale), (ax.yaxis, y, yscale)):
            chosen, opts = choose_scale(values, scale)
            apply_scale(axis, chosen, opts, keep=keep and scale == "auto")
        self.annotations_ = []
        if annotate and self.labels is not None:
            finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
            first = [] if self.best_index is None else [int(self.best_index)]
            front = [int(i) for i in finite[self.pareto_[finite]] if i not in first]
            rest = [int(i) for i in finite if i not in first and i not in front]
            order = first + sorted(front, key=lambda i: x[i])
            if annotate is True:
                order += rest
            self.annotations_ = _place_labels(
                ax,
                x,
                y,
                [str(t) for t in self.labels],
                order,
                fontsize=fontsize,
                force=first,
            )
        ax.set_xlabel(f"{self.forgetting_name} (forgetting score, higher = better)")
        ax.set_ylabel(f"{self.utility_name} (utility score, higher = better)")
        ax.grid(True, which="major", alpha=0.3)
        handles, names = ax.get_legend_handles_labels()
        first = [k for k, n in enumerate(names) if n == "candidates"]
        rest = [k for k in range(len(names)) if k not in first]
        ax.legend(
            [handles[k] for k in first + rest],
            [names[k] for k in first + rest],
            fontsize="small",
        )
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
        labels = None if params is None else _short_labels(list(params))
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
