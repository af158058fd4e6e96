"""
==========================
Unlearning in a skorch MLP
==========================

The same estimator wraps a neural net trained with `skorch
<https://skorch.readthedocs.io>`_. A net's loss is not convex, so no method
is exact short of retraining; second-order steps still move the net most of
the way toward the retrained one, at a fraction of the cost.

We train a small multi-layer perceptron on the breast cancer data, forget 30
rows with several methods and compare each result with ``Retrain``, which
retrains from the same initial weights and batch order (the seed of the first
fit is recorded), so the reference is reproducible.
"""

# %%
import copy
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier
from torch import nn

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.datasets import load_breast_cancer_original
from sklearn_unlearn.methods import SSSE, Newton, Retrain
from sklearn_unlearn.metrics import retrain_distance

QUICK = os.environ.get("SKLEARN_UNLEARN_QUICK") == "1"
torch.set_num_threads(1)

X, y = load_breast_cancer_original(return_X_y=True)
complete = ~np.isnan(X).any(axis=1)
X = StandardScaler().fit_transform(X[complete]).astype(np.float32)
y = y[complete].astype(np.int64)
forget = np.zeros(len(y), dtype=bool)
forget[np.random.default_rng(0).choice(len(y), 30, replace=False)] = True


def make_net():
    module = nn.Sequential(nn.Linear(9, 16), nn.Tanh(), nn.Linear(16, 2))
    return NeuralNetClassifier(
        module,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        max_epochs=50 if QUICK else 100,
        lr=0.05,
        batch_size=-1,  # full batch: the net ends near a minimum
        optimizer__weight_decay=1e-2,
        train_split=None,  # train on every row: the rows to forget are known
        verbose=0,
    )


# %%
# Fit once per method, then forget
# --------------------------------
# ``Newton`` keeps a dense damped Gauss-Newton matrix of the net's 194
# parameters and its Cholesky factor, downdated by each request. Its damping
# is read at fit from the training run (Adam's learning rate, steps and
# second-moment estimates), and the fit's ledger entry says which it took.
methods = {
    "Retrain": Retrain(),
    "Newton (Gauss-Newton, Cholesky)": Newton(),
    "SSSE": SSSE(),
}
models, seconds = {}, {}
for name, method in methods.items():
    torch.manual_seed(0)  # the same initial weights for every method
    clf = UnlearningClassifier(make_net(), method=method).fit(X, y)
    if name == "Newton (Gauss-Newton, Cholesky)":  # keep a copy that forgets nothing
        models["do nothing"], seconds["do nothing"] = copy.deepcopy(clf), 0.0
        print("Newton at fit:", "; ".join(clf.ledger_[0].notes))
    retain = {"X_retain": X[~forget], "y_retain": y[~forget]}
    t0 = time.perf_counter()
    clf.unlearn(X[forget], y[forget], **(retain if name == "Retrain" else {}))
    seconds[name] = time.perf_counter() - t0
    models[name] = clf

# %%
# How far is each net from the retrained one?
# -------------------------------------------
# ``retrain_distance`` reports the relative parameter distance and the mean
# KL divergence of the predicted probabilities on the forgotten rows.
reference = models["Retrain"]
dist = {
    name: retrain_distance(m, reference, X[forget])
    for name, m in models.items()
    if name != "Retrain"
}
for name, d in dist.items():
    print(
        f"{name:>32}: param distance {d['param_distance']:.2e}, "
        f"mean KL on forgotten rows {d['mean_kl']:.2e}, {1e3 * seconds[name]:.0f} ms"
    )
print(f"{'Retrain':>32}: {1e3 * seconds['Retrain']:.0f} ms")

# %%
# Plot
# ----
fig, ax = plt.subplots(figsize=(6, 3.5))
names = list(dist)
ax.barh(names, [dist[n]["param_distance"] for n in names])
ax.set(xscale="log", xlabel="relative parameter distance to Retrain")
fig.tight_layout()
plt.show()
