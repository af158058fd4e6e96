"""
================================================
PUMA, Newton or retraining: what a request costs
================================================

Three ways to honour the same deletion request on the Adult census data:

* ``Retrain``: exact, and the slowest; it needs every remaining row.
* ``Newton``: one second-order step toward the retrained model, without the
  remaining rows, with a certified error bound; ``Newton(refine=1)`` adds an
  exact Newton step on the remaining rows.
* ``PUMA`` (Wu et al., 2022): removes the rows *and* re-weights a pool of
  other rows so that a performance criterion (here the log loss) stays where it
  was. It trades faithfulness to retraining for performance. The pool is drawn
  from the remaining rows passed with the request, so the model keeps none.

The request removes whole clusters of similar applicants
(:func:`~sklearn_unlearn.model_selection.sample_forget_mask` with
``strategy="cluster"``), the case in which removal hurts performance most.
"""

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.datasets import load_adult
from sklearn_unlearn.methods import PUMA, Newton, Retrain
from sklearn_unlearn.model_selection import sample_forget_mask

QUICK = os.environ.get("SKLEARN_UNLEARN_QUICK") == "1"
data = load_adult(as_frame=True)
X, y = data.data, data.target.to_numpy()
X_train, X_test, y_train, y_test = train_test_split(
    X,
    y,
    train_size=3000 if QUICK else 5000,
    test_size=3000,
    random_state=0,
    stratify=y,
)
X_train, X_test = X_train.reset_index(drop=True), X_test.reset_index(drop=True)

# A fixed encoding so that every method sees the same features.
encoder = make_column_transformer(
    (StandardScaler(), data.numerical_features),
    (
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        data.categorical_features,
    ),
).fit(X_train)
Z_train, Z_test = encoder.transform(X_train), encoder.transform(X_test)

forget = sample_forget_mask(
    y_train, 0.05, strategy="cluster", X=Z_train[:, :6], random_state=0
)
print(f"{forget.sum()} rows to forget out of {len(y_train)}")

# %%
# Apply the request with each method
# ----------------------------------
methods = {
    "Retrain": Retrain(),
    "Newton": Newton(),
    "Newton(refine=1)": Newton(refine=1),
    "PUMA(eta=1)": PUMA(eta=1.0, random_state=0),
    "PUMA(eta=0.5)": PUMA(eta=0.5, random_state=0),
}
keep = ~forget
rows = []
plain = UnlearningClassifier(LogisticRegression(C=0.1, solver="newton-cholesky")).fit(
    Z_train, y_train
)
for name, method in methods.items():
    clf = UnlearningClassifier(
        LogisticRegression(C=0.1, solver="newton-cholesky"), method=method
    )
    clf.fit(Z_train, y_train)
    kwargs = {"X_retain": Z_train[keep], "y_retain": y_train[keep]}
    t0 = time.perf_counter()
    if name in ("Retrain", "Newton(refine=1)") or name.startswith("PUMA"):
        clf.unlearn(Z_train[forget], y_train[forget], **kwargs)
    else:
        clf.unlearn(Z_train[forget], y_train[forget])
    seconds = time.perf_counter() - t0
    rows.append((name, clf, seconds))

reference = rows[0][1]


def theta(clf):
    return np.r_[clf.estimator_.coef_.ravel(), clf.estimator_.intercept_]


table = pd.DataFrame(
    [
        {
            "method": name,
            "update ms": 1e3 * s,
            "test log loss": log_loss(y_test, clf.predict_proba(Z_test)),
            "test accuracy": clf.score(Z_test, y_test),
            "distance to retrain": np.linalg.norm(theta(clf) - theta(reference))
            / np.linalg.norm(theta(reference)),
        }
        for name, clf, s in rows + [("do nothing", plain, 0.0)]
    ]
).set_index("method")
print(table.round(4))

# %%
# Plot: cost of a request against faithfulness and performance
# ------------------------------------------------------------
# Removing whole clusters is a large change, and one Newton step goes only
# part of the way to the retrained model; ``refine=1``, one more exact step
# on the retained rows, goes further (each further step of ``refine`` does
# too) at a fraction of the refit's cost.
# Retraining on what remains raises the test log loss: the removed clusters
# took information with them. PUMA stays away from the retrained model on
# purpose and keeps the log loss of the model trained on every row.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
for name in table.index:
    t = max(table.loc[name, "update ms"], 0.1)
    if name != "Retrain":  # at distance 0 by definition
        ax1.scatter(t, table.loc[name, "distance to retrain"], label=name)
    ax2.scatter(t, table.loc[name, "test log loss"], label=name)
ax1.set(
    xscale="log",
    yscale="log",
    xlabel="update time (ms)",
    ylabel="relative distance to retrain",
)
ax2.set(xscale="log", xlabel="update time (ms)", ylabel="test log loss")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()
