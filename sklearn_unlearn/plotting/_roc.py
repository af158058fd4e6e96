"""ROC curve of a membership attack: forgotten rows against held-out rows."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from ..metrics._mia_base import _check_member
from ._base import get_axes

__all__ = ["AttackRocDisplay"]


class AttackRocDisplay:
    """ROC curve of a membership attack, like scikit-learn's ``RocCurveDisplay``.

    Members (rows the model trained on, or forgot) are the positives. Use
    :meth:`from_attack` or :meth:`from_scores`; draw several curves on one
    axes by passing ``ax``. ``log_scale=True`` draws log-log axes, where the
    low false-positive region the LiRA paper stresses is visible.

    Parameters
    ----------
    fpr, tpr : ndarray
        The curve, as from :func:`sklearn.metrics.roc_curve`.
    roc_auc : float, default=None
    name : str, default=None

    Attributes
    ----------
    line_ : matplotlib Line2D
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_unlearn.plotting import AttackRocDisplay
    >>> disp = AttackRocDisplay.from_scores([0.9, 0.2, 0.6, 0.1],
    ...                                     np.array([True, False, True, False]))
    >>> disp.roc_auc
    1.0
    """

    def __init__(self, *, fpr, tpr, roc_auc=None, name=None):
        self.fpr = np.asarray(fpr)
        self.tpr = np.asarray(tpr)
        self.roc_auc = roc_auc
        self.name = name

    def plot(self, ax=None, *, name=None, log_scale=False, chance_level=True, **kw):
        """Draw the curve.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            A new figure when None.
        name : str, default=None
            Legend label (default: the display's name).
        log_scale : bool, default=False
            Log-log axes (zero rates are clipped to the axes' edge).
        chance_level : bool, default=True
            Draw the diagonal of a guessing attack (once per axes).
        **kw : dict
            Passed to ``ax.plot``.

        Returns
        -------
        self : AttackRocDisplay
        """
        ax = get_axes(ax, "AttackRocDisplay")
        name = self.name if name is None else name
        label = name
        if self.roc_auc is not None:
            auc = f"AUC = {self.roc_auc:.3f}"
            label = auc if name is None else f"{name} ({auc})"
        (self.line_,) = ax.plot(self.fpr, self.tpr, label=label, **kw)
        if chance_level and not any(line.get_gid() == "chance" for line in ax.lines):
            # y = x on any scale, once per axes, not widening the limits
            ax.axline((0.5, 0.5), (1.0, 1.0), ls="--", c="k", lw=0.8, gid="chance")
        if log_scale:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.set_xlabel("False positive rate (held-out rows called members)")
        ax.set_ylabel("True positive rate (members found)")
        if label is not None:
            ax.legend(loc="lower right", fontsize="small")
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_scores(cls, scores, member, *, name=None, ax=None, **kw):
        """Plot from membership scores (higher = member) and the ground truth.

        Parameters
        ----------
        scores : array-like of shape (n_rows,)
        member : ndarray of bool, shape (n_rows,)
        name : str, default=None
        ax : matplotlib Axes, default=None
        **kw : dict
            Passed to :meth:`plot`.

        Returns
        -------
        AttackRocDisplay
        """
        scores = np.asarray(scores, dtype=np.float64)
        member = _check_member(member, len(scores))
        fpr, tpr, _ = roc_curve(member, scores)
        auc = float(roc_auc_score(member, scores))
        return cls(fpr=fpr, tpr=tpr, roc_auc=auc, name=name).plot(ax=ax, **kw)

    @classmethod
    def from_attack(cls, attack, model, X, y, member, *, name=None, ax=None, **kw):
        """Run a fitted (or calibration-free) attack on ``model`` and plot it.

        Parameters
        ----------
        attack : MembershipAttack
            E.g. :class:`~sklearn_unlearn.metrics.LossAttack`.
        model : fitted classifier
        X : array-like of shape (n_rows, n_features)
            Forgotten rows beside held-out rows.
        y : array-like of shape (n_rows,)
        member : ndarray of bool, shape (n_rows,)
        name : str, default=None
            Default: the attack's class name.
        ax : matplotlib Axes, default=None
        **kw : dict
            Passed to :meth:`plot`.

        Returns
        -------
        AttackRocDisplay
        """
        scores = attack.score_samples(model, X, y)
        name = type(attack).__name__ if name is None else name
        return cls.from_scores(scores, member, name=name, ax=ax, **kw)
