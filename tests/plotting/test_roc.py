import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve

from sklearn_unlearn.metrics import LossAttack
from sklearn_unlearn.plotting import AttackRocDisplay


def test_from_scores_plots_sklearn_curve():
    rng = np.random.default_rng(0)
    member = rng.random(50) < 0.4
    scores = rng.normal(size=50) + member
    disp = AttackRocDisplay.from_scores(scores, member, name="loss")
    fpr, tpr, _ = roc_curve(member, scores)
    assert_allclose(disp.line_.get_xdata(), fpr)
    assert_allclose(disp.line_.get_ydata(), tpr)
    assert disp.roc_auc == pytest.approx(roc_auc_score(member, scores))
    assert "False positive rate" in disp.ax_.get_xlabel()
    assert "True positive rate" in disp.ax_.get_ylabel()
    assert disp.line_.get_label() == f"loss (AUC = {disp.roc_auc:.3f})"
    assert disp.figure_ is disp.ax_.figure


def test_from_attack_on_shared_axes_and_log_scale():
    import matplotlib.pyplot as plt

    X, y = make_classification(n_samples=120, random_state=0)
    model = LogisticRegression().fit(X[:60], y[:60])
    member = np.arange(120) < 60
    _, ax = plt.subplots()
    a = AttackRocDisplay.from_attack(LossAttack(), model, X, y, member, ax=ax)
    b = AttackRocDisplay.from_scores(
        -LossAttack().score_samples(model, X, y),
        member,
        name="flipped",
        ax=ax,
        log_scale=True,
    )
    assert a.ax_ is b.ax_ is ax
    assert ax.get_xscale() == "log"
    scores = LossAttack().score_samples(model, X, y)
    assert a.roc_auc == pytest.approx(roc_auc_score(member, scores))
    assert a.line_.get_label().startswith("LossAttack")


def test_bad_member_mask():
    with pytest.raises(ValueError, match="both members and non-members"):
        AttackRocDisplay.from_scores([0.1, 0.2], np.array([True, True]))


def test_one_chance_line_per_axes_outside_the_limits():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    member = rng.random(200) < 0.5
    scores = rng.normal(size=200) + member
    _, ax = plt.subplots()
    for name in ("a", "b"):
        AttackRocDisplay.from_scores(scores, member, name=name, ax=ax, log_scale=True)
    assert [line.get_gid() for line in ax.lines].count("chance") == 1
    ax.figure.canvas.draw()
    fpr = roc_curve(member, scores)[0]
    assert ax.get_xlim()[0] > fpr[fpr > 0].min() / 10  # not stretched to 1e-4
