"""
===========
Quick start
===========

Fit a model on a pandas DataFrame, forget some of its rows, and check the
result against retraining from scratch.

The data is the bundled German credit table: 1,000 loan applicants, seven
numeric and thirteen categorical columns. The model is a scikit-learn pipeline
(scale the numbers, one-hot encode the categories, logistic regression) built
with :func:`sklearn_unlearn.pipeline.make_pipeline`, so that the scaler forgets
the rows together with the model.
"""

# %%
# Load a DataFrame and fit
# ------------------------
# Any DataFrame works the same way; only the two column lists are specific to
# this data.
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.datasets import load_german_credit
from sklearn_unlearn.pipeline import make_pipeline

data = load_german_credit(as_frame=True)
X, y = data.data, data.target
numeric, categorical = data.numerical_features, data.categorical_features
print(
    X.shape,
    "rows x columns;",
    len(numeric),
    "numeric,",
    len(categorical),
    "categorical",
)


def make_model(method="newton"):
    return make_pipeline(
        make_column_transformer(
            (StandardScaler(), numeric),
            (OneHotEncoder(handle_unknown="ignore"), categorical),
        ),
        UnlearningClassifier(LogisticRegression(C=1.0), method=method),
    )


model = make_model().fit(X, y)
print("training accuracy:", round(model.score(X, y), 3))

# %%
# A deletion request
# ------------------
# Fifty applicants withdraw their consent. Pass their rows exactly as they
# were given to ``fit``: the model checks each one against fingerprints of its
# training rows and refuses rows it never saw.
rng = np.random.default_rng(0)
gone = rng.choice(len(X), size=50, replace=False)
X_forget, y_forget = X.iloc[gone], y.iloc[gone]

t0 = time.perf_counter()
model.unlearn(X_forget, y_forget)
unlearn_s = time.perf_counter() - t0
print(f"unlearned {len(gone)} rows in {1e3 * unlearn_s:.1f} ms")

# %%
# Compare with retraining
# -----------------------
# Retraining on the remaining rows is the reference: unlearning should land
# close to it, much closer than doing nothing.
keep = np.setdiff1d(np.arange(len(X)), gone)
t0 = time.perf_counter()
retrained = make_model().fit(X.iloc[keep], y.iloc[keep])
retrain_s = time.perf_counter() - t0
untouched = make_model().fit(X, y)  # "do nothing": still trained on every row


def coefs(pipe):
    est = pipe[-1].estimator_
    return np.r_[est.coef_.ravel(), est.intercept_]


ref = coefs(retrained)
for name, m in [("unlearned", model), ("do nothing", untouched)]:
    dist = np.linalg.norm(coefs(m) - ref) / np.linalg.norm(ref)
    p_diff = np.abs(m.predict_proba(X)[:, 1] - retrained.predict_proba(X)[:, 1]).max()
    print(f"{name:>10}: distance to retrained {dist:.1e}, max |dp| {p_diff:.1e}")
print(f"retraining took {1e3 * retrain_s:.0f} ms (pipeline fit included)")

# %%
# The ledger
# ----------
# Every fit and update is recorded, with fingerprints of the rows (never the
# rows) and a certified bound on the distance to retraining.
ledger = model[-1].ledger_.to_frame()
print(ledger[["operation", "method", "n_removed", "n_remaining", "param_error_bound"]])

# %%
# Plot: each coefficient after unlearning against the retrained one
fig, ax = plt.subplots(figsize=(5, 4))
ax.scatter(ref, coefs(untouched), s=12, label="do nothing", alpha=0.6)
ax.scatter(ref, coefs(model), s=12, label="unlearned (Newton)", marker="x")
lim = np.abs(ref).max() * 1.1
ax.plot([-lim, lim], [-lim, lim], color="grey", lw=0.8)
ax.set(
    xlabel="coefficient after retraining", ylabel="coefficient", title="German credit"
)
ax.legend()
plt.show()
