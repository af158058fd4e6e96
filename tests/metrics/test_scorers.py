import numpy as np
import pytest
from sklearn import config_context
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_validate

from sklearn_unlearn import UnlearningClassifier, methods
from sklearn_unlearn.metrics import (
    LiRA,
    LossAttack,
    ULiRA,
    make_klom_scorer,
    make_membership_scorer,
    make_retrain_distance_scorer,
    make_utility_scorer,
)
from sklearn_unlearn.model_selection import ForgetSplit, sample_forget_mask


@pytest.fixture
def routing():
    with config_context(enable_metadata_routing=True):
        yield


@pytest.fixture
def data():
    X, y = make_classification(
        n_samples=100, n_features=5, n_informative=3, random_state=0
    )
    return X, y, sample_forget_mask(y, 0.05, "cluster", random_state=0, X=X)


def _methods():
    out = [
        ("newton", methods.Newton(), {"method__damping": [0.0, 1e-3]}),
        ("ssse", methods.SSSE(), {"method__epsilon": [0.1, 1.0]}),
    ]
    if hasattr(methods, "PUMA"):
        out.append(("puma", methods.PUMA(), {"method__eta": [1e-3, 1e-1]}))
    return out


CASES = [(*m, "grid") for m in _methods()] + [(*_methods()[1], "randomized")]


@pytest.mark.parametrize(
    ("name", "method", "grid", "search"), CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES]
)
def test_issue_snippet_runs(routing, data, name, method, grid, search):
    X, y, forget = data
    clf = UnlearningClassifier(LogisticRegression(), method=method)
    klom = make_klom_scorer(n_models=4)
    scoring = {
        "accuracy": "accuracy",
        "mia": make_membership_scorer(LossAttack()),
        "klom": klom,
    }
    cv = ForgetSplit(3, forget_size=0.05, random_state=0)
    if search == "grid":
        s = GridSearchCV(clf, grid, cv=cv, scoring=scoring, refit="accuracy")
    else:
        s = RandomizedSearchCV(
            clf,
            grid,
            n_iter=2,
            cv=cv,
            scoring=scoring,
            refit="accuracy",
            random_state=0,
        )
    s.fit(X, y, forget=forget)
    for key in ("mean_test_accuracy", "mean_test_mia", "mean_test_klom"):
        assert np.all(np.isfinite(s.cv_results_[key]))
    assert np.all(s.cv_results_["mean_test_klom"] <= 0)
    # oracles: once per split, shared by the candidates
    assert klom.n_cache_misses_ == 3
    assert klom.n_cache_hits_ == 3 * (len(s.cv_results_["params"]) - 1)


def test_retrain_is_perfect_and_doing_nothing_is_not(routing, data):
    X, y, forget = data
    scoring = {
        "klom": make_klom_scorer(n_models=4),
        "dist": make_retrain_distance_scorer("param_distance"),
        "util": make_utility_scorer(),
    }
    cv = ForgetSplit(2, random_state=0)
    retrain = cross_validate(
        UnlearningClassifier(LogisticRegression(), method="retrain"),
        X,
        y,
        cv=cv,
        scoring=scoring,
        params={"forget": forget},
    )
    nothing = cross_validate(
        LogisticRegression(), X, y, cv=cv, scoring=scoring, params={"forget": forget}
    )
    assert np.allclose(retrain["test_klom"], 0.0, atol=1e-9)
    assert np.allclose(retrain["test_dist"], 0.0, atol=1e-6)
    assert np.all(nothing["test_klom"] < retrain["test_klom"])
    assert np.all(nothing["test_dist"] < -1e-3)
    assert np.all(retrain["test_util"] > 0.5)


def test_shadow_scorers_in_search(routing, data):
    X, y, forget = data
    clf = UnlearningClassifier(LogisticRegression(), method=methods.Newton())
    lira = make_membership_scorer(LiRA(n_shadow=4, progress=False))
    ulira = make_membership_scorer(ULiRA(n_shadow=4, progress=False), "tpr_at_1pct_fpr")
    s = GridSearchCV(
        clf,
        {"method__damping": [0.0, 1e-2]},
        cv=ForgetSplit(2, random_state=0),
        scoring={"lira": lira, "ulira": ulira},
        refit=False,
    ).fit(X, y, forget=forget)
    assert np.all(s.cv_results_["mean_test_lira"] >= 0)
    assert lira.n_cache_misses_ == 2 and lira.n_cache_hits_ == 2
    assert ulira.n_cache_misses_ == 2  # U-LiRA's oracles, once per split


def test_routing_off_is_a_clear_error(data):
    X, y, forget = data
    scorer = make_membership_scorer(LossAttack())
    clf = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="enable_metadata_routing=True"):
        scorer(clf, X, y)
    with pytest.raises(ValueError, match="enable_metadata_routing=True"):
        GridSearchCV(
            UnlearningClassifier(LogisticRegression()),
            {"method": ["newton"]},
            cv=ForgetSplit(2),
            scoring=make_klom_scorer(n_models=2),
        ).fit(X, y)


def test_bad_masks(routing, data):
    X, y, forget = data
    clf = LogisticRegression().fit(X, y)
    scorer = make_utility_scorer()
    with pytest.raises(ValueError, match="length 100"):
        scorer(clf, X, y, forget=forget[:-1])
    with pytest.raises(ValueError, match="no forgotten rows"):
        scorer(clf, X, y, forget=np.zeros(100, dtype=bool))
    with pytest.raises(ValueError, match="could not find it"):
        make_klom_scorer(n_models=2)(clf, X[:20], y[:20], forget=np.arange(20) < 3)
    with pytest.raises(ValueError, match="metric"):
        make_membership_scorer(LossAttack(), metric="f1")
    with pytest.raises(TypeError, match="MembershipAttack"):
        make_membership_scorer(LogisticRegression())


def test_membership_scorer_against_the_retrained_model(routing, data):
    """target="retrain": Retrain scores 0; the score is -|AUC - AUC_retrained|."""
    X, y, forget = data
    attack = LossAttack()
    scorer = make_membership_scorer(attack, target="retrain")
    cv = ForgetSplit(2, random_state=0)
    retrain = cross_validate(
        UnlearningClassifier(LogisticRegression(), method="retrain"),
        X,
        y,
        cv=cv,
        scoring={"mia": scorer},
        params={"forget": forget},
    )
    assert np.allclose(retrain["test_mia"], 0.0, atol=1e-9)
    assert scorer.n_cache_misses_ == 2  # one reference per split
    # independently: the figure on a plain model minus the retrained model's
    nothing = cross_validate(
        LogisticRegression(),
        X,
        y,
        cv=cv,
        scoring={"mia": scorer},
        params={"forget": forget},
        return_estimator=True,
        return_indices=True,
    )
    for k, (train, test) in enumerate(
        zip(nothing["indices"]["train"], nothing["indices"]["test"], strict=True)
    ):
        keep = train[~forget[train]]
        ref = LogisticRegression().fit(X[keep], y[keep])
        model = nothing["estimator"][k]
        m = attack.evaluate(model, X[test], y[test], forget[test])["roc_auc"]
        r = attack.evaluate(ref, X[test], y[test], forget[test])["roc_auc"]
        assert nothing["test_mia"][k] == pytest.approx(-abs(m - r), abs=1e-12)
    with pytest.raises(ValueError, match="target must be"):
        make_membership_scorer(attack, target="oracle")
