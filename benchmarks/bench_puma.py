"""PUMA benchmark, linear part: the paper's protocol, side by side.

One run prints, as markdown:

1. **Removal** (paper Table 1/2 protocol) on the bundled breast-cancer
   (original, 683 complete rows x 9) and German credit (1000 x 20, one-hot)
   data with ``LogisticRegression``: rows are marked by k-means clusters per
   class (paper listing 3: 8 clusters per class, smallest cluster first,
   whole clusters until the class's share of the quota is met; "ordered")
   or uniformly at random ("random"); 20/40/60/80% of the training rows are
   removed in one request. Test accuracy of the original model, an exact
   retrain, PUMA, Newton and SSSE, the request's wall time, and the
   membership-attack rate on the removed rows before/after (the share of
   removed rows a loss-threshold attack calls members; threshold: the mean
   score of test rows under the same model, ``metrics.LossAttack``). The
   paper's Table 1/2 numbers (2-layer net, not a linear model) are printed
   beside ours.
2. **Mislabel debugging** (paper Figure 4 / Table 3): 10% of the training
   labels flipped (``LogisticRegression``; on raw two moons also the 2-layer
   net, whose scores use PUMA's cached damped Gauss-Newton inverse); the
   fraction of flipped rows found after inspecting 10/20/30% of the rows,
   ranked at random, by training loss, by
   self-influence (Koh & Liang), by PUMA's influence on the log loss (of the
   training rows, or of the clean test split: "val."), and by PUMA's
   Algorithm 2 (which inspects only the rows it keeps); the scoring time of
   each, and at scale the batched X-space product against per-row gradients.
3. **Calibration patch** (paper appendix E): two-moons-style data (5000
   rows, 100 flipped labels; a logistic regression on cubic features), ECE
   before/after the Algorithm-3 patch.

Preprocessing (scaling, one-hot) is fitted once on the training split, in
front of the unlearner: it is not part of what is unlearned.

Scaling note: our ``eta`` multiplies the influence step of the *summed*
objective (``eta=1``: the first-order removal); the paper's ``eta`` is ours
divided by the number of training rows.

For the net, the retrain is a fresh net with the first fit's seed trained on
the rows that remain (``Retrain``), PUMA and Newton use the damped
Gauss-Newton matrix (dense, cached at fit, downdated per request) and SSSE
its per-layer block Fisher; each method's fitted model is copied for every
request, so its curvature is built once per split.

Usage::

    python benchmarks/bench_puma.py                 # full run (5 splits)
    python benchmarks/bench_puma.py --quick         # 1 split, tiny sizes, seconds
    python benchmarks/bench_puma.py --model mlp     # only the net's tables
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
from _common import (
    Timer,
    column_encoder,
    limit_threads,
    machine_header,
    make_net,
    markdown_table,
    median_timing,
    script_parser,
    timed,
)
from sklearn.cluster import KMeans
from sklearn.datasets import make_moons
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from sklearn_unlearn import UnlearningBudgetWarning, UnlearningClassifier
from sklearn_unlearn.datasets import load_breast_cancer_original, load_german_credit
from sklearn_unlearn.inspection import (
    calibration_triage,
    expected_calibration_error,
    find_mislabeled,
    influence_scores,
    self_influence,
)
from sklearn_unlearn.methods import PUMA, SSSE, Newton, Retrain
from sklearn_unlearn.methods._puma import influence

try:  # the shadow-model attack, when it is there
    from sklearn_unlearn.metrics import LossAttack
except ImportError:  # pragma: no cover - fallback: the same loss threshold
    LossAttack = None

FRACTIONS = (0.2, 0.4, 0.6, 0.8)


@dataclass
class Sizes:
    """What a run measures on: the full protocol, or its ``--quick`` miniature."""

    fractions: tuple  # removed shares of the training rows (removal protocol)
    net_datasets: tuple  # the removal protocol with the net
    moons_rows: int  # mislabel debugging on two moons (validation: half)
    scale: tuple  # (n, d) of the scoring-time-at-scale table
    calibration_rows: int  # two-moons rows of the calibration patch
    calibration_flips: int
    calibration_k: int


FULL = Sizes(
    FRACTIONS, ("Breast cancer", "German"), 2000, (200_000, 100), 5000, 100, 250
)
QUICK = Sizes((0.2, 0.6), ("Breast cancer",), 300, (5_000, 20), 1000, 20, 50)

# Paper Table 1 (accuracy %, 2-layer net 64-32) and Table 2 (attack rate %).
PAPER_T1 = {
    ("German", "ordered"): {
        "Original": 71.52,
        "Retrain": (70.56, 70.12, 70.11, 70.00),
        "PUMA": (69.08, 70.72, 70.64, 70.72),
    },
    ("German", "random"): {
        "Original": 75.16,
        "Retrain": (74.88, 73.24, 72.47, 70.00),
        "PUMA": (70.96, 73.24, 74.44, 74.28),
    },
    ("Breast cancer", "ordered"): {
        "Original": 96.45,
        "Retrain": (96.62, 96.11, 96.00, 94.85),
        "PUMA": (96.17, 95.88, 96.22, 96.62),
    },
    ("Breast cancer", "random"): {
        "Original": 96.00,
        "Retrain": (95.82, 95.54, 95.65, 95.20),
        "PUMA": (95.08, 94.91, 95.25, 95.54),
    },
}
PAPER_T2 = {  # (before, after) for Retrain and PUMA
    ("German", "ordered"): {"Retrain": (100.0, 77.12), "PUMA": (100.0, 3.42)},
    ("German", "random"): {"Retrain": (94.44, 84.44), "PUMA": (85.18, 2.22)},
    ("Breast cancer", "ordered"): {"Retrain": (100.0, 100.0), "PUMA": (100.0, 56.25)},
    ("Breast cancer", "random"): {"Retrain": (100.0, 100.0), "PUMA": (100.0, 71.25)},
}
PAPER_T3 = {  # seconds, mislabel debugging, 2-layer net on synthetic data
    "Two Moons": {"SelfInfluence": 1562.93, "NTK": 22.65, "PUMA": 7.61},
    "Radial": {"SelfInfluence": 1563.53, "NTK": 21.60, "PUMA": 7.76},
}


# ---------------------------------------------------------------- data
def load(name, seed):
    """Standardised train/test split (70/30, stratified)."""
    if name == "Breast cancer":
        X, y = load_breast_cancer_original(return_X_y=True)
        keep = ~np.isnan(X).any(axis=1)
        X, y = X[keep], y[keep]
        pre = StandardScaler()
    else:
        bunch = load_german_credit(as_frame=True)
        X, y = bunch.data, np.asarray(bunch.target)
        pre = column_encoder(
            bunch, missing="most_frequent", numeric_first=True, drop="first"
        )
    Xtr, Xte, ytr, yte = train_test_split(
        X, y, test_size=0.3, random_state=seed, stratify=y
    )
    pre.fit(Xtr)
    return (
        np.asarray(pre.transform(Xtr), dtype=np.float64),
        np.asarray(pre.transform(Xte), dtype=np.float64),
        np.asarray(ytr),
        np.asarray(yte),
    )


def mark_clusters(X, y, frac, seed):
    """Paper listing 3, extended to a quota: whole k-means clusters per class."""
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        km = KMeans(n_clusters=8, random_state=seed, n_init=10).fit(X[idx])
        sizes = np.bincount(km.labels_, minlength=8)
        quota = int(round(frac * len(idx)))
        taken = 0
        for cl in np.argsort(sizes, kind="stable"):  # smallest cluster first
            members = idx[km.labels_ == cl][: quota - taken]
            mask[members] = True
            taken += len(members)
            if taken >= quota:
                break
    return mask


def mark_random(n, frac, seed):
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).choice(n, int(round(frac * n)), False)] = True
    return mask


def attack_rate(model, X_rm, y_rm, X_te, y_te):
    """Share of removed rows a loss-threshold attack calls members."""
    if LossAttack is not None:
        attack = LossAttack().fit(model, X_te, y_te)
        return float(np.mean(attack.predict(model, X_rm, y_rm)))

    def score(X, y):  # minus the log loss of the true class
        p = model.predict_proba(X)[
            np.arange(len(y)), np.searchsorted(model.classes_, y)
        ]
        return np.log(np.maximum(p, 1e-300))

    return float(np.mean(score(X_rm, y_rm) > np.mean(score(X_te, y_te))))


# ------------------------------------------------------------ 1. removal
METHODS = {
    "PUMA": lambda: PUMA(eta=1.0, criterion="log_loss", random_state=0),
    "Newton": Newton,
    "SSSE": SSSE,
}


def removal(datasets, seeds, fractions=FRACTIONS):
    rows = []
    for name in datasets:
        for scenario in ("ordered", "random"):
            for frac in fractions:
                acc = {k: [] for k in ("Original", "Retrain", *METHODS)}
                mia = {k: [] for k in ("Before", "Retrain", *METHODS)}
                secs = {k: [] for k in ("Retrain", *METHODS)}
                for seed in seeds:
                    Xtr, Xte, ytr, yte = load(name, seed)
                    m = (
                        mark_clusters(Xtr, ytr, frac, seed)
                        if scenario == "ordered"
                        else mark_random(len(ytr), frac, seed)
                    )
                    orig = LogisticRegression().fit(Xtr, ytr)
                    acc["Original"].append(orig.score(Xte, yte))
                    mia["Before"].append(attack_rate(orig, Xtr[m], ytr[m], Xte, yte))
                    with Timer() as t:
                        ret = LogisticRegression().fit(Xtr[~m], ytr[~m])
                    secs["Retrain"].append(t.wall)
                    acc["Retrain"].append(ret.score(Xte, yte))
                    mia["Retrain"].append(attack_rate(ret, Xtr[m], ytr[m], Xte, yte))
                    for key, make in METHODS.items():
                        clf = UnlearningClassifier(LogisticRegression(), method=make())
                        clf.fit(Xtr, ytr)
                        # PUMA re-weights the remaining training rows (the
                        # paper's protocol); its model keeps none of them
                        kw = {}
                        if key == "PUMA":
                            kw = dict(X_retain=Xtr[~m], y_retain=ytr[~m])
                        with Timer() as t:
                            clf.unlearn(Xtr[m], ytr[m], **kw)
                        secs[key].append(t.wall)
                        acc[key].append(clf.score(Xte, yte))
                        mia[key].append(attack_rate(clf, Xtr[m], ytr[m], Xte, yte))
                rows.append(
                    dict(
                        dataset=name,
                        scenario=scenario,
                        frac=frac,
                        acc={k: 100 * np.mean(v) for k, v in acc.items()},
                        acc_sd={k: 100 * np.std(v) for k, v in acc.items()},
                        mia={k: 100 * np.mean(v) for k, v in mia.items()},
                        secs={k: np.median(v) for k, v in secs.items()},
                    )
                )
    return rows


def mlp(n_features, epochs, seed):
    """The paper's 2-layer net (listing 1: ReLU, 64 and 32 units) in skorch.

    Its initial weights come from ``seed`` and are shared by every clone.
    """
    return make_net(
        n_features,
        epochs=epochs,
        optimizer="adam",
        lr=1e-3,
        batch_size=64,
        weight_decay=1e-4,
        seed=seed,
    )


#: damping of the summed objective's curvature (1/n of it in the mean scale):
#: the Gauss-Newton matrix of a net with more parameters than rows is singular
#: but for the weight decay (1e-4 * n here), and undamped steps blow up
NET_DAMPING = 1.0
NET_METHODS = {
    "PUMA": lambda: PUMA(
        eta=1.0, criterion="log_loss", damping=NET_DAMPING, random_state=0
    ),
    "Newton": lambda: Newton(damping=NET_DAMPING),
    "SSSE": SSSE,
}


def removal_net(datasets, seeds, epochs, fractions=FRACTIONS):
    """The removal protocol with the 2-layer net; same rows, same tables."""
    rows = []
    for name in datasets:
        per = {}  # (scenario, frac) -> lists
        for seed in seeds:
            Xtr, Xte, ytr, yte = load(name, seed)
            Xtr, Xte = Xtr.astype(np.float32), Xte.astype(np.float32)
            fitted = {}
            fit_secs = {}
            for key, make in {"Retrain": Retrain, **NET_METHODS}.items():
                with Timer() as t:
                    fitted[key] = UnlearningClassifier(
                        mlp(Xtr.shape[1], epochs, seed), method=make()
                    ).fit(Xtr, ytr)
                fit_secs[key] = t.wall
            orig = fitted["Retrain"]
            for scenario in ("ordered", "random"):
                for frac in fractions:
                    m = (
                        mark_clusters(Xtr, ytr, frac, seed)
                        if scenario == "ordered"
                        else mark_random(len(ytr), frac, seed)
                    )
                    r = per.setdefault(
                        (scenario, frac),
                        dict(acc={}, mia={}, secs={}, fit=fit_secs),
                    )
                    r["acc"].setdefault("Original", []).append(orig.score(Xte, yte))
                    r["mia"].setdefault("Before", []).append(
                        attack_rate(orig, Xtr[m], ytr[m], Xte, yte)
                    )
                    for key, model in fitted.items():
                        clf = copy.deepcopy(model)
                        with Timer() as t:
                            clf.unlearn(
                                Xtr[m], ytr[m], X_retain=Xtr[~m], y_retain=ytr[~m]
                            )
                        r["secs"].setdefault(key, []).append(t.wall)
                        r["acc"].setdefault(key, []).append(clf.score(Xte, yte))
                        r["mia"].setdefault(key, []).append(
                            attack_rate(clf, Xtr[m], ytr[m], Xte, yte)
                        )
        for (scenario, frac), r in per.items():
            rows.append(
                dict(
                    dataset=name,
                    scenario=scenario,
                    frac=frac,
                    acc={k: 100 * np.mean(v) for k, v in r["acc"].items()},
                    acc_sd={k: 100 * np.std(v) for k, v in r["acc"].items()},
                    mia={k: 100 * np.mean(v) for k, v in r["mia"].items()},
                    secs={k: np.median(v) for k, v in r["secs"].items()},
                    fit=r["fit"],
                )
            )
    return rows


def print_removal(rows, model="LogisticRegression", section="1"):
    print(
        f"\n## {section}. Removal, {model}: test accuracy % (mean over splits), "
        "ours vs paper (2-layer net)\n"
    )
    header = ["data", "scenario", "removed", "original", "retrain", "PUMA"]
    header += ["Newton", "SSSE", "PUMA/retrain", "paper orig.", "paper retrain"]
    header += ["paper PUMA"]
    cells = []
    for r in rows:
        a, i = r["acc"], FRACTIONS.index(r["frac"])
        p = PAPER_T1[(r["dataset"], r["scenario"])]
        cells.append(
            [
                r["dataset"],
                r["scenario"],
                f"{r['frac']:.0%}",
                f"{a['Original']:.2f}",
                f"{a['Retrain']:.2f}",
                f"{a['PUMA']:.2f} ± {r['acc_sd']['PUMA']:.2f}",
                f"{a['Newton']:.2f}",
                f"{a['SSSE']:.2f}",
                f"{a['PUMA'] / a['Retrain']:.3f}",
                f"{p['Original']:.2f}",
                f"{p['Retrain'][i]:.2f}",
                f"{p['PUMA'][i]:.2f}",
            ]
        )
    print(markdown_table(header, cells))
    print(
        f"\n## {section}b. Membership attack, {model}: % of removed rows called "
        "members (before = original model)\n"
    )
    header = ["data", "scenario", "removed", "before", "retrain", "PUMA", "Newton"]
    header += ["SSSE", "paper retrain b/a", "paper PUMA b/a"]
    cells = []
    for r in rows:
        m = r["mia"]
        p = PAPER_T2[(r["dataset"], r["scenario"])]
        cells.append(
            [r["dataset"], r["scenario"], f"{r['frac']:.0%}"]
            + [f"{m[k]:.1f}" for k in ("Before", "Retrain", "PUMA", "Newton", "SSSE")]
            + [f"{p[k][0]:.1f}/{p[k][1]:.1f}" for k in ("Retrain", "PUMA")]
        )
    print(markdown_table(header, cells))
    print(
        f"\n## {section}c. Request time, {model}, ms (median over splits); "
        "retrain time / method time\n"
    )
    header = ["data", "scenario", "removed", "retrain", "PUMA", "Newton", "SSSE"]
    header += ["retrain/PUMA"]
    cells = []
    for r in rows:
        ms = {k: 1e3 * v for k, v in r["secs"].items()}
        cells.append(
            [r["dataset"], r["scenario"], f"{r['frac']:.0%}"]
            + [f"{ms[k]:.1f}" for k in ("Retrain", "PUMA", "Newton", "SSSE")]
            + [f"{ms['Retrain'] / ms['PUMA']:.2f}"]
        )
    print(markdown_table(header, cells))


def print_fit_net(rows):
    """Fit time with each method's cache (last split): the cost paid up front."""
    print("\n## 1e. Fit time, 2-layer net, s (training + the method's cache)\n")
    header = ["data", "plain fit (Retrain)", "PUMA", "Newton", "SSSE", "PUMA / plain"]
    cells, seen = [], set()
    for r in rows:
        if r["dataset"] in seen:
            continue
        seen.add(r["dataset"])
        f = r["fit"]
        cells.append(
            [r["dataset"]]
            + [f"{f[k]:.2f}" for k in ("Retrain", "PUMA", "Newton", "SSSE")]
            + [f"{f['PUMA'] / f['Retrain']:.1f}"]
        )
    print(markdown_table(header, cells))


# ------------------------------------------------------- 2. mislabelled rows
def moons(n, seed, noise=0.25):
    X, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    return PolynomialFeatures(3, include_bias=False).fit_transform(X), y


def mislabel(datasets, seeds, budgets=(0.1, 0.2, 0.3), epochs=50, n_moons=2000):
    rows = []
    for name in datasets:
        found = {}
        secs = {}
        for seed in seeds:
            net = name.endswith("(net)")
            if name == "Two moons (cubic)":
                X, y = moons(n_moons, seed)
                Xv, yv = moons(n_moons // 2, seed + 100)
            elif net:  # the paper's Figure 4 setting: raw 2-d moons, the MLP
                X, y = make_moons(n_samples=n_moons, noise=0.25, random_state=seed)
                Xv, yv = make_moons(
                    n_samples=n_moons // 2, noise=0.25, random_state=seed + 100
                )
                X, Xv = X.astype(np.float32), Xv.astype(np.float32)
            else:
                X, Xv, y, yv = load(name, seed)  # the clean test split validates
            rng = np.random.default_rng(seed)
            flipped = rng.choice(len(y), int(round(0.1 * len(y))), replace=False)
            y = y.copy()
            classes = np.unique(y)
            y[flipped] = classes[1 - np.searchsorted(classes, y[flipped])]
            if net:  # PUMA keeps the damped Gauss-Newton inverse the scores use
                model = mlp(X.shape[1], epochs, seed)
                method = NET_METHODS["PUMA"]()
            else:
                model, method = LogisticRegression(), "newton"
            clf = UnlearningClassifier(model, method=method).fit(X, y)
            rankings = rank_rows(clf, X, y, classes, (Xv, yv), rng, secs)
            for key, order in rankings.items():
                for b in budgets:
                    k = int(round(b * len(y)))
                    hit = np.isin(order[:k], flipped).sum() / len(flipped)
                    found.setdefault((key, b), []).append(hit)
            for b in budgets:
                k = int(round(b * len(y)))
                with Timer() as t:
                    S = find_mislabeled(clf, X, y, k, rank="influence")
                secs.setdefault("PUMA Alg. 2", []).append(t.wall)
                found.setdefault(("PUMA Alg. 2", b), []).append(
                    np.isin(S, flipped).sum() / len(flipped)
                )
                found.setdefault(("Alg. 2 kept", b), []).append(len(S) / k)
                S = find_mislabeled(clf, X, y, k, validation=(Xv, yv))
                found.setdefault(("Alg. 2 (val.)", b), []).append(
                    np.isin(S, flipped).sum() / len(flipped)
                )
        rows.append((name, found, secs))
    return rows


def rank_rows(clf, X, y, classes, validation, rng, secs):
    """Each ranking of the rows, most suspicious first; its time into ``secs``."""
    rows = np.arange(len(y))
    scorers = {
        "random": lambda: rng.permutation(len(y)),
        "loss": lambda: np.argsort(
            np.log(clf.predict_proba(X)[rows, np.searchsorted(classes, y)]),
            kind="stable",
        ),
        "self-influence": lambda: np.argsort(-self_influence(clf, X, y)),
        "PUMA psi": lambda: np.argsort(
            influence_scores(clf, X, y, criterion="log_loss"), kind="stable"
        ),
        "PUMA psi (val.)": lambda: np.argsort(
            influence_scores(clf, X, y, criterion="log_loss", validation=validation),
            kind="stable",
        ),
    }
    rankings = {}
    for key, rank in scorers.items():
        rankings[key], t = timed(rank)
        secs.setdefault(key, []).append(t.wall)
    return rankings


def print_mislabel(rows, budgets=(0.1, 0.2, 0.3)):
    print("\n## 2. Mislabel debugging: fraction of the 10% flipped rows found\n")
    keys = (
        "random",
        "loss",
        "self-influence",
        "PUMA psi",
        "PUMA psi (val.)",
        "PUMA Alg. 2",
        "Alg. 2 (val.)",
    )
    header = ["data", "inspected", *keys, "Alg. 2 rows kept / inspected"]
    header.append("PUMA psi (val.) / loss")
    cells = []
    for name, found, _ in rows:
        for b in budgets:
            vals = [np.mean(found[(k, b)]) for k in keys]
            kept = np.mean(found[("Alg. 2 kept", b)])
            ratio = vals[4] / max(vals[1], 1e-12)
            cells.append(
                [name, f"{b:.0%}"]
                + [f"{v:.3f}" for v in vals]
                + [f"{kept:.2f}", f"{ratio:.2f}"]
            )
    print(markdown_table(header, cells))
    print("\n## 2b. Scoring time, ms (median); paper Table 3 in seconds (net)\n")
    keys = ("loss", "self-influence", "PUMA psi", "PUMA psi (val.)", "PUMA Alg. 2")
    cells = []
    for name, _, secs in rows:
        ms = [1e3 * np.median(secs[k]) for k in keys]
        cells.append([name] + [f"{v:.2f}" for v in ms] + [f"{ms[1] / ms[2]:.1f}"])
    for name, t in PAPER_T3.items():
        cells.append(
            [f"paper: {name} (s)", "-", str(t["SelfInfluence"]), str(t["PUMA"])]
            + ["-", "-", f"{t['SelfInfluence'] / t['PUMA']:.0f}"]
        )
    print(markdown_table(["data", *keys, "self-influence / PUMA psi"], cells))


def scoring_scale(n, d, repeats=3):
    """Scoring time at scale: batched psi vs per-row gradients vs self-influence."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=d, random_state=0)
    clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    a, theta = clf.adapter_, clf.state_.theta
    y_enc = a.encode_target(y)
    v = clf.state_.curvature.solve(a.gradient(theta, X, y_enc, np.ones(n)) / n)

    def ms(f):
        return 1e3 * median_timing(f, repeats).wall

    return {
        "psi = G v, X-space": ms(lambda: influence(a, theta, X, y_enc, v)),
        "n gradients, then G v": ms(
            lambda: a.per_sample_gradients(theta, X, y_enc) @ v
        ),
        "self-influence": ms(lambda: self_influence(clf, X, y)),
        "loss": ms(lambda: clf.predict_proba(X)),
        "influence_scores (end to end)": ms(lambda: influence_scores(clf, X, y)),
    }


def print_scale(times, n, d):
    print(f"\n## 2c. Scoring time at scale, n={n}, d={d}, ms (median of 3)\n")
    t = list(times.values())
    cells = [[f"{x:.1f}" for x in t] + [f"{t[1] / t[0]:.1f}", f"{t[2] / t[0]:.1f}"]]
    header = [*times, "n gradients / psi", "self-influence / psi"]
    print(markdown_table(header, cells))


# --------------------------------------------------------- 3. calibration
def calibration(seeds, k=250, eta=1.0, n=5000, n_flips=100):
    out = []
    for seed in seeds:
        X, y = moons(n, 3 * seed)
        Xv, yv = moons(2 * n // 5, 3 * seed + 1)
        Xt, yt = moons(n, 3 * seed + 2)
        flip = np.random.default_rng(seed).choice(n, n_flips, replace=False)
        y[flip] = 1 - y[flip]
        clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
        res = {}
        for label, kw in (
            ("train ECE", {}),
            ("validation ECE", {"validation": (Xv, yv)}),
            (
                "validation ECE, keep log loss",
                {"validation": (Xv, yv), "patch_criterion": "log_loss"},
            ),
        ):
            with Timer() as dt:
                t = calibration_triage(clf, X, y, k, eta=eta, **kw)
            est = t.estimator
            res[label] = dict(
                sets=(len(t.over_confident), len(t.over_uncertain), len(t.other_noise)),
                ece=(
                    expected_calibration_error(yt, clf.predict_proba(Xt)),
                    expected_calibration_error(yt, est.predict_proba(Xt)),
                ),
                acc=(clf.score(Xt, yt), est.score(Xt, yt)),
                ms=1e3 * dt.wall,
            )
        out.append(res)
    return out


def print_calibration(results, k=250):
    print(
        f"\n## 3. Calibration patch (k={k}, eta=1): test ECE (15 bins) and accuracy"
        ", mean over splits\n"
    )
    header = ["criterion measured on", "S1/S2/S3 sizes", "ECE before", "ECE after"]
    header += ["after/before", "acc before", "acc after", "ms"]
    cells = []
    for label in results[0]:
        rs = [r[label] for r in results]
        e0, e1 = np.mean([r["ece"][0] for r in rs]), np.mean([r["ece"][1] for r in rs])
        a0, a1 = np.mean([r["acc"][0] for r in rs]), np.mean([r["acc"][1] for r in rs])
        sizes = "/".join(f"{np.mean([r['sets'][i] for r in rs]):.0f}" for i in range(3))
        ms = np.median([r["ms"] for r in rs])
        cells.append(
            [label, sizes, f"{e0:.4f}", f"{e1:.4f}", f"{e1 / e0:.2f}"]
            + [f"{a0:.4f}", f"{a1:.4f}", f"{ms:.0f}"]
        )
    print(markdown_table(header, cells))


def main(argv=None):
    parser = script_parser(
        __doc__,
        "one split, 20% and 60% removed, 2 net epochs, the net on breast cancer "
        "only, 300 two-moons rows, scale 5,000 x 20, calibration on 1,000 rows",
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--model", choices=("linear", "mlp", "both"), default="both")
    parser.add_argument(
        "--epochs", type=int, default=None, help="net epochs (default 50)"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    seeds = [0] if args.quick else list(range(args.seeds))
    epochs = args.epochs or (2 if args.quick else 50)
    print("# bench_puma\n")
    print(machine_header(args.threads))
    print(
        f"- {len(seeds)} split(s); membership attack: "
        f"{'metrics.LossAttack' if LossAttack else 'bench loss threshold'}"
    )
    if args.model in ("mlp", "both"):
        import torch  # noqa: F401  (limit_threads sets its threads)
    with limit_threads(args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", UnlearningBudgetWarning)
        _, total = timed(lambda: run(args, sizes, seeds, epochs))
    print(f"\ntotal {total.wall:.0f} s wall, {total.cpu:.0f} s CPU")


def run(args, sizes, seeds, epochs):
    if args.model in ("mlp", "both"):
        rows = removal_net(sizes.net_datasets, seeds, epochs, sizes.fractions)
        print_removal(rows, model=f"2-layer net (64-32, {epochs} epochs)", section="1d")
        print_fit_net(rows)
    if args.model == "mlp":
        return
    print_removal(removal(("Breast cancer", "German"), seeds, sizes.fractions))
    print_mislabel(
        mislabel(
            ("Breast cancer", "German", "Two moons (cubic)", "Two moons (net)"),
            seeds,
            epochs=epochs,
            n_moons=sizes.moons_rows,
        )
    )
    n, d = sizes.scale
    print_scale(scoring_scale(n, d), n, d)
    k = sizes.calibration_k
    print_calibration(
        calibration(
            seeds, k=k, n=sizes.calibration_rows, n_flips=sizes.calibration_flips
        ),
        k=k,
    )


if __name__ == "__main__":
    main()
