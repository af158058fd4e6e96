"""
======================================
A stream of deletion requests, audited
======================================

Deletion requests arrive one after another. Each is applied as it comes, the
model stays usable in between, and every request leaves a record in the
ledger that can be exported for an audit.

We use the bundled Wisconsin breast cancer data (699 rows, 9 numeric
features), standardised in front of the unlearning estimator (the scaler is
downdated with every request too). After every request we refit from scratch,
only to show how close the updated model stays to retraining; in production
you would not.
"""

# %%
import json
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.datasets import load_breast_cancer_original
from sklearn_unlearn.pipeline import make_pipeline

QUICK = os.environ.get("SKLEARN_UNLEARN_QUICK") == "1"
n_requests, rows_per_request = (8, 5) if QUICK else (30, 5)

X, y = load_breast_cancer_original(return_X_y=True)
complete = ~np.isnan(X).any(axis=1)  # 16 rows miss "bare_nuclei"
X, y = X[complete], y[complete]


def make_model():
    return make_pipeline(StandardScaler(), UnlearningClassifier(LogisticRegression()))


clf = make_model().fit(X, y)
untouched = make_model().fit(X, y)

# %%
# Apply the requests one by one
# -----------------------------
rng = np.random.default_rng(0)
order = rng.permutation(len(X))[: n_requests * rows_per_request]
remaining = np.ones(len(X), dtype=bool)


def theta(model):
    est = model[-1].estimator_
    return np.r_[est.coef_.ravel(), est.intercept_]


dist_unlearned, dist_nothing = [], []
for request in np.array_split(order, n_requests):
    clf.unlearn(X[request], y[request])
    remaining[request] = False
    ref = theta(make_model().fit(X[remaining], y[remaining]))
    dist_unlearned.append(np.linalg.norm(theta(clf) - ref) / np.linalg.norm(ref))
    dist_nothing.append(np.linalg.norm(theta(untouched) - ref) / np.linalg.norm(ref))

print(f"after {n_requests} requests: distance to retraining {dist_unlearned[-1]:.1e}")
print(f"doing nothing would be at {dist_nothing[-1]:.1e}")

# %%
# Requests that cannot be honoured change nothing
# -----------------------------------------------
# A row already forgotten (or never trained on) is refused with an error that
# names it, and the model is left exactly as it was.
before = theta(clf).copy()
try:
    clf.unlearn(X[order[:1]], y[order[:1]])
except ValueError as err:
    print("refused:", str(err).splitlines()[0][:100])
assert np.array_equal(theta(clf), before)

# %%
# The ledger and its export
# -------------------------
# ``to_frame`` gives one row per fit or update (fingerprints counted);
# ``to_json`` the full record, with the hex fingerprints of every removed row.
ledger = clf[-1].ledger_  # the unlearning estimator keeps the ledger
frame = ledger.to_frame()
print(
    frame[
        ["operation", "n_removed", "n_remaining", "duration_s", "param_error_bound"]
    ].tail()
)
audit = json.loads(ledger.to_json())
print(len(audit), "entries; first removed fingerprint:", audit[1]["removed"][0])
# frame.to_csv("ledger.csv") or open("ledger.json", "w").write(ledger.to_json())

# %%
# Plot: distance to retraining along the stream
# ---------------------------------------------
# The ledger's bound is certified but loose: it is an upper bound on the
# parameter distance, here in absolute terms, and it grows with every step.
k = np.arange(1, n_requests + 1)
norm_ref = np.linalg.norm(theta(make_model().fit(X[remaining], y[remaining])))
bound = frame["param_error_bound"].to_numpy()[1:] / norm_ref
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(k, dist_nothing, "o-", label="do nothing")
ax.semilogy(k, dist_unlearned, "s-", label="unlearned (Newton)")
ax.semilogy(k, bound, "--", color="grey", label="ledger bound (relative)")
ax.set(xlabel="deletion request", ylabel="relative distance to retraining")
ax.legend()
fig.tight_layout()
plt.show()
