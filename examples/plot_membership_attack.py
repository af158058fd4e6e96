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
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.datasets import load_german_credit
from sklearn_unlearn.metrics import LossAttack, membership_summary
from sklearn_unlearn.pipeline import make_pipeline
from sklearn_unlearn.plotting import AttackRocDisplay

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
models = {
    "trained on them": original,
    "unlearned (Newton)": unlearned,
    "retrained without them": retrained,
}
for name, model in models.items():
    scores = attack.score_samples(model, X_eval, y_eval)
    summary = membership_summary(scores, member)
    print(
        f"{name:>24}: AUC {summary['roc_auc']:.3f}, "
        f"TPR at 1% FPR {summary['tpr_at_1pct_fpr']:.3f}"
    )

# %%
# Read the numbers against the retrained model, not against 0.5: the model
# retrained without the rows is the best any unlearning can do, and its AUC is
# the noise floor of this attack on these rows. A logistic regression leaks
# little, so even the model trained on the rows is only a little above it;
# unlearning brings it down to the floor.

# %%
# Plot: ROC curves, linear and log-log
# ------------------------------------
# :class:`~sklearn_unlearn.plotting.AttackRocDisplay` draws an attack's ROC
# curve. On log-log axes the low false-positive region shows: an attack that
# is confident about a few rows stands out there even when its AUC is close
# to 0.5.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.8))
for name, model in models.items():
    AttackRocDisplay.from_attack(
        attack, model, X_eval, y_eval, member, name=name, ax=ax1
    )
    AttackRocDisplay.from_attack(
        attack, model, X_eval, y_eval, member, name=name, ax=ax2, log_scale=True
    )
ax1.set_title("ROC of the loss attack")
ax2.set_title("same, log-log")
fig.tight_layout()
plt.show()
