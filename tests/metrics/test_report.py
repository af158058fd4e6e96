"""unlearning_report against the metrics it composes, called directly."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.metrics import (
    LossAttack,
    ShadowModelAttack,
    fit_oracles,
    fit_unlearned,
    klom,
    klom_summary,
    retrain_distance,
    unlearning_report,
)
from sklearn_unlearn.metrics._report import NOISE_FLOOR


@pytest.fixture(scope="module")
def setup():
    X, y = make_classification(
        n_samples=260, n_features=8, n_informative=4, flip_y=0.1, random_state=0
    )
    Xtr, ytr, Xte, yte = X[:200], y[:200], X[200:], y[200:]
    forget = np.arange(200) < 10
    models = {
        "do nothing": LogisticRegression().fit(Xtr, ytr),
        "newton": UnlearningClassifier(LogisticRegression()).fit(
            Xtr, ytr, forget=forget
        ),
    }
    rows = dict(
        X_forget=Xtr[forget],
        y_forget=ytr[forget],
        X_test=Xte,
        y_test=yte,
        X_retain=Xtr[~forget],
        y_retain=ytr[~forget],
    )
    return models, rows


def test_columns_equal_the_metrics(setup):
    models, r = setup
    report = unlearning_report(
        models,
        r["X_forget"],
        r["y_forget"],
        r["X_test"],
        r["y_test"],
        X_retain=r["X_retain"],
        y_retain=r["y_retain"],
        reference="retrain",
        klom=None,
    )
    assert list(report.index) == ["do nothing", "newton"]
    X_att = np.concatenate([r["X_forget"], r["X_test"]])
    y_att = np.concatenate([r["y_forget"], r["y_test"]])
    member = np.arange(len(y_att)) < 10
    ref = UnlearningClassifier(LogisticRegression(), method="retrain").fit(
        r["X_retain"], r["y_retain"]
    )
    for name, model in models.items():
        row = report.loc[name]
        assert row["test_accuracy"] == accuracy_score(
            r["y_test"], model.predict(r["X_test"])
        )
        assert row["forget_accuracy"] == accuracy_score(
            r["y_forget"], model.predict(r["X_forget"])
        )
        direct = LossAttack().evaluate(model, X_att, y_att, member)
        for key in ("roc_auc", "balanced_accuracy", "tpr_at_1pct_fpr"):
            assert row[f"loss_{key}"] == pytest.approx(direct[key])
        dist = retrain_distance(model, ref, r["X_forget"])
        assert row["ref_param_distance"] == pytest.approx(dist["param_distance"])
        assert row["ref_mean_kl"] == pytest.approx(dist["mean_kl"])
    newton = models["newton"]
    assert report.loc["newton", "update_s"] == newton.ledger_[-1].duration_s
    assert report.loc["newton", "n_removed"] == 10
    assert report.loc["newton", "method"] == "Newton"
    assert np.isnan(report.loc["do nothing", "update_s"])
    assert not any(c.startswith("klom") for c in report)


def test_klom_columns_equal_direct_ensembles(setup):
    models, r = setup
    model = models["newton"]
    report = unlearning_report(
        model,
        r["X_forget"],
        r["y_forget"],
        r["X_test"],
        r["y_test"],
        X_retain=r["X_retain"],
        y_retain=r["y_retain"],
        attacks=None,
        klom=3,
        random_state=5,
        progress=False,
    )
    assert list(report.index) == ["Newton", NOISE_FLOOR]
    Xp = np.concatenate([r["X_retain"], r["X_forget"]])
    yp = np.concatenate([r["y_retain"], r["y_forget"]])
    fp = np.arange(len(yp)) >= len(r["y_retain"])
    opts = dict(n_models=3, progress=False)
    U = fit_unlearned(
        UnlearningClassifier(LogisticRegression()), Xp, yp, fp, random_state=5, **opts
    )
    O = fit_oracles(
        UnlearningClassifier(LogisticRegression(), method="retrain"),
        Xp,
        yp,
        fp,
        random_state=6,
        **opts,
    )
    Xe = np.concatenate([r["X_forget"], r["X_retain"], r["X_test"]])
    ye = np.concatenate([r["y_forget"], r["y_retain"], r["y_test"]])
    idx = np.arange(len(ye))
    groups = {
        "forget": idx < 10,
        "retain": (idx >= 10) & (idx < 200),
        "test": idx >= 200,
    }
    expected = klom_summary(klom(U, O, Xe, ye), groups)
    for key, value in expected.items():
        assert report.loc["Newton", f"klom_{key}"] == pytest.approx(value)
    assert "loss_roc_auc" not in report


def test_given_oracles_and_ensembles_are_used(setup):
    models, r = setup
    rng = np.random.default_rng(0)
    members = [
        LogisticRegression(C=c).fit(r["X_retain"], r["y_retain"])
        for c in rng.uniform(0.1, 1, 3)
    ]
    report = unlearning_report(
        models,
        r["X_forget"],
        r["y_forget"],
        r["X_test"],
        r["y_test"],
        X_retain=r["X_retain"],
        y_retain=r["y_retain"],
        attacks=None,
        oracles=members,
        ensembles={"newton": members, "do nothing": members},
        noise_floor=False,
    )
    assert list(report.index) == ["do nothing", "newton"]
    assert_allclose(report.filter(regex="^klom_.*(median|p95)$").to_numpy(), 0.0)
    assert_allclose(report["klom_forget_p"], 1.0)  # nothing differs from the floor


def test_shadow_attack_fitted_on_retained_rows(setup):
    models, r = setup
    attack = ShadowModelAttack(
        n_shadow=2,
        attack_estimator=LogisticRegression(),
        random_state=0,
        progress=False,
    )
    report = unlearning_report(
        models["do nothing"],
        r["X_forget"],
        r["y_forget"],
        r["X_test"],
        r["y_test"],
        X_retain=r["X_retain"],
        y_retain=r["y_retain"],
        attacks={"shadow": attack},
    )
    assert not hasattr(attack, "attack_models_")  # the caller's object untouched
    fitted = ShadowModelAttack(
        n_shadow=2,
        attack_estimator=LogisticRegression(),
        random_state=0,
        progress=False,
    )
    fitted.fit(LogisticRegression(), r["X_retain"], r["y_retain"])
    X_att = np.concatenate([r["X_forget"], r["X_test"]])
    y_att = np.concatenate([r["y_forget"], r["y_test"]])
    direct = fitted.evaluate(
        models["do nothing"], X_att, y_att, np.arange(len(y_att)) < 10
    )
    assert report.iloc[0]["shadow_roc_auc"] == pytest.approx(direct["roc_auc"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"y_forget": np.zeros(3)}, ValueError, "X_forget has 10 rows"),
        ({"X_forget": np.zeros((0, 8)), "y_forget": []}, ValueError, "no rows"),
        ({"klom": 4}, ValueError, "pass X_retain"),
        ({"klom": 1, "X_retain": "use", "y_retain": "use"}, ValueError, ">= 2"),
        ({"attacks": "nope"}, ValueError, "unknown attack"),
        ({"attacks": 3}, TypeError, "must be a name"),
        ({"attacks": [3]}, TypeError, "must be a MembershipAttack"),
        ({"attacks": "shadow"}, ValueError, "retained rows"),
        ({"reference": "oracle"}, ValueError, "'retrain'"),
        ({"X_retain": np.zeros((2, 8))}, ValueError, "together"),
        ({"clf": {}}, ValueError, "empty"),
        ({"clf": LogisticRegression()}, Exception, "not fitted"),
        ({"random_state": None}, TypeError, "random_state"),
    ],
)
def test_bad_input(setup, kwargs, error, match):
    models, r = setup
    args = dict(
        clf=models["newton"],
        X_forget=r["X_forget"],
        y_forget=r["y_forget"],
        X_test=r["X_test"],
        y_test=r["y_test"],
    )
    if isinstance(kwargs.get("X_retain"), str):
        kwargs = {**kwargs, "X_retain": r["X_retain"], "y_retain": r["y_retain"]}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        unlearning_report(**args)


def test_the_pipeline_path_unlearns_and_reports_what_it_did(credit_frame_pipeline):
    """A DataFrame through ``make_pipeline``: the tools unlearn and say so."""
    from sklearn_unlearn.metrics import accepts_forget
    from sklearn_unlearn.metrics._scorers import _plain_recipe

    X, y, make = credit_frame_pipeline
    pipe = make(UnlearningClassifier(LogisticRegression(), method="newton"))
    assert accepts_forget(pipe)
    recipe = _plain_recipe(pipe)
    assert recipe.get_params()["unlearningclassifier__method"] == "retrain"
    forget = np.arange(len(y)) < 30
    members = fit_unlearned(pipe, X, y, forget, n_models=2, progress=False)
    for member in members:
        assert member[-1].ledger_[-1].operation == "unlearn"
        assert member[-1].ledger_[-1].n_removed == 30
    test = np.arange(len(y)) >= 900
    report = unlearning_report(
        {"newton": member},
        X[forget],
        y[forget],
        X[test],
        y[test],
        attacks=(),
    )
    assert report.loc["newton", "method"] == "Newton"
    assert report.loc["newton", "n_removed"] == 30
    assert report.loc["newton", "update_s"] > 0


def test_defaults_tell_doing_nothing_from_the_noise_floor(credit_frame_pipeline):
    """Forgetting a whole age group through the README's pipeline: with its
    defaults the report runs KLoM (16 models), finds doing nothing above the
    noise floor and Newton within it, and says the test had power."""
    import warnings

    from sklearn.pipeline import make_pipeline as plain_pipeline

    X, y, make = credit_frame_pipeline
    test = np.random.RandomState(0).rand(len(y)) < 0.2
    Xtr, ytr = X[~test], y[~test]
    forget = (Xtr["age"] >= 60).to_numpy()
    newton = make(UnlearningClassifier(LogisticRegression())).fit(
        Xtr, ytr, forget=forget
    )
    nothing = plain_pipeline(make(LogisticRegression())[0], LogisticRegression())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the encoder keeps forgotten categories
        report = unlearning_report(
            {"do nothing": nothing.fit(Xtr, ytr), "newton": newton},
            Xtr[forget],
            ytr[forget],
            X[test],
            y[test],
            X_retain=Xtr[~forget],
            y_retain=ytr[~forget],
        )
    assert report.loc["newton", "method"] == "Newton"
    assert report.loc["newton", "n_removed"] == forget.sum()
    assert report.attrs["klom_power"].has_power
    assert report.loc["do nothing", "klom_forget_p"] < 0.01
    assert report.loc["newton", "klom_forget_p"] > 0.05
    assert NOISE_FLOOR in report.index
