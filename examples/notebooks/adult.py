# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Adult census income: forgetting at a scale where retraining costs
#
# The Adult table has 48,842 people, six numeric and eight categorical
# columns, some with missing values. We fit an income classifier behind a
# `ColumnTransformer` (scaler; imputer and one-hot encoder), apply a stream
# of deletion requests, compare the result with retraining, and look at what
# the ledger says.
#
# Set `SKLEARN_UNLEARN_QUICK=1` to use a 10,000-row sample (the test suite does).

# %%
import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_unlearn import PreprocessingStateWarning, UnlearningClassifier
from sklearn_unlearn.datasets import load_adult
from sklearn_unlearn.metrics import unlearning_report
from sklearn_unlearn.pipeline import make_pipeline

QUICK = os.environ.get("SKLEARN_UNLEARN_QUICK") == "1"

# %% [markdown]
# ## Data

# %%
data = load_adult(as_frame=True)
X, y = data.data, data.target
if QUICK:
    X, _, y, _ = train_test_split(X, y, train_size=10_000, stratify=y, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
X_train, y_train = X_train.reset_index(drop=True), y_train.reset_index(drop=True)
print(X_train.shape, "training rows x columns")
X_train.isna().sum()[lambda s: s > 0]

# %% [markdown]
# ## A pipeline that forgets
#
# The scaler is downdated exactly with every request. The imputer's most
# frequent category is a statistic that cannot be downdated from counts we
# keep, so the model says so: the ledger notes it, and a
# `PreprocessingStateWarning` is raised once.

# %%
preprocess = ColumnTransformer(
    [
        ("num", StandardScaler(), data.numerical_features),
        (
            "cat",
            Pipeline(
                [
                    ("impute", SimpleImputer(strategy="most_frequent")),
                    ("onehot", OneHotEncoder(handle_unknown="ignore")),
                ]
            ),
            data.categorical_features,
        ),
    ]
)


def make_model(method="newton"):
    clf = UnlearningClassifier(
        LogisticRegression(C=1.0, solver="newton-cholesky"), method=method
    )
    return make_pipeline(preprocess, clf)


t0 = time.perf_counter()
model = make_model().fit(X_train, y_train)
fit_s = time.perf_counter() - t0
print(f"fit (with preparation for unlearning): {fit_s:.1f} s")
print("test accuracy:", round(model.score(X_test, y_test), 4))

# %% [markdown]
# ## A stream of deletion requests

# %%
rng = np.random.default_rng(0)
n_requests = 4 if QUICK else 10
per_request = 25 if QUICK else 50
order = rng.permutation(len(X_train))[: n_requests * per_request]
requests = np.array_split(order, n_requests)
timings = []
with warnings.catch_warnings():
    warnings.simplefilter("ignore", PreprocessingStateWarning)  # read the ledger
    for rows in requests:
        t0 = time.perf_counter()
        model.unlearn(X_train.iloc[rows], y_train.iloc[rows])
        timings.append(time.perf_counter() - t0)
print(
    f"{len(order)} rows forgotten, median {1e3 * np.median(timings):.0f} ms per request"
)
print("ledger notes:", model[-1].ledger_[-1].notes[:1])

# %% [markdown]
# ## Compare with retraining

# %%
keep = np.setdiff1d(np.arange(len(X_train)), order)
X_forget, y_forget = X_train.iloc[order], y_train.iloc[order]
X_retain, y_retain = X_train.iloc[keep], y_train.iloc[keep]
t0 = time.perf_counter()
retrained = make_model("retrain").fit(X_retain, y_retain)
retrain_s = time.perf_counter() - t0
print(f"retraining: {retrain_s:.1f} s; one request: {np.median(timings):.2f} s")

report = unlearning_report(
    {"do nothing": make_model().fit(X_train, y_train), "newton (stream)": model},
    X_forget,
    y_forget,
    X_test,
    y_test,
    X_retain=X_retain,
    y_retain=y_retain,
    reference=retrained,
    attacks=("loss",),
)
report.T  # noqa: B018

# %% [markdown]
# ## Plots
#
# Left: the predicted probability of every held-out person, unlearned model
# against the retrained one (a perfect unlearner puts every point on the
# diagonal). Right: the ledger's certified bound on the parameter distance,
# request by request; it is an upper bound and grows with every step.

# %%
p_new = model.predict_proba(X_test)[:, 1]
p_ref = retrained.predict_proba(X_test)[:, 1]
bound = model[-1].ledger_.to_frame()["param_error_bound"].to_numpy()[1:]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
ax1.scatter(p_ref, p_new - p_ref, s=2, alpha=0.3)
ax1.set(
    xlabel="P(income > 50k), retrained",
    ylabel="unlearned - retrained",
    title=f"max |difference| = {np.abs(p_new - p_ref).max():.1e}",
)
ax2.semilogy(np.arange(1, n_requests + 1), bound, "o-")
ax2.set(xlabel="request", ylabel="param_error_bound (ledger)")
fig.tight_layout()
plt.show()
