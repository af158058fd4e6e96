"""Plots of forgetting: attack ROC curves, margin histograms, trade-offs.

Needs matplotlib (``pip install sklearn-unlearn[plot]``); it is imported
only when a display is built. Each display follows scikit-learn's
``RocCurveDisplay``: ``from_...`` constructors compute, store the data as
attributes and call ``plot(ax=...)``, which draws and returns the display.
"""

from ._margin_hist import MarginHistogramDisplay
from ._roc import AttackRocDisplay
from ._tradeoff import TradeoffDisplay

__all__ = ["AttackRocDisplay", "MarginHistogramDisplay", "TradeoffDisplay"]
