import copy
import pickle

import joblib
import numpy as np
import pytest
from joblib.externals.loky.backend.reduction import dumps as loky_dumps
from numpy.testing import assert_allclose
from sklearn import config_context
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_validate
from sklearn.preprocessing import StandardScaler

from sklearn_unlearn import UnlearningClassifier, methods
from sklearn_unlearn.datasets import load_breast_cancer_original
from sklearn_unlearn.metrics import (
    LiRA,
    LossAttack,
    ULiRA,
    fit_oracles,
    fit_unlearned,
    klom,
    make_klom_scorer,
    make_membership_scorer,
    make_retrain_distance_scorer,
    make_utility_scorer,
)
from sklearn_unlearn.metrics._klom import auto_n_bins
from sklearn_unlearn.model_selection import ForgetSplit, sample_forget_mask


@pytest.fixture
def routing():
    with config_context(enable_metadata_routing=True):
        yield


def _do_nothing():
    """The do-nothing baseline: trains on every row, does not ask for the mask."""
    return UnlearningClassifier(LogisticRegression()).set_fit_request(forget=False)


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
    klom = make_klom_scorer(n_models=4, check_power=False)
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
        # 8 models (3 bins): with 4 the histograms are too coarse to tell a
        # model that forgot 5 of 100 rows from the oracles in every split
        "klom": make_klom_scorer(n_models=8, check_power=False),
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
        _do_nothing(), X, y, cv=cv, scoring=scoring, params={"forget": forget}
    )
    assert np.allclose(retrain["test_klom"], 0.0, atol=1e-9)
    assert np.allclose(retrain["test_dist"], 0.0, atol=1e-6)
    assert np.all(nothing["test_klom"] < retrain["test_klom"])
    assert np.all(nothing["test_dist"] < -1e-3)
    assert np.all(retrain["test_util"] > 0.5)


def test_shadow_scorers_in_search(routing, data):
    X, y, forget = data
    clf = UnlearningClassifier(LogisticRegression(), method=methods.Newton())
    lira = make_membership_scorer(LiRA(n_shadow=4, progress=False), target="chance")
    ulira = make_membership_scorer(
        ULiRA(n_shadow=4, progress=False), "tpr_at_1pct_fpr", target="chance"
    )
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
            scoring=make_klom_scorer(n_models=2, check_power=False),
        ).fit(X, y)


def test_bad_masks(routing, data):
    X, y, forget = data
    clf = LogisticRegression().fit(X, y)
    scorer = make_utility_scorer()
    with pytest.raises(ValueError, match="length 100"):
        scorer(clf, X, y, forget=forget[:-1])
    with pytest.raises(ValueError, match="no forgotten rows"):
        scorer(clf, X, y, forget=np.zeros(100, dtype=bool))
    with pytest.raises(ValueError, match="LogisticRegression did not record them"):
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
        _do_nothing(),
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


# -- parallel searches ------------------------------------------------------


def _search_scores(X, y, forget, n_jobs):
    scoring = {
        "klom": make_klom_scorer(n_models=3, check_power=False),
        "mia": make_membership_scorer(LossAttack(), target="retrain"),
        "dist": make_retrain_distance_scorer(),
    }
    s = GridSearchCV(
        UnlearningClassifier(LogisticRegression(), method=methods.Newton()),
        {"method__damping": [0.0, 1000.0]},  # about exact, about doing nothing
        cv=ForgetSplit(2, random_state=0),
        scoring=scoring,
        refit=False,
        n_jobs=n_jobs,
        error_score="raise",
    ).fit(X, y, forget=forget)
    return {
        key: s.cv_results_[key]
        for key in s.cv_results_
        if key.startswith("split") and "_test_" in key
    }


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_parallel_search_gives_the_sequential_scores(routing, data, backend):
    """n_jobs=2: the workers find the splits and score as n_jobs=None does."""
    X, y, forget = data
    expected = _search_scores(X, y, forget, None)
    with joblib.parallel_config(backend=backend):
        got = _search_scores(X, y, forget, 2)
    assert sorted(got) == sorted(expected) and len(got) == 6
    for key, value in expected.items():
        assert_allclose(got[key], value, rtol=1e-12, atol=1e-12, err_msg=key)
    assert np.all(expected["split1_test_klom"] < [1e-12, -1.0])  # not trivial


def test_any_cv_whose_test_folds_hold_the_forget_rows(routing, data):
    """The training fold comes from the candidate, not from ForgetSplit."""
    X, y, forget = data
    even = np.arange(100) % 2 == 0
    train, test = np.flatnonzero(even | forget), np.flatnonzero(~even | forget)
    res = cross_validate(
        UnlearningClassifier(LogisticRegression(), method="retrain"),
        X,
        y,
        cv=[(train, test)] * 2,
        scoring=make_klom_scorer(n_models=2, check_power=False),
        params={"forget": forget},
        error_score="raise",
    )
    assert_allclose(res["test_score"], 0.0, atol=1e-12)
    # a test fold whose forgotten rows are not the training fold's is refused
    X_train, y_train = X[train], y[train]  # the model refers to them weakly
    clf = UnlearningClassifier(LogisticRegression()).fit(
        X_train, y_train, forget=forget[train]
    )
    other = np.flatnonzero(~even)
    with pytest.raises(ValueError, match="not the .* rows the model forgot"):
        make_retrain_distance_scorer()(
            clf, X[other], y[other], forget=np.arange(len(other)) < 3
        )


def test_nothing_holds_the_searched_rows(routing, data):
    """No pickle of a scorer or search holds a row, and after the search no
    object keeps the rows alive; a request drops the fit's handle."""
    import gc
    import weakref

    X, y, forget = data
    X = np.ascontiguousarray(X + 1000.0)  # rows no other object here holds
    scorer = make_klom_scorer(n_models=2, check_power=False)
    search = GridSearchCV(
        UnlearningClassifier(LogisticRegression()),
        {"method": ["retrain"]},
        cv=ForgetSplit(2, random_state=0),
        scoring=scorer,
    ).fit(X, y, forget=forget)
    row = X[forget][0].tobytes()
    for obj in (scorer, search, search.best_estimator_):
        assert row not in pickle.dumps(obj)
        assert row not in bytes(loky_dumps(obj))
    for copied in (
        pickle.loads(pickle.dumps(search.best_estimator_)),
        copy.deepcopy(search.best_estimator_),
    ):
        with pytest.raises(ValueError, match="did not record them"):
            scorer(copied, X, y, forget=forget)
    alive = weakref.ref(X)
    del X
    gc.collect()
    assert alive() is None
    # a request changes the training rows: the handle goes
    X, y, forget = data
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    clf.unlearn(X[:2], y[:2])
    assert clf._training_fold is None


def test_copies_in_one_process_share_the_reference_models(routing, data):
    """Reference models: once per split in each process, whatever the copies."""
    X, y, forget = data
    cv = ForgetSplit(2, random_state=0)
    train, test = next(cv.split(X, y, forget=forget))
    scorer = make_retrain_distance_scorer()
    X_train, y_train = X[train], y[train]  # the model refers to them weakly
    clf = UnlearningClassifier(LogisticRegression()).fit(
        X_train, y_train, forget=forget[train]
    )
    args = (clf, X[test], y[test])
    first, second = (pickle.loads(loky_dumps(scorer)) for _ in range(2))
    a = first(*args, forget=forget[test])
    b = second(*args, forget=forget[test])
    assert a == b
    assert (first.n_cache_misses_, second.n_cache_hits_) == (1, 1)
    assert second.n_cache_misses_ == 0
    copied = copy.deepcopy(scorer)
    assert copied(*args, forget=forget[test]) == a and copied.n_cache_hits_ == 1


# -- KLoM's bins ------------------------------------------------------------


@pytest.fixture(scope="module")
def breast_cancer():
    X, y = load_breast_cancer_original(return_X_y=True, as_frame=True)
    X = StandardScaler().fit_transform(X.fillna(X.median()))
    return X, np.asarray(y)


def test_klom_scorer_ranks_retrain_above_doing_nothing(routing, breast_cancer):
    """8 models, automatic bins: Retrain scores 0, doing nothing below it, and
    by how much depends on how much the model memorised: little for a random
    5% (a convex model barely does), much for whole clusters. With 20 bins
    doing nothing scores about -7 on the random request and -10 on the
    cluster one: the floor of empty bins hides the difference."""
    X, y = breast_cancer
    scorer = make_klom_scorer(n_models=8, check_power=False)  # 3 bins
    cv = ForgetSplit(2, random_state=0)
    scores = {}
    for strategy in ("random", "cluster"):
        forget = sample_forget_mask(y, 0.05, strategy, random_state=0, X=X)
        for name, est in [
            ("retrain", UnlearningClassifier(LogisticRegression(), method="retrain")),
            ("nothing", _do_nothing()),
        ]:
            res = cross_validate(
                est, X, y, cv=cv, scoring=scorer, params={"forget": forget}
            )
            scores[strategy, name] = res["test_score"].mean()
    for strategy in ("random", "cluster"):
        assert scores[strategy, "retrain"] == 0.0
        assert scores[strategy, "nothing"] < scores[strategy, "retrain"]
    assert scores["cluster", "nothing"] < 5 * scores["random", "nothing"]


def test_klom_scorer_says_when_it_has_no_power(routing, data, breast_cancer):
    """Whole clusters of the breast cancer data: power in every split, finite
    scores. Five forgotten rows of 100: no test can reach p < 0.01, so every
    candidate scores NaN, with a warning that says why."""
    X, y = breast_cancer
    forget = sample_forget_mask(y, 0.05, "cluster", random_state=0, X=X)
    retrain = UnlearningClassifier(LogisticRegression(), method="retrain")
    cv = ForgetSplit(2, random_state=0)
    scorer = make_klom_scorer()
    res = cross_validate(
        retrain, X, y, cv=cv, scoring=scorer, params={"forget": forget}
    )
    assert_allclose(res["test_score"], 0.0, atol=1e-12)
    verdicts = [v for k, v in scorer._cache._data.items() if k[-1] == "power"]
    assert len(verdicts) == 2 and all(v.has_power for v in verdicts)
    X, y, forget = data
    with pytest.warns(UserWarning, match="cannot tell doing nothing from retraining"):
        res = cross_validate(
            retrain,
            X,
            y,
            cv=cv,
            scoring=make_klom_scorer(n_models=4),
            params={"forget": forget},
        )
    assert np.all(np.isnan(res["test_score"]))


def test_auto_bins_separate_doing_nothing_from_the_noise_floor(breast_cancer):
    """An exact unlearner with other randomness (retraining on other halves)
    sits at KLoM's noise floor; doing nothing on a cluster request must score
    well above it. With 20 bins and 8 models both are near log(1e5)."""
    X, y = breast_cancer
    forget = sample_forget_mask(y, 0.05, "cluster", random_state=0, X=X)
    Xf, yf = X[forget], y[forget]
    opts = dict(n_models=8, progress=False)
    lr = LogisticRegression()
    oracles = fit_oracles(lr, X, y, forget, random_state=0, **opts)
    retrained = fit_unlearned(
        UnlearningClassifier(lr, method="retrain"), X, y, forget, random_state=1, **opts
    )
    nothing = fit_unlearned(lr, X, y, forget, random_state=0, **opts)
    n_bins = auto_n_bins(8)
    floor = np.median(klom(retrained, oracles, Xf, yf, n_bins=n_bins))
    kept = np.median(klom(nothing, oracles, Xf, yf, n_bins=n_bins))
    assert kept > 4 * floor


def test_klom_scorer_bins(routing):
    assert [auto_n_bins(n) for n in (2, 4, 8, 16, 100, 10_000)] == [
        3,
        3,
        3,
        4,
        10,
        20,
    ]
    assert make_klom_scorer(n_bins=5).n_bins == 5
    for bad in (0, 2.5, "sturges", True):
        with pytest.raises(ValueError, match="n_bins must be 'auto' or an integer"):
            make_klom_scorer(n_bins=bad)


def _pipeline_search(credit_frame_pipeline, n_jobs=None):
    """The README's path searched: Retrain, Newton and a near-do-nothing
    candidate behind a scaler + one-hot pipeline on a DataFrame."""
    import warnings

    X, y, make = credit_frame_pipeline
    pipe = make(UnlearningClassifier(LogisticRegression()))
    Z = StandardScaler().fit_transform(X.select_dtypes("number"))
    forget = sample_forget_mask(y, 0.05, strategy="cluster", X=Z, random_state=0)
    grid = {
        "unlearningclassifier__method": [
            "retrain",
            methods.Newton(),
            methods.FirstOrder(tau=1e-6),  # nearly does nothing
        ]
    }
    with config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the encoder keeps forgotten categories
        search = GridSearchCV(
            pipe,
            grid,
            cv=ForgetSplit(2, random_state=0),
            scoring={
                "klom": make_klom_scorer(n_models=4),
                "mia": make_membership_scorer(LossAttack()),
            },
            refit=False,
            n_jobs=n_jobs,
            error_score="raise",
        ).fit(X, y, forget=forget)
    return {key: search.cv_results_[key] for key in ("mean_test_klom", "mean_test_mia")}


@pytest.fixture(scope="module")
def pipeline_search_scores(credit_frame_pipeline):
    return _pipeline_search(credit_frame_pipeline)


def test_klom_ranks_candidates_behind_a_pipeline_over_a_dataframe(
    pipeline_search_scores,
):
    """The README's path: a DataFrame through ``make_pipeline``, searched."""
    klom = pipeline_search_scores["mean_test_klom"]
    assert np.all(np.isfinite(klom))
    assert np.all(np.isfinite(pipeline_search_scores["mean_test_mia"]))
    assert klom[0] >= klom[1] > klom[2]  # Retrain >= Newton > nearly nothing


def test_pipeline_search_on_a_dask_cluster_of_processes(
    credit_frame_pipeline, pipeline_search_scores
):
    """n_jobs=2 on dask.distributed worker processes: the same scores."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
        joblib.parallel_config(backend="dask"),
        distributed.get_task_stream(client) as stream,
    ):
        got = _pipeline_search(credit_frame_pipeline, n_jobs=2)
    workers = {task["worker"] for task in stream.data}
    assert len(workers) == 2  # both worker processes scored candidates
    for key, value in pipeline_search_scores.items():
        assert_allclose(got[key], value, rtol=1e-9, atol=1e-12, err_msg=key)
