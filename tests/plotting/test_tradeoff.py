import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn import config_context
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.methods import SSSE
from sklearn_unlearn.metrics import LossAttack, make_membership_scorer
from sklearn_unlearn.model_selection import ForgetSplit
from sklearn_unlearn.plotting import TradeoffDisplay
from sklearn_unlearn.plotting._tradeoff import _pareto

RESULTS = {
    "mean_test_acc": [0.80, 0.90, 0.70, 0.85],
    "std_test_acc": [0.01, 0.02, 0.01, 0.0],
    "mean_test_mia": [0.90, 0.70, 0.80, 0.60],
    "params": [{"method__eta": v} for v in (0.1, 1.0, 10.0, 100.0)],
}


def test_from_cv_results_plots_the_means():
    disp = TradeoffDisplay.from_cv_results(
        RESULTS, utility="acc", forgetting="mia", best_index=1
    )
    line = disp.errorbar_.lines[0]
    assert_allclose(line.get_xdata(), RESULTS["mean_test_mia"])
    assert_allclose(line.get_ydata(), RESULTS["mean_test_acc"])
    assert disp.pareto_.tolist() == [True, True, False, False]
    assert disp.labels == ["eta=0.1", "eta=1", "eta=10", "eta=100"]
    assert disp.ax_.get_xlabel().startswith("mia")
    assert disp.ax_.get_ylabel().startswith("acc")
    assert len(disp.ax_.texts) == 4


def test_pareto_against_brute_force():
    rng = np.random.default_rng(0)
    x, y = rng.random(30), rng.random(30)
    expected = [
        not any(
            x[j] >= x[i] and y[j] >= y[i] and (x[j], y[j]) != (x[i], y[i])
            for j in range(30)
        )
        for i in range(30)
    ]
    assert _pareto(x, y).tolist() == expected


def test_missing_scorer():
    with pytest.raises(ValueError, match="its scorers are"):
        TradeoffDisplay.from_cv_results(RESULTS, utility="acc", forgetting="klom")


def test_from_search():
    X, y = make_classification(n_samples=80, n_features=4, random_state=0)
    forget = np.arange(80) < 4
    with config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            UnlearningClassifier(LogisticRegression(), method=SSSE()),
            {"method__epsilon": [0.1, 1.0]},
            cv=ForgetSplit(2, random_state=0),
            scoring={
                "accuracy": "accuracy",
                "mia": make_membership_scorer(LossAttack()),
            },
            refit="accuracy",
        ).fit(X, y, forget=forget)
    disp = TradeoffDisplay.from_search(search, forgetting="mia", name="SSSE")
    assert disp.best_index == search.best_index_
    assert_allclose(
        disp.errorbar_.lines[0].get_ydata(), search.cv_results_["mean_test_accuracy"]
    )
    assert disp.ax_.get_legend() is not None
