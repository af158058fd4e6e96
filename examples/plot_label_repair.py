"""
=============================
Repairing labels: ``relabel``
=============================

Some training labels turn out to be wrong. ``relabel(X, y_old, y_new)``
changes the fitted model as if it had been trained with the right labels,
without retraining. Under the hood it is one request that removes ``(X,
y_old)`` and adds ``(X, y_new)`` with the same weights.

One Newton step is accurate when the change is small; for large corrections
``Newton(refine=1)`` takes one more exact Newton step on the rows that remain,
which needs them (``X_retain``, ``y_retain``).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.datasets import load_breast_cancer_original
from sklearn_unlearn.methods import Newton
from sklearn_unlearn.pipeline import make_pipeline

X, y = load_breast_cancer_original(return_X_y=True)
complete = ~np.isnan(X).any(axis=1)
X_train, X_test, y_train, y_test = train_test_split(
    X[complete], y[complete], test_size=0.3, random_state=0, stratify=y[complete]
)


def make_model(method="newton"):
    clf = UnlearningClassifier(LogisticRegression(C=0.05), method=method)
    return make_pipeline(StandardScaler(), clf)


def theta(model):
    est = model[-1].estimator_
    return np.r_[est.coef_.ravel(), est.intercept_]


clean = make_model().fit(X_train, y_train)

# %%
# Corrupt labels, then repair them
# --------------------------------
# We flip a growing share of the training labels, fit on the corrupted
# labels, and relabel the flipped rows back.
rng = np.random.default_rng(0)
shares = [0.02, 0.05, 0.10, 0.20]
results = {"do nothing": [], "Newton()": [], "Newton(refine=1)": []}
for share in shares:
    flipped = rng.choice(len(y_train), size=int(share * len(y_train)), replace=False)
    y_noisy = y_train.copy()
    y_noisy[flipped] = 1 - y_noisy[flipped]
    ref = theta(clean)
    for name, method in [
        ("do nothing", None),
        ("Newton()", Newton()),
        ("Newton(refine=1)", Newton(refine=1)),
    ]:
        model = make_model(method or "newton").fit(X_train, y_noisy)
        if name == "Newton()":
            model.relabel(X_train[flipped], y_noisy[flipped], y_train[flipped])
        elif name == "Newton(refine=1)":  # refine needs the rows after the fix
            model.relabel(
                X_train[flipped],
                y_noisy[flipped],
                y_train[flipped],
                X_retain=X_train,
                y_retain=y_train,
            )
        dist = np.linalg.norm(theta(model) - ref) / np.linalg.norm(ref)
        results[name].append(dist)
    print(
        f"{share:4.0%} flipped: "
        + ", ".join(f"{k} {v[-1]:.1e}" for k, v in results.items())
    )

print("test accuracy, clean fit:", round(clean.score(X_test, y_test), 3))
entry = model[-1].ledger_[-1]
print("ledger:", entry.operation, entry.n_removed, "rows")

# %%
# Plot: distance to the model trained on clean labels
# ---------------------------------------------------
fig, ax = plt.subplots(figsize=(6, 3.5))
for (name, dist), marker in zip(results.items(), "o^s", strict=True):
    ax.semilogy([100 * s for s in shares], dist, marker=marker, label=name)
ax.set(
    xlabel="training labels flipped (%)",
    ylabel="relative distance to clean fit",
    title="relabel: one Newton step, or one more with the retained rows",
)
ax.legend()
plt.show()
