"""Whether KLoM can see a request at all: doing nothing against the noise floor.

KLoM compares the margin distribution of an unlearned ensemble with that of
an oracle ensemble. Two oracle ensembles with other randomness already
differ (the *noise floor*); a request that barely changes the model (a
random 1% of a convex model's rows) leaves a model that forgot nothing
inside that noise, and then every candidate scores alike and no ranking
means anything. The test here is coupled: a *do-nothing* ensemble (trained
on every row, nothing unlearned) and a second oracle ensemble are drawn
with the same seeds and retained halves, and both are compared with the
same oracles, so row by row the two differ only by the forgotten rows. A
one-sided Wilcoxon signed-rank test over the rows says whether doing
nothing sits above the floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import wilcoxon

from ._ensembles import _fit_members

__all__ = [
    "POWER_ALPHA",
    "KLoMPower",
    "fit_kept",
    "klom_excess_p_value",
    "klom_power",
]

POWER_ALPHA = 0.01


@dataclass(frozen=True)
class KLoMPower:
    """The verdict of the coupled test.

    Attributes
    ----------
    p_value : float
        One-sided p-value that doing nothing's per-row KLoM exceeds the
        noise floor's.
    nothing_median, floor_median : float
        The two medians.
    n_rows : int
        Rows tested.
    """

    p_value: float
    nothing_median: float
    floor_median: float
    n_rows: int

    @property
    def has_power(self) -> bool:
        """Doing nothing is distinguishable from the floor at ``POWER_ALPHA``."""
        return self.p_value < POWER_ALPHA

    def explain(self) -> str:
        """A sentence for a warning."""
        return (
            f"KLoM cannot tell doing nothing from retraining on these "
            f"{self.n_rows} rows (median {self.nothing_median:.3g} against a "
            f"noise floor of {self.floor_median:.3g}, one-sided Wilcoxon "
            f"p = {self.p_value:.2g} >= {POWER_ALPHA}): the request barely "
            "changes the model, or the ensembles are too small to show it. "
            "KLoM values then do not rank methods; use more models "
            "(n_models), more rows to forget, or a request that changes the "
            "model (e.g. whole clusters)."
        )


def klom_excess_p_value(values, floor) -> float:
    """One-sided p-value that ``values`` exceed ``floor``, paired by row.

    Parameters
    ----------
    values, floor : array-like of shape (n_rows,)
        Per-row KLoM of a model's ensemble and of the noise floor, against
        the same oracles.

    Returns
    -------
    float
        The Wilcoxon signed-rank test's p-value (1.0 when every difference
        is zero).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_unlearn.metrics._klom_power import klom_excess_p_value
    >>> floor = np.linspace(0.1, 0.3, 30)
    >>> klom_excess_p_value(floor + 1.0, floor) < 1e-6
    True
    >>> klom_excess_p_value(floor, floor)
    1.0
    """
    d = np.asarray(values, dtype=float) - np.asarray(floor, dtype=float)
    if not np.any(d != 0):
        return 1.0
    return float(wilcoxon(d, alternative="greater").pvalue)


def klom_power(nothing, floor) -> KLoMPower:
    """The coupled test on per-row KLoM values of doing nothing and the floor."""
    nothing, floor = np.asarray(nothing), np.asarray(floor)
    return KLoMPower(
        p_value=klom_excess_p_value(nothing, floor),
        nothing_median=float(np.median(nothing)),
        floor_median=float(np.median(floor)),
        n_rows=len(nothing),
    )


def fit_kept(
    estimator,
    X,
    y,
    forget,
    n_models: int = 8,
    random_state=None,
    n_jobs: int | None = None,
    *,
    spread: str = "auto",
    progress: bool | None = None,
) -> list:
    """The do-nothing ensemble: members of :func:`fit_unlearned` that forget nothing.

    Member ``k`` trains, by a plain ``fit``, on the forget rows and the
    retained rows of oracle ``k`` of :func:`fit_oracles` with the same
    ``random_state``.

    Returns
    -------
    list of fitted estimators
    """
    return _fit_members(
        estimator,
        X,
        y,
        forget,
        n_models,
        random_state,
        n_jobs,
        spread,
        progress,
        kind="do nothing",
    )
