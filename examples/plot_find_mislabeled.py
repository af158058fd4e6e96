"""
=======================
Finding mislabeled rows
=======================

Influence functions tell which training rows hurt a model. A row whose
deletion would *lower* the loss on the data is suspicious; PUMA's Algorithm 2
(:func:`~sklearn_unlearn.inspection.find_mislabeled`) ranks rows by that
influence and drops those near the decision boundary, which are merely
noisy. Once the suspects are checked, ``relabel`` repairs the model without
retraining.

We flip 8% of the labels of the breast cancer data and see how many of them
come back.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.datasets import load_breast_cancer_original
from sklearn_unlearn.inspection import find_mislabeled, influence_scores

X, y = load_breast_cancer_original(return_X_y=True)
complete = ~np.isnan(X).any(axis=1)
X_train, y_train = X[complete], y[complete]
rng = np.random.default_rng(0)
flipped = rng.choice(len(y_train), size=int(0.08 * len(y_train)), replace=False)
y_noisy = y_train.copy()
y_noisy[flipped] = 1 - y_noisy[flipped]
is_flipped = np.zeros(len(y_train), dtype=bool)
is_flipped[flipped] = True

clf = UnlearningClassifier(LogisticRegression(C=0.1)).fit(X_train, y_noisy)
# accuracy against the true labels of the training rows
print("accuracy, noisy labels:", round(clf.score(X_train, y_train), 3))

# %%
# Score and rank the rows
# -----------------------
# ``influence_scores`` gives each row's first-order effect on the training
# log loss if it were deleted: negative means the row hurts.
psi = influence_scores(clf, X_train, y_noisy)
suspects = find_mislabeled(clf, X_train, y_noisy, k=len(flipped), rank="influence")
hits = is_flipped[suspects].sum()
print(
    f"{len(suspects)} suspects, {hits} of them flipped ({len(flipped)} flipped in all)"
)
# Without a validation set the default ranks rows by their loss instead,
# which finds more flips when the model fits them confidently wrong.
by_loss = find_mislabeled(clf, X_train, y_noisy, k=len(flipped))
print(f"by loss: {is_flipped[by_loss].sum()} of {len(by_loss)} flipped")

# %%
# Repair the confirmed rows with ``relabel``
# ------------------------------------------
# In practice someone checks the suspects; here the ground truth plays that
# part, and the model is corrected in place.
confirmed = suspects[is_flipped[suspects]]
clf.relabel(X_train[confirmed], y_noisy[confirmed], y_train[confirmed])
print("accuracy after relabel:", round(clf.score(X_train, y_train), 3))
clean = UnlearningClassifier(LogisticRegression(C=0.1)).fit(X_train, y_train)
print("accuracy, trained on clean labels:", round(clean.score(X_train, y_train), 3))

# %%
# Plot: influence of flipped and clean rows
# -----------------------------------------
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
bins = np.linspace(psi.min(), psi.max(), 40)
ax1.hist(psi[~is_flipped], bins=bins, alpha=0.6, label="clean labels")
ax1.hist(psi[is_flipped], bins=bins, alpha=0.6, label="flipped labels")
ax1.set(xlabel="influence on the training log loss", ylabel="rows", yscale="log")
ax1.legend()
order = np.argsort(psi)
ax2.plot(np.cumsum(is_flipped[order]) / len(flipped))
ax2.axvline(len(flipped), color="grey", ls="--", lw=0.8)
ax2.set(
    xlabel="rows inspected, most harmful first",
    ylabel="share of flipped rows found",
    xlim=(0, 4 * len(flipped)),
)
fig.tight_layout()
plt.show()
