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
# # German credit: deletion requests end to end
#
# A credit-scoring model is trained on a pandas DataFrame of 1,000 loan
# applicants. Over the following weeks, applicants withdraw their consent and
# ask for their data to be erased. This notebook
#
# 1. fits a `ColumnTransformer` pipeline (scaled numbers, one-hot categories,
#    logistic regression) that can forget rows;
# 2. applies a stream of deletion requests, one at a time;
# 3. evaluates the result with `unlearning_report`: accuracy, a membership
#    attack, KLoM and the distance to retraining;
# 4. plots what happened, and exports the ledger for an audit.
#
# Set `SKLEARN_UNLEARN_QUICK=1` to run a smaller version (the test suite does).

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.datasets import load_german_credit
from sklearn_unlearn.metrics import LossAttack, unlearning_report
from sklearn_unlearn.pipeline import make_pipeline
from sklearn_unlearn.plotting import AttackRocDisplay

QUICK = os.environ.get("SKLEARN_UNLEARN_QUICK") == "1"

# %% [markdown]
# ## The data: a DataFrame with numeric and categorical columns

# %%
data = load_german_credit(as_frame=True)
X, y = data.data, data.target
print(
    len(data.numerical_features),
    "numeric and",
    len(data.categorical_features),
    "categorical columns",
)
X.head()

# %%
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
X_train, y_train = X_train.reset_index(drop=True), y_train.reset_index(drop=True)

# %% [markdown]
# ## Fit a pipeline that can forget
#
# `sklearn_unlearn.pipeline.make_pipeline` builds a scikit-learn `Pipeline`
# whose `unlearn` downdates the fitted `StandardScaler` exactly (its means and
# variances become those of the remaining rows) and moves the model to match.
# The one-hot encoder keeps its categories; a category seen only in forgotten
# rows would be named in a warning.

# %%
preprocess = ColumnTransformer(
    [
        ("num", StandardScaler(), data.numerical_features),
        ("cat", OneHotEncoder(handle_unknown="ignore"), data.categorical_features),
    ]
)


def make_model(method="newton"):
    return make_pipeline(
        preprocess, UnlearningClassifier(LogisticRegression(C=1.0), method=method)
    )


model = make_model().fit(X_train, y_train)
print("test accuracy:", round(model.score(X_test, y_test), 3))

# %% [markdown]
# ## A stream of deletion requests
#
# Each request names a few applicants. Their rows are passed exactly as they
# were given to `fit`; the model checks them against fingerprints of its
# training rows.

# %%
rng = np.random.default_rng(0)
n_requests = 5 if QUICK else 20
requests = np.array_split(rng.permutation(len(X_train))[: 4 * n_requests], n_requests)
timings = []
for rows in requests:
    t0 = time.perf_counter()
    model.unlearn(X_train.iloc[rows], y_train.iloc[rows])
    timings.append(time.perf_counter() - t0)
forgotten = np.concatenate(requests)
print(
    f"{len(forgotten)} rows forgotten in {n_requests} requests, "
    f"median {1e3 * np.median(timings):.0f} ms per request"
)

# %% [markdown]
# ## The ledger, exported for an audit
#
# One record per fit and request: when, what method, how many rows, the
# fingerprints of the removed rows (never the rows), and a certified bound on
# the distance to retraining.

# %%
ledger = model[-1].ledger_
ledger.to_frame()[
    ["operation", "timestamp", "n_removed", "n_remaining", "param_error_bound"]
].tail()

# %%
audit_json = ledger.to_json()  # write it wherever the audit trail is kept
print(audit_json[:300], "...")

# %% [markdown]
# ## Evaluate: is the model as if trained without those rows?
#
# `unlearning_report` puts each model in one row: accuracy on held-out,
# forgotten and retained rows, the loss attack on the forgotten rows against
# held-out rows, KLoM against ensembles of retrained models (with the
# oracle-against-oracle noise floor), and the distance to a model retrained on
# the remaining rows. The ensemble fits show a progress bar in a notebook
# (`progress=False` hides it).

# %%
keep = np.setdiff1d(np.arange(len(X_train)), forgotten)
X_forget, y_forget = X_train.iloc[forgotten], y_train.iloc[forgotten]
X_retain, y_retain = X_train.iloc[keep], y_train.iloc[keep]
models = {
    "do nothing": make_model().fit(X_train, y_train),
    "newton (stream)": model,
}
report = unlearning_report(
    models,
    X_forget,
    y_forget,
    X_test,
    y_test,
    X_retain=X_retain,
    y_retain=y_retain,
    reference="retrain",
    klom=None if QUICK else 8,
)
report.T  # noqa: B018

# %% [markdown]
# ## Plots
#
# Left: time of each request. Right: the loss attack's ROC on the forgotten
# rows against held-out rows, on log axes. After unlearning, the forgotten
# rows should look like rows the model never saw.

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
ax1.bar(np.arange(1, n_requests + 1), 1e3 * np.array(timings))
ax1.set(xlabel="request", ylabel="update time (ms)", title="deletion requests")
X_eval = pd.concat([X_forget, X_test], ignore_index=True)
y_eval = np.r_[y_forget, y_test]
member = np.r_[np.ones(len(y_forget), bool), np.zeros(len(y_test), bool)]
for name, m in models.items():
    AttackRocDisplay.from_attack(
        LossAttack(), m, X_eval, y_eval, member, name=name, ax=ax2, log_scale=True
    )
ax2.set_title("loss attack on the forgotten rows")
fig.tight_layout()
plt.show()
