"""
================================================
Tuning ``eta`` and ``epsilon`` with GridSearchCV
================================================

Approximate methods have a step-size hyperparameter: PUMA's projection rate
``eta`` and SSSE's scale ``epsilon``. Tune them like any scikit-learn
hyperparameter, with scorers that measure forgetting.

The pieces:

* :class:`~sklearn_unlearn.model_selection.ForgetSplit` builds folds whose
  test part holds the forgotten rows beside held-out rows;
* ``fit(X, y, forget=mask)`` fits on a training fold and then forgets the
  marked rows, as a deletion request would;
* scorers from :mod:`sklearn_unlearn.metrics` read the routed ``forget``
  mask: distance to the model retrained without the rows, a membership
  attack, and plain utility. (:func:`~sklearn_unlearn.metrics.make_klom_scorer`
  adds KLoM against ensembles of retrained models; it fits ``n_models`` models
  per candidate and split, so it is left out of this quick search.)

The ``forget`` mask travels through scikit-learn's metadata routing, which
must be switched on.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn import set_config
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.datasets import load_breast_cancer_original
from sklearn_unlearn.methods import PUMA, SSSE
from sklearn_unlearn.metrics import (
    LossAttack,
    make_membership_scorer,
    make_retrain_distance_scorer,
    make_utility_scorer,
)
from sklearn_unlearn.model_selection import ForgetSplit, sample_forget_mask
from sklearn_unlearn.plotting import TradeoffDisplay

QUICK = os.environ.get("SKLEARN_UNLEARN_QUICK") == "1"
set_config(enable_metadata_routing=True)

X, y = load_breast_cancer_original(return_X_y=True)
complete = ~np.isnan(X).any(axis=1)
X, y = X[complete], y[complete]
forget = sample_forget_mask(y, 0.05, random_state=0)

# The nine features share one 1-10 scale, so no scaler is needed. (PUMA keeps
# its criterion direction in the model's input features, so it refuses to sit
# behind a scaler that is downdated with each request: use fixed
# preprocessing.) The search routes the forget mask to ``fit``, which hands PUMA
# the retained rows it re-weights: the fitted models keep no training row.
clf = UnlearningClassifier(LogisticRegression(C=0.1))
param_grid = [
    {"method": [PUMA(random_state=0)], "method__eta": [0.5, 1.0, 2.0]},
    {"method": [SSSE()], "method__epsilon": [0.5, 1.0, 2.0]},
]
scoring = {
    "distance": make_retrain_distance_scorer("mean_kl"),  # -KL to retrained
    # -|AUC - AUC on the retrained model|: 0 = the attack sees a retrain
    "membership": make_membership_scorer(LossAttack()),
    "accuracy": make_utility_scorer("accuracy"),
}
search = GridSearchCV(
    clf,
    param_grid,
    scoring=scoring,
    refit="distance",
    cv=ForgetSplit(n_splits=2 if QUICK else 3, random_state=0),
    error_score="raise",
)
search.fit(X, y, forget=forget)
set_config(enable_metadata_routing=False)

# %%
# Results
# -------
res = pd.DataFrame(search.cv_results_)
res["method"] = res["param_method"].map(lambda m: type(m).__name__)
res["step"] = res["param_method__eta"].fillna(res["param_method__epsilon"])
cols = ["method", "step"] + [f"mean_test_{k}" for k in scoring]
print(res[cols].round(5).to_string(index=False))
print("best:", search.best_params_)

# %%
# Plot: distance to retraining against the step size
# --------------------------------------------------
# The distance scorer returns a negated distance (higher is better, as for
# every scikit-learn scorer); we plot the distance itself.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
for method, group in res.groupby("method"):
    ax1.plot(group["step"], -group["mean_test_distance"], "o-", label=method)
    ax2.plot(group["step"], group["mean_test_membership"], "o-", label=method)
ax1.set(
    xscale="log",
    yscale="log",
    xlabel="eta (PUMA) / epsilon (SSSE)",
    ylabel="mean KL to retrained, forgotten rows",
)
ax2.set(
    xscale="log",
    xlabel="eta (PUMA) / epsilon (SSSE)",
    ylabel="membership score (0: as a retrain)",
)
ax1.legend()
fig.tight_layout()
plt.show()

# %%
# The trade-off of every candidate
# --------------------------------
# :class:`~sklearn_unlearn.plotting.TradeoffDisplay` puts each candidate at
# (forgetting score, utility); both are "greater is better", the Pareto front
# is joined and the refit candidate ringed.
disp = TradeoffDisplay.from_search(search, utility="accuracy", forgetting="distance")
plt.show()
