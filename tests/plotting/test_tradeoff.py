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
    assert disp.ax_.get_xlabel().startswith("mia (forgetting score")
    assert disp.ax_.get_ylabel().startswith("acc (utility score")
    assert len(disp.ax_.texts) == 4 and len(disp.annotations_) == 4
    assert disp.ax_.get_xscale() == disp.ax_.get_yscale() == "linear"
    legend = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    assert legend == ["candidates", "Pareto front", "refit candidate"]


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


def _many_candidates(n=13):
    rng = np.random.default_rng(0)
    return {
        "mean_test_distance": -np.logspace(-8, -4, n)[::-1] * (1 + 0.2 * rng.random(n)),
        "mean_test_accuracy": 0.95 - 0.02 * np.linspace(0, 1, n) ** 2,
        "params": [
            {"method": LogisticRegression(C=0.1), "method__eta": e, "method__tol": 1e-4}
            for e in np.logspace(-3, 1, n)
        ],
    }


def test_auto_scales():
    import matplotlib.pyplot as plt

    # negated losses spanning decades: symmetric log, every value outside the
    # linear region
    disp = TradeoffDisplay.from_cv_results(
        _many_candidates(), utility="accuracy", forgetting="distance"
    )
    assert disp.ax_.get_xscale() == "symlog"
    linthresh = disp.ax_.xaxis.get_transform().linthresh
    assert linthresh <= np.abs(disp.forgetting).min()
    assert disp.ax_.get_yscale() == "linear"
    # positive values spanning decades: log; narrow: linear
    res = {
        "mean_test_a": [1e-8, 1e-6, 1e-4],
        "mean_test_b": [0.5, 0.6, 0.7],
        "params": [{"eta": v} for v in (1, 2, 3)],
    }
    disp = TradeoffDisplay.from_cv_results(res, utility="b", forgetting="a")
    assert (disp.ax_.get_xscale(), disp.ax_.get_yscale()) == ("log", "linear")
    # explicit scales win; a second display does not undo the first's log axis
    _, ax = plt.subplots()
    TradeoffDisplay.from_cv_results(res, utility="b", forgetting="a", ax=ax)
    TradeoffDisplay.from_cv_results(RESULTS, utility="acc", forgetting="mia", ax=ax)
    assert ax.get_xscale() == "log"
    disp = TradeoffDisplay.from_cv_results(
        res, utility="b", forgetting="a", xscale="linear", yscale="symlog"
    )
    assert (disp.ax_.get_xscale(), disp.ax_.get_yscale()) == ("linear", "symlog")
    with pytest.raises(ValueError, match="axis scale"):
        TradeoffDisplay.from_cv_results(res, utility="b", forgetting="a", xscale="ln")


def test_short_labels():
    """Only what varies, estimators by class name, numbers compactly."""
    from sklearn_unlearn.methods import PUMA

    params = [
        {"method": PUMA(random_state=0), "method__eta": 1e-6, "clf__C": 1.0},
        {"method": PUMA(random_state=0), "method__eta": 0.5, "clf__C": 1.0},
        {"method": SSSE(), "method__epsilon": 2.0, "clf__C": 1.0},
    ]
    res = {"mean_test_a": [0.1, 0.2, 0.3], "mean_test_b": [0.3, 0.2, 0.1]}
    disp = TradeoffDisplay.from_cv_results(
        {**res, "params": params}, utility="b", forgetting="a"
    )
    assert disp.labels == ["PUMA, eta=1e-06", "PUMA, eta=0.5", "SSSE, epsilon=2"]
    assert {t.get_text() for t in disp.annotations_} == set(disp.labels)


def _label_boxes(disp):
    renderer = disp.figure_.canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in disp.annotations_]


def test_labels_do_not_overlap():
    disp = TradeoffDisplay.from_cv_results(
        _many_candidates(), utility="accuracy", forgetting="distance", best_index=6
    )
    disp.figure_.canvas.draw()
    boxes = _label_boxes(disp)
    assert len(boxes) >= 10  # most of the 13 candidates are labelled
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    texts = [t.get_text() for t in disp.annotations_]
    assert all(len(t) <= 11 for t in texts), texts  # "eta=0.00215", no repr
    assert "eta=0.1" in texts  # the refit candidate is always labelled


def test_annotate_options_and_failed_candidates():
    res = dict(RESULTS, mean_test_mia=[0.90, 0.70, np.nan, 0.60])
    disp = TradeoffDisplay.from_cv_results(
        res, utility="acc", forgetting="mia", annotate="pareto", best_index=3
    )
    assert disp.pareto_.tolist() == [True, True, False, False]
    assert sorted(t.get_text() for t in disp.annotations_) == [
        "eta=0.1",
        "eta=1",
        "eta=100",
    ]
    disp = TradeoffDisplay.from_cv_results(
        res, utility="acc", forgetting="mia", annotate=False
    )
    assert disp.annotations_ == [] and not disp.ax_.texts
    with pytest.raises(ValueError, match="annotate"):
        TradeoffDisplay.from_cv_results(
            res, utility="acc", forgetting="mia", annotate="all"
        )
