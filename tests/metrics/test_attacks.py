import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.metrics import (
    LiRA,
    LossAttack,
    ShadowModelAttack,
    ULiRA,
    membership_summary,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_summary_against_hand_counts():
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    member = np.array([True, False, True, True, False, False])
    s = membership_summary(scores, member, threshold=2.5)
    assert s["roc_auc"] == pytest.approx(roc_auc_score(member, scores))
    assert s["balanced_accuracy"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert s["tpr_at_1pct_fpr"] == pytest.approx(1 / 3)  # only the top row
    with pytest.raises(ValueError, match="both members and non-members"):
        membership_summary(scores, np.ones(6, dtype=bool))
    with pytest.raises(ValueError, match="length 6"):
        membership_summary(scores, member[:-1])


def test_loss_attack(overfit_data, overfit_lr):
    X, y = overfit_data
    train, fresh = slice(0, 60), slice(120, 160)
    model = overfit_lr.fit(X[train], y[train])
    attack = LossAttack().fit(model, X[fresh], y[fresh])
    member = np.arange(120) < 60
    res = attack.evaluate(model, X[:120], y[:120], member)
    assert res["roc_auc"] > 0.75 and res["balanced_accuracy"] > 0.6
    # the loss is the model's own log loss
    P = model.predict_proba(X[train])
    assert_allclose(-res["scores"][:60], -np.log(P[np.arange(60), y[train]]), atol=1e-8)
    # rows the model never saw: no signal
    never = LossAttack().evaluate(model, X[60:160], y[60:160], np.arange(100) < 50)
    assert 0.3 < never["roc_auc"] < 0.7
    conf = LossAttack("confidence").evaluate(model, X[:120], y[:120], member)
    assert conf["roc_auc"] == pytest.approx(res["roc_auc"])
    with pytest.raises(ValueError, match="statistic"):
        LossAttack("nope").score_samples(model, X, y)


def test_shadow_model_attack(overfit_data, overfit_lr):
    X, y = overfit_data
    model = overfit_lr.fit(X[:40], y[:40])
    attack = ShadowModelAttack(
        n_shadow=2,
        shadow_size=30,
        attack_estimator=LogisticRegression(),
        random_state=0,
        progress=False,
    )
    attack.fit(overfit_lr, X[40:], y[40:])
    assert set(attack.attack_models_) == {None, 0, 1}
    member = np.arange(80) < 40
    X_eval = np.concatenate([X[:40], X[120:160]])
    y_eval = np.concatenate([y[:40], y[120:160]])
    assert attack.evaluate(model, X_eval, y_eval, member)["roc_auc"] > 0.7
    unseen = LogisticRegression(C=1.0, solver="newton-cholesky").fit(
        X[80:120], y[80:120]
    )
    assert 0.3 < attack.evaluate(unseen, X_eval, y_eval, member)["roc_auc"] < 0.7
    with pytest.raises(ValueError, match="draws 200 rows"):
        ShadowModelAttack(n_shadow=5, shadow_size=100).fit(overfit_lr, X, y)


@pytest.mark.parametrize("online", [True, False])
def test_lira(overfit_data, overfit_lr, online):
    X, y = overfit_data
    attack = LiRA(n_shadow=8, online=online, random_state=0, progress=False)
    attack.fit(overfit_lr, X, y)
    assert (attack.keep_.sum(axis=0) == 4).all()
    target = LogisticRegression(C=1.0, solver="newton-cholesky").fit(X[:80], y[:80])
    member = np.arange(160) < 80
    assert attack.evaluate(target, X, y, member)["roc_auc"] > 0.75
    other = LogisticRegression(C=1.0, solver="newton-cholesky").fit(
        X[80:120], y[80:120]
    )
    never = attack.evaluate(other, X[:80], y[:80], np.arange(80) < 40)
    assert 0.25 < never["roc_auc"] < 0.75


def test_lira_rows_outside_pool(overfit_data, overfit_lr):
    X, y = overfit_data
    attack = LiRA(n_shadow=4, random_state=0, progress=False).fit(
        overfit_lr, X[:100], y[:100]
    )
    target = overfit_lr.fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="not in the pool"):
        attack.score_samples(target, X[100:], y[100:])
    offline = attack.set_params(online=False)
    assert offline.score_samples(target, X[100:], y[100:]).shape == (60,)
    with pytest.raises(ValueError, match="n_shadow"):
        LiRA(n_shadow=3).fit(overfit_lr, X, y)


def test_ulira_separates_doing_nothing_from_retraining(overfit_data):
    X, y = overfit_data
    base = LogisticRegression(C=1.0, solver="newton-cholesky")
    forget = np.zeros(160, dtype=bool)
    forget[:20] = True
    held = np.zeros(160, dtype=bool)
    held[140:] = True
    targets = forget | held
    train = ~held
    aucs = {}
    for name, est in {
        "nothing": base,
        "retrain": UnlearningClassifier(base, method="retrain"),
    }.items():
        attack = ULiRA(n_shadow=4, random_state=0, progress=False)
        attack.fit(est, X, y, targets)
        model = clone(est)
        if name == "nothing":
            model.fit(X[train], y[train])
        else:
            model.fit(X[train], y[train], forget=forget[train])
        member = forget[targets]
        aucs[name] = attack.evaluate(model, X[targets], y[targets], member)["roc_auc"]
    assert aucs["nothing"] > 0.75
    assert 0.25 < aucs["retrain"] < 0.75
    with pytest.raises(ValueError, match="not among the targets"):
        attack.score_samples(model, X[50:60], y[50:60])


def test_shadow_model_attack_default_is_per_class_mlp(overfit_data, overfit_lr):
    X, y = overfit_data
    attack = ShadowModelAttack(n_shadow=2, random_state=0, progress=False)
    with threadpool_limits(1):  # small products: one BLAS thread is the fastest
        attack.fit(overfit_lr, X[:60], y[:60])  # 2 shadows on 30 of the 60 rows
    mlp = attack.attack_models_[None][-1]
    assert mlp.hidden_layer_sizes == (128, 64)
    assert attack.score_samples(overfit_lr.fit(X, y), X[:5], y[:5]).shape == (5,)


def test_shadows_halve_the_pool_independently(overfit_data, overfit_lr):
    """Shokri et al.: each shadow trains on a random half of the attacker's pool."""
    X, y = overfit_data
    attack = ShadowModelAttack(
        n_shadow=4,
        attack_estimator=LogisticRegression(),
        loss_fallback=False,
        random_state=0,
        progress=False,
    ).fit(overfit_lr, X, y)
    assert len(attack.shadow_splits_) == 4
    for inn, out in attack.shadow_splits_:
        assert len(inn) == len(out) == 80
        assert_array_equal(np.sort(np.concatenate([inn, out])), np.arange(160))
        assert abs(y[inn].mean() - y.mean()) < 0.02  # stratified by class
    ins = [set(inn) for inn, _ in attack.shadow_splits_]
    assert all(a != b for i, a in enumerate(ins) for b in ins[i + 1 :])
    assert attack.scoring_ == "attack_model" and attack.validation_auc_ is None
    sized = ShadowModelAttack(
        n_shadow=2, shadow_size=0.25, attack_estimator=LogisticRegression()
    ).set_params(random_state=0, progress=False)
    inn, out = sized.fit(overfit_lr, X, y).shadow_splits_[0]
    assert len(inn) == len(out) == 40 and not set(inn) & set(out)


def test_shadow_attack_falls_back_to_the_loss(overfit_data, overfit_lr):
    """An attack model that learns nothing loses to the loss on held-out shadows."""
    X, y = overfit_data
    attack = ShadowModelAttack(
        n_shadow=2,
        attack_estimator=DummyClassifier(strategy="prior"),
        random_state=0,
        progress=False,
    ).fit(overfit_lr, X[60:], y[60:])
    assert attack.scoring_ == "loss"
    assert attack.validation_auc_["loss"] > attack.validation_auc_["attack_model"]
    target = clone(overfit_lr).fit(X[:30], y[:30])
    assert_allclose(
        attack.score_samples(target, X[:60], y[:60]),
        LossAttack().score_samples(target, X[:60], y[:60]),
    )
    member = np.arange(60) < 30
    predicted = attack.predict(target, X[:60], y[:60])
    assert predicted[member].mean() > predicted[~member].mean()


def test_shadow_attack_at_least_as_strong_as_the_loss_on_an_overfit_mlp():
    """Same target, same rows: the shadow attack's AUC is not below the loss's."""
    X, y = make_classification(
        n_samples=500, n_features=20, n_informative=5, flip_y=0.2, random_state=1
    )
    recipe = MLPClassifier((64, 32), alpha=0.0, max_iter=300, random_state=0)
    target = clone(recipe).fit(X[:100], y[:100])  # members: rows 0-99
    assert target.score(X[:100], y[:100]) == 1.0
    X_eval, y_eval, member = X[:200], y[:200], np.arange(200) < 100
    with threadpool_limits(1):
        attack = ShadowModelAttack(n_shadow=3, random_state=0, progress=False)
        attack.fit(recipe, X[200:], y[200:])  # the attacker's pool: 300 rows
        shadow = attack.evaluate(target, X_eval, y_eval, member)["roc_auc"]
    loss = LossAttack().evaluate(target, X_eval, y_eval, member)["roc_auc"]
    assert loss > 0.6  # the target leaks through its loss
    assert shadow >= loss - 0.02


def test_shadow_attack_features_keep_whether_the_prediction_was_right():
    """Two rows with the same sorted probabilities, one right and one wrong."""
    from sklearn_unlearn.metrics._shadow_attack import _attack_features

    class Fixed:
        classes_ = np.array([0, 1])

        def predict_proba(self, X):
            return np.array([[0.9, 0.1], [0.1, 0.9]])[: len(X)]

    F = _attack_features(Fixed(), np.zeros((2, 1)), np.array([0, 0]), None)
    assert_allclose(F[:, :2], [[0.9, 0.1], [0.1, 0.9]])
    assert_allclose(F[:, 2], [0.9, 0.1])  # the true class's probability
    assert_allclose(F[:, 3], -np.log([0.9, 0.1]))  # the loss
    assert_allclose(F[:, 4], np.log([0.9 / 0.1, 0.1 / 0.9]))  # the margin
    # a label the model never predicts: probability 0, the clipped margin
    G = _attack_features(Fixed(), np.zeros((1, 1)), np.array([7]), None)
    assert G[0, 2] == 0.0 and G[0, 4] == -100.0
