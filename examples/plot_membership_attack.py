"""
=====================================
A membership attack, before and after
=====================================

Did the model really forget? A membership-inference attack tries to tell the
rows a model was trained on from rows it never saw. After unlearning, the
forgotten rows should look like rows the model never saw: the attack's ROC
curve on them should fall onto the diagonal, as it does for a model
retrained without them.

We attack a deliberately weakly regularised logistic regression on German
credit with the loss attack (:class:`~sklearn_unlearn.metrics.LossAttack`:
"a low loss means member"), and read the result both as ROC AUC and as the
true-positive rate at a low false-positive rate, the figure that matters for
privacy.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.datasets import load_german_credit
from sklearn_unlearn.metrics import LossAttack, membership_summary
from sklearn_unlearn.pipeline import make_pipeline

data = load_german_credit(as_frame=True)
X, y = data.data, data.target.to_numpy()
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=300, random_state=0, stratify=y
)
X_train, X_test = X_train.reset_index(drop=True), X_test.reset_index(drop=True)
forget = np.zeros(len(y_train), dtype=bool)
forget[np.random.default_rng(0).choice(len(y_train), 100, replace=False)] = True


def make_model(method="newton"):
    return make_pipeline(
        make_column_transformer(
            (StandardScaler(), data.numerical_features),
            (OneHotEncoder(handle_unknown="ignore"), data.categorical_features),
        ),
        UnlearningClassifier(LogisticRegression(C=100.0), method=method),
    )


original = make_model().fit(X_train, y_train)
unlearned = make_model().fit(X_train, y_train).unlearn(X_train[forget], y_train[forget])
retrained = make_model().fit(X_train[~forget], y_train[~forget])

# %%
# Attack each model
# -----------------
# Members: the 100 forgotten rows. Non-members: the 700 held-out rows.
# The attack's threshold is calibrated on held-out rows.
X_eval = pd.concat([X_train[forget], X_test], ignore_index=True)
y_eval = np.r_[y_train[forget], y_test]
member = np.r_[np.ones(forget.sum(), bool), np.zeros(len(y_test), bool)]

attack = LossAttack()
curves = {}
for name, model in [
    ("trained on them", original),
    ("unlearned (Newton)", unlearned),
    ("retrained without them", retrained),
]:
    scores = attack.score_samples(model, X_eval, y_eval)
    summary = membership_summary(scores, member)
    curves[name] = roc_curve(member, scores)
    print(
        f"{name:>24}: AUC {summary['roc_auc']:.3f}, "
        f"TPR at 1% FPR {summary['tpr_at_1pct_fpr']:.3f}"
    )

# %%
# Plot: ROC curves on a log scale
# -------------------------------
# A log scale on the false-positive rate shows the low-FPR region, where an
# attack that is confident about a few rows stands out even when its AUC is
# close to 0.5.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.8))
for name, (fpr, tpr, _) in curves.items():
    ax1.plot(fpr, tpr, label=name)
    ax2.loglog(np.maximum(fpr, 1e-3), np.maximum(tpr, 1e-3), label=name)
for ax in (ax1, ax2):
    ax.plot([1e-3, 1], [1e-3, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate")
ax1.set_title("ROC of the loss attack")
ax2.set_title("same, log-log")
ax1.legend(fontsize=8)
fig.tight_layout()
plt.show()
