"""Evaluation benchmark: how well does each method forget? One run.

Prints markdown, side by side:

1. **Forgetting table** per dataset (Adult, German credit), model
   (``LogisticRegression``, the 64-32 MLP in skorch) and request (1% of the
   training rows at random, 1% as whole k-means clusters per class,
   :func:`sample_forget_mask`): for "do nothing", ``Retrain`` and every
   method that runs on the model, through
   :func:`sklearn_unlearn.metrics.unlearning_report`: utility, the
   loss-threshold and shadow-model attacks on forgotten vs held-out rows,
   KLoM median / p95 on forget, retain and held-out rows, the update's time.
   The noise floor is retrain vs retrain (two independent oracle
   ensembles); a method is *distinguishable* from it when its per-row KLoM
   on the forget rows exceeds the floor's (one-sided Wilcoxon signed-rank
   test over the forget rows, paired by row, p < 0.01).
2. **Attack implementations** on overfit MLPs (scikit-learn's
   ``MLPClassifier`` 64-32, no weight decay, trained until its training loss
   stalls) on Adult and German credit: our ``ShadowModelAttack`` and
   ``LossAttack`` against the Adversarial Robustness Toolbox's black-box
   membership inference (``MembershipInferenceBlackBox``, nn and
   random-forest attack models) and its ``ShadowModels`` attack, ``pip
   install sklearn-unlearn[benchmark]``; same targets, same member and
   non-member rows: AUC, TPR at 1% FPR, wall and CPU time.
3. **Search**: ``GridSearchCV`` over PUMA ``eta`` and SSSE ``epsilon`` with
   our scorers (held-out accuracy, loss-attack ``1 - 2|AUC - 0.5|``,
   ``-KLoM``), its trade-off plot (``benchmarks/results/tradeoff.png``),
   its best candidate, and its time against the same search with
   ``Retrain``.
4. **SISA** with 5 and 20 shards against retraining: time of one deletion,
   speed-up, accuracy cost.

Preprocessing (standard scaling, one-hot) is fitted once on the training
split, in front of the models: it is not what is unlearned. Everything runs
on one BLAS / torch thread.

Usage::

    python benchmarks/bench_evaluation.py --quick   # every part, tiny sizes
    python benchmarks/bench_evaluation.py           # full run
    python benchmarks/bench_evaluation.py --only attacks
    python benchmarks/bench_evaluation.py --output benchmarks/results/evaluation.md

The trade-off plot goes next to ``--output`` (``tradeoff.png``), else to
``benchmarks/results/`` in a full run; a ``--quick`` run without
``--output`` draws it without saving it.
"""

from __future__ import annotations

import copy
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from _common import (
    Timer,
    column_encoder,
    frame_table,
    limit_threads,
    log,
    machine_header,
    make_net,
    script_parser,
)
from scipy.stats import wilcoxon
from sklearn import config_context
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn import methods as M
from sklearn_unlearn.datasets import load_adult, load_german_credit
from sklearn_unlearn.ensemble import SISAClassifier
from sklearn_unlearn.metrics import (
    LossAttack,
    ShadowModelAttack,
    fit_oracles,
    fit_unlearned,
    klom_from_margins,
    make_klom_scorer,
    make_membership_scorer,
    make_utility_scorer,
    margins,
    membership_summary,
    unlearning_report,
)
from sklearn_unlearn.model_selection import ForgetSplit, sample_forget_mask

try:  # the net's recipe (limit_threads also sets torch's threads)
    import skorch  # noqa: F401
    import torch  # noqa: F401

    HAVE_TORCH = True
except ImportError:  # pragma: no cover
    HAVE_TORCH = False

RESULTS = Path(__file__).parent / "results"
ALPHA = 0.01


# ------------------------------------------------------------------ config
@dataclass
class Config:
    settings: tuple  # part 1: (data, model) pairs
    adult_lr_rows: int | None  # None: all rows
    adult_net_rows: int
    german_rows: int | None  # None: all 1,000 rows
    n_models_lr: int
    n_models_net: int
    net_epochs: int
    n_shadow: int
    shadow_size: float  # part 1: each shadow's share of the retained rows
    attack_estimator: object  # ShadowModelAttack's (None: its default MLP)
    attack_rows: dict  # part 2: the target's training rows per data set
    attack_iter: int  # part 2: the target MLP's max_iter
    art_epochs: int  # part 2: ART's nn attack model
    search_rows: int
    search_splits: int
    search_values: int
    search_klom_models: int
    sisa_repeats: int
    quick: bool


FULL = Config(
    settings=(
        ("Adult", "LogisticRegression"),
        ("German credit", "LogisticRegression"),
        ("Adult", "MLP 64-32"),
        ("German credit", "MLP 64-32"),
    ),
    adult_lr_rows=None,
    adult_net_rows=6000,
    german_rows=None,
    n_models_lr=8,
    n_models_net=6,
    net_epochs=10,
    n_shadow=5,
    shadow_size=0.1,
    attack_estimator=None,
    attack_rows={"Adult": 2000, "German credit": 200},
    attack_iter=1000,
    art_epochs=100,
    search_rows=10000,
    search_splits=3,
    search_values=4,
    search_klom_models=4,
    sisa_repeats=3,
    quick=False,
)
QUICK = Config(  # every code path of the full run, on fewer and smaller settings
    settings=(("Adult", "LogisticRegression"), ("German credit", "MLP 64-32")),
    adult_lr_rows=600,
    adult_net_rows=400,
    german_rows=300,
    n_models_lr=2,
    n_models_net=2,
    net_epochs=1,
    n_shadow=2,
    shadow_size=0.25,
    attack_estimator=MLPClassifier((16,), max_iter=20),
    attack_rows={"Adult": 120, "German credit": 100},
    attack_iter=30,
    art_epochs=2,
    search_rows=500,
    search_splits=2,
    search_values=2,
    search_klom_models=2,
    sisa_repeats=1,
    quick=True,
)
#: Sections of the report, for ``--only`` (numbers or names).
PARTS = {"1": "forgetting", "2": "attacks", "3": "search", "4": "sisa"}


def n_bins_for(n_models: int) -> int:
    """Few models fill few bins: about sqrt(n_models) bins, at least 2."""
    return max(2, round(np.sqrt(n_models)))


# ------------------------------------------------------------------ data
def load(name: str, rows: int | None, seed: int):
    """70/30 stratified split, scaled and one-hot encoded on the training part."""
    loader = {"Adult": load_adult, "German credit": load_german_credit}[name]
    bunch = loader(as_frame=True)
    X, y = bunch.data, np.asarray(bunch.target)
    if rows is not None and rows < len(y):
        keep, _ = train_test_split(
            np.arange(len(y)), train_size=rows, stratify=y, random_state=seed
        )
        X, y = X.iloc[np.sort(keep)], y[np.sort(keep)]
    pre = column_encoder(bunch, missing="most_frequent", numeric_first=True)
    Xtr, Xte, ytr, yte = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=seed
    )
    pre.fit(Xtr)
    Xtr = np.asarray(pre.transform(Xtr), dtype=np.float32).astype(np.float64)
    Xte = np.asarray(pre.transform(Xte), dtype=np.float32).astype(np.float64)
    return Xtr, Xte, np.asarray(ytr, dtype=np.int64), np.asarray(yte, dtype=np.int64)


# ------------------------------------------------------------------ models
def net_recipe(n_features: int, epochs: int, callbacks=None):
    """The 64-32 ReLU MLP as a skorch net (SGD with momentum, weight decay)."""
    return make_net(
        n_features,
        epochs=epochs,
        optimizer="sgd",
        lr=0.05,
        momentum=0.9,
        weight_decay=1e-4,
        batch_size=128,
        callbacks=callbacks,
    )


class InForget:
    """``sensitive(X, y)`` for AmnesiacRecorder: rows of the forget set."""

    def __init__(self, X_forget):
        self.keys = {r.tobytes() for r in np.asarray(X_forget, dtype=np.float32)}

    def __call__(self, X, y):
        X = np.asarray(X, dtype=np.float32)
        return np.array([r.tobytes() in self.keys for r in X], dtype=bool)


def lr_methods():
    """(name, estimator) for the linear model: every method that runs on it."""
    base = LogisticRegression(C=1.0)
    out = [("do nothing", clone(base))]
    for name, method in [
        ("Retrain", M.Retrain()),
        ("Newton", M.Newton()),
        ("FirstOrder", M.FirstOrder()),
        ("SSSE", M.SSSE()),
        ("PUMA", M.PUMA()),
    ]:
        out.append((name, UnlearningClassifier(clone(base), method=method)))
    return out


NET_SKIPPED = (
    "Newton, PUMA (Newton's curvature), SSSE and OracleMatching (its default "
    "attribution is a Newton step) are left out for the 9k-parameter net: on "
    "this machine their fit-time curvature took 230-245 s per model (Newton "
    "dense Gauss-Newton, SSSE block Fisher) and a CG Newton request 46 s on "
    "6,000 rows (measured once), which ensembles of models cannot afford "
    "here. PUMA on the paper's net is measured in bench_puma.py."
)


def net_methods(n_features, epochs, X_forget):
    out = [("do nothing", net_recipe(n_features, epochs))]
    for name, method in [
        ("Retrain", M.Retrain()),
        ("FirstOrder", M.FirstOrder()),
        ("GradientAscent", getattr(M, "GradientAscent", None)),
        ("WeightPruning", getattr(M, "WeightPruning", None)),
    ]:
        if method is None:
            continue
        if isinstance(method, type):
            method = method()
        out.append(
            (name, UnlearningClassifier(net_recipe(n_features, epochs), method=method))
        )
    if hasattr(M, "Amnesiac"):
        from sklearn_unlearn.callbacks import AmnesiacRecorder

        net = net_recipe(n_features, epochs, [AmnesiacRecorder(InForget(X_forget))])
        out.append(("Amnesiac", UnlearningClassifier(net, method=M.Amnesiac())))
    return out


# ------------------------------------------------------------------ part 1
def forgetting_table(cfg, seed):
    rows, verdicts, timings = [], [], []
    settings = [s for s in cfg.settings if HAVE_TORCH or not s[1].startswith("MLP")]
    for data_name, model_name in settings:
        is_net = model_name.startswith("MLP")
        n_rows = (
            (cfg.adult_net_rows if is_net else cfg.adult_lr_rows)
            if data_name == "Adult"
            else cfg.german_rows
        )
        data = load(data_name, n_rows, seed)
        for strategy in ("random", "cluster"):
            with Timer() as timer:
                report, found = forgetting_request(
                    cfg, seed, data, data_name, model_name, strategy
                )
            rows.append(report)
            verdicts += found
            timings.append((data_name, model_name, strategy, timer.timing))
    return pd.concat(rows), pd.DataFrame(verdicts), timings


def forgetting_request(cfg, seed, data, data_name, model_name, strategy):
    """One setting and request: ``unlearning_report`` and the Wilcoxon verdicts."""
    Xtr, Xte, ytr, yte = data
    is_net = model_name.startswith("MLP")
    n_models = cfg.n_models_net if is_net else cfg.n_models_lr
    n_bins = n_bins_for(n_models)
    verdicts = []
    forget = sample_forget_mask(ytr, 0.01, strategy, random_state=seed, X=Xtr)
    Xf, yf = Xtr[forget], ytr[forget]
    Xr, yr = Xtr[~forget], ytr[~forget]
    log(f"[1] {data_name} / {model_name} / {strategy}: {forget.sum()} rows")
    candidates = (
        net_methods(Xtr.shape[1], cfg.net_epochs, Xf) if is_net else lr_methods()
    )
    fitted, ensembles = {}, {}
    for name, est in candidates:
        _seed_torch(seed)
        fitted[name] = (
            clone(est).fit(Xtr, ytr, forget=forget)
            if name != "do nothing"
            else clone(est).fit(Xtr, ytr)
        )
    # ensembles: pool = retained + forget rows, as unlearning_report's
    pool_X = np.concatenate([Xr, Xf])
    pool_y = np.concatenate([yr, yf])
    pool_f = np.arange(len(pool_y)) >= len(yr)
    opts = dict(n_models=n_models, progress=False)
    recipe = dict(candidates)["Retrain"]
    recipe = clone(recipe).set_params(method=M.Retrain())
    oracles = fit_oracles(recipe, pool_X, pool_y, pool_f, random_state=seed + 1, **opts)
    floor = fit_oracles(recipe, pool_X, pool_y, pool_f, random_state=seed, **opts)
    for name, est in candidates:
        ensembles[name] = fit_unlearned(
            clone(est), pool_X, pool_y, pool_f, random_state=seed, **opts
        )
    fitted["retrain vs retrain (noise floor)"] = _independent_retrain(
        recipe, Xr, yr, seed
    )
    ensembles["retrain vs retrain (noise floor)"] = floor
    shadow = ShadowModelAttack(
        n_shadow=cfg.n_shadow,
        shadow_size=cfg.shadow_size,
        attack_estimator=cfg.attack_estimator,
        random_state=seed,
        progress=False,
    ).fit(recipe, Xr, yr)
    report = unlearning_report(
        fitted,
        Xf,
        yf,
        Xte,
        yte,
        X_retain=Xr,
        y_retain=yr,
        reference="retrain",
        attacks={"loss": LossAttack(), "shadow": shadow},
        oracles=oracles,
        ensembles=ensembles,
        noise_floor=False,
        n_bins=n_bins,
        random_state=seed,
    )
    # per-row KLoM on the forget rows: method vs the noise floor
    O = np.stack([margins(m, Xf, yf) for m in oracles])
    floor_vals = klom_from_margins(
        np.stack([margins(m, Xf, yf) for m in floor]), O, n_bins
    )
    for name in report.index:
        vals = klom_from_margins(
            np.stack([margins(m, Xf, yf) for m in ensembles[name]]), O, n_bins
        )
        d = vals - floor_vals
        p = wilcoxon(d, alternative="greater").pvalue if np.any(d != 0) else 1.0
        verdicts.append(
            dict(
                data=data_name,
                model=model_name,
                request=strategy,
                method=name,
                p_value=p,
                distinguishable="yes" if p < ALPHA else "no",
            )
        )
    report.insert(0, "request", strategy)
    report.insert(0, "model", model_name)
    report.insert(0, "data", data_name)
    report["n_models"] = n_models
    report["n_bins"] = n_bins
    report["n_train"] = len(ytr)
    return report, verdicts


def _seed_torch(seed):
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass


def _independent_retrain(recipe, Xr, yr, seed):
    """A retrained model with another seed: the floor row's single model."""
    _seed_torch(seed + 1000)
    est = clone(recipe)
    if "random_state" in est.get_params():
        est.set_params(random_state=seed + 1000)
    return est.fit(Xr, yr)


# ------------------------------------------------------------------ part 2
ATTACK_NOTE = (
    "Targets: scikit-learn `MLPClassifier((64, 32), alpha=0)` trained until its "
    "training loss stalls (`max_iter` {iters}), overfit on purpose. Rows, from "
    "the training split: the target's training rows (members), the attacker's "
    "pool (twice as many rows, disjoint from them), and from the test split "
    "the non-members. Every attack scores the same evaluation rows: half of "
    "the members against as many non-members. `LossAttack` calibrates on the "
    "pool (rows the target never saw). `ShadowModelAttack` and ART's "
    "`ShadowModels` train {n_shadow} shadows like the target, each on a random "
    "half of the pool (the other half is its non-members), and an attack "
    "model on their outputs; ours keeps the label in its features and falls "
    "back to the loss unless its attack models beat it on held-out shadows "
    "(`scoring_`). ART's black-box attacks learn from the target's own "
    "outputs on the other half of the members and as many other test rows, a "
    "stronger attacker than the shadow attacks (it knows members of the "
    "target). Times: wall (perf_counter) and CPU (process_time), shadows "
    "included, one thread."
)


def attack_comparison(cfg, seed):
    """Our attacks against ART's on overfit MLPs: same targets, same rows."""
    try:
        from art.attacks.inference.membership_inference import (
            MembershipInferenceBlackBox,
            ShadowModels,
        )
        from art.estimators.classification import SklearnClassifier
    except ImportError:
        return None, "ART is not installed: pip install 'sklearn-unlearn[benchmark]'."
    art = (MembershipInferenceBlackBox, ShadowModels, SklearnClassifier)
    out, verdicts = [], []
    for name, n in cfg.attack_rows.items():
        rows = attack_setting(cfg, seed, name, n, art)
        out += rows
        auc = {r["attack"]: r["roc_auc"] for r in rows}
        ours, loss = auc["ShadowModelAttack (ours)"], auc["LossAttack (ours)"]
        verdicts.append(
            f"- {name}: ShadowModelAttack AUC {ours:.3f} >= LossAttack AUC "
            f"{loss:.3f}: {'PASS' if ours >= loss else 'FAIL'}"
        )
    return pd.DataFrame(out), verdicts


def attack_setting(cfg, seed, name, n, art):
    """Every attack on one overfit MLP trained on ``n`` rows of ``name``."""
    MembershipInferenceBlackBox, ShadowModels, SklearnClassifier = art
    log(f"[2] {name}: overfit MLP on {n} rows, attacks")
    Xtr, Xte, ytr, yte = load(name, None, seed)
    rng = np.random.default_rng(seed)
    tr, te = rng.permutation(len(ytr)), rng.permutation(len(yte))
    members, pool = tr[:n], tr[n : 3 * n]
    half = n // 2
    eval_in, known_in = members[:half], members[half:]
    eval_out, known_out = te[:half], te[half : 2 * half]
    X_eval = np.concatenate([Xtr[eval_in], Xte[eval_out]])
    y_eval = np.concatenate([ytr[eval_in], yte[eval_out]])
    member = np.arange(len(y_eval)) < len(eval_in)
    recipe = MLPClassifier(
        (64, 32), alpha=0.0, max_iter=cfg.attack_iter, random_state=seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        target = clone(recipe).fit(Xtr[members], ytr[members])
    setting = dict(
        data=name,
        target_rows=n,
        train_acc=target.score(Xtr[members], ytr[members]),
        test_acc=target.score(Xte, yte),
    )
    art_target = SklearnClassifier(model=target)
    Xp, yp = Xtr[pool], ytr[pool]
    shadow = ShadowModelAttack(
        n_shadow=cfg.n_shadow,
        attack_estimator=cfg.attack_estimator,
        random_state=seed,
        progress=False,
    )

    def ours():
        return shadow.fit(recipe, Xp, yp).score_samples(target, X_eval, y_eval)

    def loss():
        attack = LossAttack().fit(target, Xp, yp)
        return attack.score_samples(target, X_eval, y_eval)

    def art_black_box(kind):
        attack = MembershipInferenceBlackBox(
            art_target, attack_model_type=kind, nn_model_epochs=cfg.art_epochs
        )
        attack.fit(
            Xtr[known_in].astype(np.float32),
            _onehot(ytr[known_in]),
            Xte[known_out].astype(np.float32),
            _onehot(yte[known_out]),
        )
        return _art_scores(attack, X_eval, y_eval)

    def art_shadow(kind):
        shadows = ShadowModels(  # clones the target's recipe, unfitted
            art_target, num_shadow_models=cfg.n_shadow, random_state=seed
        )
        (mx, my, mp), (nx, ny, npred) = shadows.generate_shadow_dataset(
            Xp.astype(np.float32), _onehot(yp), member_ratio=0.5
        )
        attack = MembershipInferenceBlackBox(
            art_target, attack_model_type=kind, nn_model_epochs=cfg.art_epochs
        )
        attack.fit(mx, my, nx, ny, mp, npred)
        return _art_scores(attack, X_eval, y_eval)

    attacks = {
        "ShadowModelAttack (ours)": ours,
        "LossAttack (ours)": loss,
        "ART MembershipInferenceBlackBox, nn": lambda: art_black_box("nn"),
        "ART MembershipInferenceBlackBox, rf": lambda: art_black_box("rf"),
        "ART ShadowModels + black-box, nn": lambda: art_shadow("nn"),
        "ART ShadowModels + black-box, rf": lambda: art_shadow("rf"),
    }
    rows = []
    for attack_name, run in attacks.items():
        log(f"[2] {name}: {attack_name}")
        with Timer() as t, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = run()
        summary = membership_summary(scores, member)
        note = ""
        if run is ours:
            v = shadow.validation_auc_
            note = f"scoring_ = {shadow.scoring_}" + (
                f"; held-out shadows: attack models {v['attack_model']:.3f}, "
                f"loss {v['loss']:.3f}"
                if v
                else ""
            )
        rows.append(
            dict(
                **setting,
                attack=attack_name,
                roc_auc=summary["roc_auc"],
                tpr_at_1pct_fpr=summary["tpr_at_1pct_fpr"],
                wall_s=t.wall,
                cpu_s=t.cpu,
                note=note,
            )
        )
    return rows


def _art_scores(attack, X, y):
    """ART's membership probabilities of the rows, as one score per row."""
    s = attack.infer(X.astype(np.float32), _onehot(y), probabilities=True)
    return np.asarray(s, dtype=np.float64).reshape(len(y), -1)[:, -1]


def _onehot(y):
    return np.eye(2, dtype=np.float32)[np.asarray(y)]


# ------------------------------------------------------------------ part 3
def search(cfg, seed, plot_path):
    Xtr, Xte, ytr, yte = load("Adult", cfg.search_rows, seed)
    forget = sample_forget_mask(ytr, 0.05, "cluster", random_state=seed, X=Xtr)
    etas = np.logspace(-2, 1, cfg.search_values).tolist()
    epsilons = np.logspace(-1, 2, cfg.search_values).tolist()
    grids = {
        "PUMA": (M.PUMA(), {"method__eta": etas}),
        "SSSE": (M.SSSE(), {"method__epsilon": epsilons}),
        "Retrain": (M.Retrain(), {"method": [M.Retrain()] * cfg.search_values}),
    }
    out, searches = [], {}
    for name, (method, grid) in grids.items():
        log(f"[3] search {name}")
        scoring = {
            "accuracy": make_utility_scorer("accuracy"),
            "mia": make_membership_scorer(LossAttack()),
            "klom": make_klom_scorer(
                n_models=cfg.search_klom_models,
                n_bins=n_bins_for(cfg.search_klom_models),
                random_state=seed,
            ),
        }
        gs = GridSearchCV(
            UnlearningClassifier(LogisticRegression(), method=method),
            grid,
            cv=ForgetSplit(cfg.search_splits, forget_size=0.05, random_state=seed),
            scoring=scoring,
            refit="accuracy",
        )
        with Timer() as t, config_context(enable_metadata_routing=True):
            gs.fit(Xtr, ytr, forget=forget)
        searches[name] = gs
        res = pd.DataFrame(gs.cv_results_)
        for i, params in enumerate(gs.cv_results_["params"]):
            value = next(iter(params.values()))
            out.append(
                dict(
                    search=name,
                    candidate=value
                    if not hasattr(value, "get_params")
                    else "Retrain()",
                    accuracy=res["mean_test_accuracy"][i],
                    mia_score=res["mean_test_mia"][i],
                    neg_klom=res["mean_test_klom"][i],
                    best="*" if i == gs.best_index_ else "",
                    search_s=t.wall,
                    search_cpu_s=t.cpu,
                )
            )
    plot_path = _tradeoff_plot(searches, plot_path)
    return pd.DataFrame(out), plot_path, len(ytr), int(forget.sum())


def _tradeoff_plot(searches, path):
    """Draw the trade-off; save it to ``path`` (``None``: drawn, not saved)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from sklearn_unlearn.plotting import TradeoffDisplay
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, forgetting in zip(axes, ("mia", "klom"), strict=True):
        for name, gs in searches.items():
            TradeoffDisplay.from_search(
                gs,
                forgetting=forgetting,
                name=name,
                ax=ax,
                annotate=name != "Retrain",
            )
    fig.suptitle(
        "Adult, LogisticRegression, forget 5% by cluster: utility vs forgetting"
    )
    fig.tight_layout()
    if path is None:
        fig.savefig(io.BytesIO(), dpi=110)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------ part 4
def sisa(cfg, seed):
    Xtr, Xte, ytr, yte = load("Adult", cfg.adult_lr_rows, seed)
    rng = np.random.default_rng(seed)
    victim = int(rng.integers(len(ytr)))
    keep = np.arange(len(ytr)) != victim
    out = []
    base = LogisticRegression()
    with Timer() as t:
        clone(base).fit(Xtr, ytr)
    fit_full = t.wall
    times = []
    for _ in range(cfg.sisa_repeats):
        with Timer() as t:
            retrained = clone(base).fit(Xtr[keep], ytr[keep])
        times.append(t.wall)
    retrain_s = float(np.median(times))
    acc_full = retrained.score(Xte, yte)
    out.append(
        dict(
            model="LogisticRegression, full retrain",
            n_shards=1,
            fit_s=fit_full,
            delete_one_s=retrain_s,
            speed_up=1.0,
            test_accuracy=acc_full,
            accuracy_cost=0.0,
        )
    )
    for shards in (5, 20):
        model = SISAClassifier(
            clone(base), n_shards=shards, n_slices=1, random_state=seed
        )
        with Timer() as t:
            model.fit(Xtr, ytr)
        fit_s = t.wall
        times = []
        for _ in range(cfg.sisa_repeats):  # median of deletions, each on a copy
            m = copy.deepcopy(model)
            with Timer() as t:
                m.unlearn(Xtr[victim : victim + 1], ytr[victim : victim + 1])
            times.append(t.wall)
        del_s = float(np.median(times))
        model = m
        acc = model.score(Xte, yte)
        out.append(
            dict(
                model=f"SISA({shards} shards, 1 slice)",
                n_shards=shards,
                fit_s=fit_s,
                delete_one_s=del_s,
                speed_up=retrain_s / del_s,
                test_accuracy=acc,
                accuracy_cost=acc_full - acc,
            )
        )
    return pd.DataFrame(out), len(ytr)


# ------------------------------------------------------------------ main
def main(argv=None):
    parser = script_parser(__doc__, "tiny sizes, two of the four settings in 1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only",
        default="1,2,3,4",
        help="parts, by number or name: 1 forgetting, 2 attacks, 3 search, 4 sisa "
        "(e.g. 1,4 or attacks)",
    )
    parser.add_argument("--output", type=Path, help="also write the report here")
    parser.add_argument(
        "--plot",
        type=Path,
        help="the trade-off plot (default: tradeoff.png next to --output, else "
        "benchmarks/results/ in a full run, not saved in a --quick run)",
    )
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    names = {v: k for k, v in PARTS.items()}
    parts = {names.get(p.strip(), p.strip()) for p in args.only.split(",")}
    if not parts <= set(PARTS):
        parser.error(f"unknown part in --only {args.only!r}: use 1-4 or {names}")
    plot = args.plot
    if plot is None and args.output is not None:
        plot = args.output.parent / "tradeoff.png"
    elif plot is None and not cfg.quick:
        plot = RESULTS / "tradeoff.png"
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", message=".*ConvergenceWarning.*")
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    out = [f"# Evaluation benchmark ({'quick' if cfg.quick else 'full'} run)\n"]
    out.append(machine_header(args.threads))
    out.append(
        f"- scaled to fit 2 busy cores: Adult LR on "
        f"{'all' if cfg.adult_lr_rows is None else cfg.adult_lr_rows} rows, the "
        f"MLP on {cfg.adult_net_rows} Adult rows ({cfg.net_epochs} epochs); KLoM "
        f"ensembles of {cfg.n_models_lr} (LR) / {cfg.n_models_net} (MLP) models "
        f"with {n_bins_for(cfg.n_models_lr)} / {n_bins_for(cfg.n_models_net)} "
        f"bins (the KLoM paper uses hundreds of models and 20 bins); "
        f"{cfg.n_shadow} shadow models; seed {args.seed}\n"
    )
    with limit_threads(args.threads), Timer() as total:
        if "1" in parts:
            out += forgetting_section(cfg, args.seed)
        if "2" in parts:
            out += attack_section(cfg, args.seed)
        if "3" in parts:
            out += search_section(cfg, args.seed, plot)
        if "4" in parts:
            out += sisa_section(cfg, args.seed)
    out.append(f"Total {total.wall:.0f} s wall, {total.cpu:.0f} s CPU.")
    text = "\n".join(out)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")


def forgetting_section(cfg, seed):
    table, verdicts, timings = forgetting_table(cfg, seed)
    out = ["## 1. Forgetting: attacks, KLoM, utility, time\n"]
    cols = [
        "data",
        "model",
        "request",
        "n_train",
        "update_s",
        "test_accuracy",
        "forget_accuracy",
        "loss_roc_auc",
        "shadow_roc_auc",
        "shadow_tpr_at_1pct_fpr",
        "klom_forget_median",
        "klom_forget_p95",
        "klom_retain_median",
        "klom_retain_p95",
        "klom_test_median",
        "klom_test_p95",
        "ref_param_distance",
        "ref_mean_kl",
    ]
    t = table.drop(columns="method").reset_index(names="method")
    t = t.merge(
        verdicts[["data", "model", "request", "method", "distinguishable"]],
        on=["data", "model", "request", "method"],
    )
    out.append(frame_table(t[["method", *cols, "distinguishable"]]))
    out.append(
        "\nColumns: attack AUCs on the forgotten rows (members) against "
        "held-out rows (non-members), 0.5 = cannot tell; KLoM per row "
        "group, the unlearned ensemble (seed s) against oracles retrained "
        "without the rows (seed s+1); `update_s` from the ledger; "
        "`ref_*` to one model retrained on the retained rows. "
        "`distinguishable`: forget-row KLoM above the retrain-vs-retrain "
        f"floor, one-sided Wilcoxon signed-rank p < {ALPHA}. The shadow "
        f"attack's shadows each train on {cfg.shadow_size:.0%} of the retained "
        "rows.\n"
    )
    if HAVE_TORCH:
        out.append(NET_SKIPPED + "\n")
    for d, m, s, t in timings:
        out.append(f"- {d} / {m} / {s}: {t.wall:.0f} s wall, {t.cpu:.0f} s CPU")
    out.append("")
    return out


def attack_section(cfg, seed):
    log("[2] attacks on overfit MLPs: ours and ART's")
    table, verdicts = attack_comparison(cfg, seed)
    out = ["## 2. Membership attacks on overfit MLPs: ours and ART's\n"]
    if table is None:
        return out + [verdicts + "\n"]
    out.append(frame_table(table))
    out.append(
        "\n" + ATTACK_NOTE.format(iters=cfg.attack_iter, n_shadow=cfg.n_shadow) + "\n"
    )
    out += verdicts
    out.append("")
    return out


def search_section(cfg, seed, plot):
    res, plot, n, nf = search(cfg, seed, plot)
    out = [
        f"## 3. Search over PUMA eta and SSSE epsilon (Adult {n} rows, "
        f"LogisticRegression, forget {nf} rows by cluster, "
        f"ForgetSplit({cfg.search_splits}))\n"
    ]
    out.append(frame_table(res))
    tot = res.groupby("search")["search_s"].first()
    where = f" Trade-off plot: `{plot.name}`." if plot else ""
    out.append(
        "\nScores are greater-is-better: `mia_score` = 1 - 2|AUC - 0.5| "
        "of the loss attack, `neg_klom` = -median KLoM on the forget rows. "
        "Best (*) by held-out accuracy. Whole search: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in tot.items())
        + f"; PUMA / Retrain time {tot['PUMA'] / tot['Retrain']:.2f}, "
        f"SSSE / Retrain {tot['SSSE'] / tot['Retrain']:.2f}." + where + "\n"
    )
    return out


def sisa_section(cfg, seed):
    log("[4] SISA")
    res, n = sisa(cfg, seed)
    out = [f"## 4. SISA against retraining (Adult {n} training rows, LR)\n"]
    out.append(frame_table(res))
    out.append(
        f"\nOne random row deleted (median of {cfg.sisa_repeats} runs, each on a "
        "copy; SISA on `LogisticRegression` uses `warm_start`, one slice). "
        "`speed_up` = full retrain time / SISA deletion time; `accuracy_cost` = "
        "retrained model's test accuracy minus SISA's.\n"
    )
    return out


if __name__ == "__main__":
    main()
