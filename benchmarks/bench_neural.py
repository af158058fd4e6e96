"""Unlearning a 64-32 MLP (skorch): can each method tell forgetting from doing nothing?

Every number is measured in one run, against references trained in the same
run. For each data set and each deletion request:

* **the reference** is a *coupled retrain*: the same net trained on the rows
  that remain, with the same seed (``torch.manual_seed(seed)`` right before
  ``fit``, as the unlearned model's own fit). A *second-seed retrain* (same
  rows, seed + 1) shows the noise level: how far two honest retrains lie apart.
* **quality**: mean |Δp|, the absolute difference of the predicted
  positive-class probability, to the coupled retrain on the forget rows and
  on the test rows, and the same as a **ratio to doing nothing's** (the
  original net trained on every row). The ratio is the headline: 1 means no
  better than doing nothing, 0 means the retrain itself. Targets: forget-row
  ratio <= 0.6 and test-row ratio <= 1.1 on the cluster request, both
  ratios <= 1.1 on the random request.
* **request time**: one ``unlearn`` call, wall time (``perf_counter``) and
  CPU time (``process_time``), and the speed-up retrain time / request time,
  the retrain being the coupled retrain timed in the same run (CPU and wall).
* **fit-time preparation**: ``UnlearningClassifier.fit`` time minus a plain
  ``clone(net).fit`` with the same seed in the same run, as a ratio to that
  training time (CPU and wall; the target reads the wall ratio); the cache
  (``state_.curvature.memory_bytes`` when the curvature has it) and
  ``len(pickle.dumps(clf))`` in MB; and "wrapping does not change the
  trained net": the largest |Δp| on the test rows between the wrapped net
  before any request and the plain net.
* **a second request** on the Newton model after each first request
  (another random 1% of the rows that remain): its time and its |Δp| to a
  coupled retrain without both requests' rows, on the second request's rows
  and the test rows, ratio to doing nothing's. It should be as fast and as
  good as the first.
* PASS/FAIL lines for ``Newton()`` (the library's default net method, with
  default parameters): >= 100x faster than retraining in CPU time; cluster
  forget ratio <= 0.6; cluster test ratio <= 1.1; random ratios <= 1.1;
  preparation <= training time; pickle <= 64 MB.
* **KLoM** (``--klom``, expensive: every oracle is a full training): per-row
  KL divergence of margins between an unlearned ensemble (``--unlearned``
  nets, default 4) and ``--oracles`` retrained nets with other seeds (default
  16), on at most 100 forget rows (``sklearn_unlearn.metrics.fit_oracles``,
  ``fit_unlearned``, ``klom``); median and 95th percentile per method. The
  retrain-vs-retrain row is a second ensemble of ``--unlearned`` retrained
  nets (other seeds) against the same oracles: what KLoM reports when there
  is nothing to find. **Rule**: the request has "no power" when doing
  nothing's median KLoM is at or below the retrain-vs-retrain 95th
  percentile, i.e. the typical forget row of the net that never forgot looks
  no more unlike the oracles than a retrained ensemble's rows can; KLoM then
  cannot tell any method from retraining on that request. Cost per data
  set and request: ``--oracles + (2 + n_methods) * --unlearned`` trainings
  (88 with the defaults), plus each member's fit-time preparation.

Requests (each applied to a freshly fitted model: every method's model is
fitted once and each request runs on its own ``copy.deepcopy``, not timed):
(a) a random 1% of the training rows; (b) a *cluster*: k-means
(``KMeans(n_clusters=k, random_state=0)``) on the training features of the
positive class, and the cluster whose size is closest to 3% of the training
rows among those of 2-5% (``k`` starts at ``n_positive / (3% of n)`` and
moves until such a cluster exists). The library's
``sample_forget_mask(strategy="cluster")`` takes several smallest clusters
per class, so the cluster is picked here by hand.

Data: Adult (UCI ``adult.data``, rows 0-32,560, for training; ``adult.test``
for testing; NaN as its own category, one-hot categoricals, standardised
numerics; ``--quick``: 5,000 training rows) and a synthetic set
(``make_classification``, 200,000 rows, 20 features, 10 informative,
``flip_y=0.05``, standardised, 80/20 split; ``--synthetic-rows``). German
credit and breast cancer (80/20 split) are small smoke cases (``--smoke``,
on with ``--quick``). The net: ``d -> 64 -> 32 -> 2`` ReLU, cross-entropy,
Adam lr 1e-3, weight decay 1e-4 (``--weight-decay``), batch 128, 20 epochs
(``--quick``: 5), float32, ``train_split=None``. Methods: see ``METHODS``
(edit freely; a method that raises prints its error in its row). ``--threads``
(default 1; 0 keeps the libraries' default) sets torch's and BLAS/OpenMP's
threads for everything, references included. Nothing here asserts a
timing; progress goes to stderr, the report (markdown) to stdout.

Usage::

    python benchmarks/bench_neural.py --quick                    # seconds
    python benchmarks/bench_neural.py --skip-synthetic
    python benchmarks/bench_neural.py --klom                     # the full run
    python benchmarks/bench_neural.py --device cuda --synthetic-rows 1000000
"""

from __future__ import annotations

import copy
import pickle
import sys
from dataclasses import dataclass, field

import numpy as np
import torch
from _common import (
    Timing,
    categorical_as_object,
    column_encoder,
    limit_threads,
    log,
    machine_header,
    markdown_table,
    script_parser,
    timed,
)
from _common import make_net as _make_net
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.datasets import make_classification
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.datasets import (
    load_adult,
    load_breast_cancer_original,
    load_german_credit,
)
from sklearn_unlearn.methods import SSSE, FirstOrder, GradientAscent, Newton, Retrain
from sklearn_unlearn.metrics import fit_oracles, fit_unlearned, klom, margins

#: The methods compared (display name -> method object or shortcut string such
#: as ``"newton"``); each is wrapped as ``UnlearningClassifier(net, method=...)``.
METHODS = {
    "Newton": Newton(),
    "SSSE": SSSE(),
    "FirstOrder": FirstOrder(),
    "GradientAscent": GradientAscent(lr=0.01, epochs=1, random_state=0),
    "Retrain": Retrain(),
}
#: The method the PASS/FAIL lines and the second request are about.
HEADLINE = "Newton"
NOTHING = "do nothing"
NOISE = "second-seed retrain (noise)"
ADULT_TRAIN_ROWS = 32_561  # UCI adult.data; the rest is adult.test
TARGETS = dict(speedup=100.0, cluster_forget=0.6, cluster_test=1.1, random=1.1)
TARGETS.update(prep=1.0, pickle_mb=64.0)


# ------------------------------------------------------------------ the net
def make_net(d, cfg):
    """The unfitted skorch classifier every model of a data set starts from."""
    return _make_net(
        d,
        epochs=cfg.epochs,
        optimizer="adam",
        lr=1e-3,
        weight_decay=cfg.weight_decay,
        batch_size=128,
        device=cfg.device,
    )


# --------------------------------------------------------------------- data
@dataclass
class Dataset:
    name: str
    Xtr: np.ndarray
    ytr: np.ndarray
    Xte: np.ndarray
    yte: np.ndarray


def as_dataset(name, Xtr, ytr, Xte, yte):
    """float32 features and int64 labels, as the net consumes them."""
    f, i = np.float32, np.int64
    return Dataset(name, Xtr.astype(f), ytr.astype(i), Xte.astype(f), yte.astype(i))


def _subsample(rows, n, seed):
    """``n`` of ``rows`` drawn at random, in order (all of them for ``None``)."""
    if n is None or n >= len(rows):
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, n, replace=False))


def adult(n_train, seed, n_test=None):
    """Adult: train on ``adult.data`` (or ``n_train`` of its rows), test on the rest
    (or ``n_test`` of its rows)."""
    b = load_adult(as_frame=True)
    ct = column_encoder(b)
    X = categorical_as_object(b)
    y = np.asarray(b.target)
    train = _subsample(np.arange(ADULT_TRAIN_ROWS), n_train, seed)
    test = _subsample(np.arange(ADULT_TRAIN_ROWS, len(y)), n_test, seed + 1)
    Xtr = ct.fit_transform(X.iloc[train])
    Xte = ct.transform(X.iloc[test])
    name = f"Adult ({len(train):,} adult.data rows)"
    return as_dataset(name, Xtr, y[train], Xte, y[test])


def split(name, X, y, seed, max_rows=None):
    """Stratified 80/20 train/test split (of ``max_rows`` rows drawn at random)."""
    keep = _subsample(np.arange(len(y)), max_rows, seed)
    Xtr, Xte, ytr, yte = train_test_split(
        X[keep], y[keep], test_size=0.2, random_state=seed, stratify=y[keep]
    )
    return as_dataset(name, Xtr, ytr, Xte, yte)


def synthetic(n, seed):
    X, y = make_classification(
        n_samples=n, n_features=20, n_informative=10, flip_y=0.05, random_state=seed
    )
    return split(f"synthetic ({n:,} rows)", StandardScaler().fit_transform(X), y, seed)


def german_credit(seed, max_rows=None):
    b = load_german_credit(as_frame=True)
    X = column_encoder(b).fit_transform(categorical_as_object(b))
    return split("German credit", X, np.asarray(b.target), seed, max_rows)


def breast_cancer(seed, max_rows=None):
    b = load_breast_cancer_original()
    X = np.asarray(b.data, dtype=np.float64)
    X = SimpleImputer(strategy="median").fit_transform(X)  # 16 bare-nuclei gaps
    X = StandardScaler().fit_transform(X)
    return split("breast cancer", X, np.asarray(b.target), seed, max_rows)


# ----------------------------------------------------------------- requests
@dataclass
class Request:
    name: str
    forget: np.ndarray  # bool mask over the training rows
    note: str


def random_rows(n, frac, rng, among=None):
    """A mask of ``round(frac * n)`` rows drawn at random (from ``among``)."""
    among = np.arange(n) if among is None else among
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(among, max(1, round(frac * n)), replace=False)] = True
    return mask


def random_request(data, seed):
    mask = random_rows(len(data.ytr), 0.01, np.random.default_rng(seed))
    return Request("random 1%", mask, f"{mask.sum():,} rows drawn at random")


def cluster_request(data, target=0.03, low=0.02, high=0.05, positive=1):
    """The positive-class k-means cluster closest to ``target`` of the rows.

    Only clusters holding ``low``-``high`` of the training rows qualify; the
    number of clusters starts at ``n_positive / (target * n)`` and moves
    outwards (k, k+1, k-1, k+2, ...) until one qualifies.
    """
    n = len(data.ytr)
    rows = np.flatnonzero(data.ytr == positive)
    start = max(2, round(len(rows) / (target * n)))
    tried = []
    for step in range(12):
        k = start + (step + 1) // 2 * (1 if step % 2 else -1)
        if k < 2 or k > len(rows) or k in tried:
            continue
        tried.append(k)
        labels = KMeans(n_clusters=k, n_init="auto", random_state=0).fit_predict(
            data.Xtr[rows]
        )
        share = np.bincount(labels, minlength=k) / n
        ok = np.flatnonzero((share >= low) & (share <= high))
        if len(ok):
            best = ok[np.argmin(np.abs(share[ok] - target))]
            mask = np.zeros(n, dtype=bool)
            mask[rows[labels == best]] = True
            note = (
                f"{mask.sum():,} rows ({share[best]:.1%}), cluster of class "
                f"{positive}, k-means k={k}"
            )
            return Request("cluster", mask, note)
    raise RuntimeError(f"no cluster of {low:.0%}-{high:.0%} of the rows (k={tried})")


# ------------------------------------------------------------- measurements
def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def fit_seeded(model, X, y, seed, device):
    """``model.fit(X, y)`` right after ``torch.manual_seed(seed)``, timed."""

    def fit():
        torch.manual_seed(seed)
        return model.fit(X, y)

    return timed(fit, lambda: sync(device))


def proba(model, X):
    """Predicted probability of the positive class (label 1)."""
    return np.asarray(model.predict_proba(X), dtype=np.float64)[:, 1]


def predictions(model, data, rows):
    """Positive-class probabilities on the given training rows and the test rows."""
    return {"forget": proba(model, data.Xtr[rows]), "test": proba(model, data.Xte)}


def gaps(p, ref):
    """Mean |Δp| to the reference, per group of rows."""
    return {k: float(np.mean(np.abs(p[k] - ref[k]))) for k in ref}


def accuracy(model, data):
    return float(np.mean(model.predict(data.Xte) == data.yte))


def short_error(exc, width=90):
    text = f"{type(exc).__name__}: {exc}".replace("|", "/").replace("\n", " ")
    return text if len(text) <= width else text[: width - 3] + "..."


# ---------------------------------------------------------------- references
@dataclass
class Reference:
    """The coupled retrain of one request, and what doing nothing scores."""

    request: Request
    retrain: Timing
    p_retrain: dict
    nothing: dict  # |Δp| of the original net
    noise: dict  # |Δp| of the second-seed retrain
    noise_retrain: Timing  # its fit time: how much a retrain's time varies
    second: dict | None = None  # the follow-up request's reference (see below)


def retrain_reference(net, plain, data, forget, seed, device, rows=None, noise=True):
    """Coupled retrain without ``forget``: its time, predictions and the baselines.

    Predictions are read on ``rows`` (default: the ``forget`` rows) and on
    the test rows.
    """
    rows = forget if rows is None else rows
    keep = ~forget
    Xk, yk = data.Xtr[keep], data.ytr[keep]
    coupled, t = fit_seeded(clone(net), Xk, yk, seed, device)
    p_ref = predictions(coupled, data, rows)
    out = dict(
        retrain=t,
        p_retrain=p_ref,
        nothing=gaps(predictions(plain, data, rows), p_ref),
        noise=None,
        noise_retrain=None,
    )
    if noise:
        other, out["noise_retrain"] = fit_seeded(clone(net), Xk, yk, seed + 1, device)
        out["noise"] = gaps(predictions(other, data, rows), p_ref)
    return out


def second_reference(net, plain, data, first, seed, device):
    """Another random 1% of the rows left after ``first``, and its coupled retrain.

    The retrain leaves out both requests' rows; |Δp| is read on the second
    request's rows.
    """
    rng = np.random.default_rng(seed + 7)
    second = random_rows(len(data.ytr), 0.01, rng, among=np.flatnonzero(~first))
    ref = retrain_reference(
        net, plain, data, first | second, seed, device, rows=second, noise=False
    )
    ref["mask"] = second
    return ref


# ------------------------------------------------------------------ methods
@dataclass
class Outcome:
    """One method on one request."""

    gaps: dict | None = None
    time: Timing | None = None
    accuracy: float | None = None
    error: str | None = None


@dataclass
class MethodRun:
    """One method: its fit, and an outcome per request."""

    fit: Timing | None = None
    wrap_diff: float | None = None
    cache_mb: float | None = None
    pickle_mb: float | None = None
    note: str = ""  # the cached curvature and the fit's ledger notes
    error: str | None = None
    outcomes: dict = field(default_factory=dict)
    second: dict = field(default_factory=dict)  # request name -> Outcome


def needs_retain(clf):
    method = clf.method_
    return bool(
        getattr(method, "requires_retained_data", False)
        or getattr(method, "refine", 0)
        or isinstance(method, Retrain)
    )


def cache_megabytes(clf):
    size = getattr(clf.state_.curvature, "memory_bytes", None)
    if callable(size):
        size = size()
    return None if size is None else size / 2**20


def fit_method(net, method, plain, data, seed, device):
    """Wrap and fit; record the fit time, cache, pickle and the wrapping check."""
    run = MethodRun()
    clf = UnlearningClassifier(clone(net), method=method)
    try:
        clf, run.fit = fit_seeded(clf, data.Xtr, data.ytr, seed, device)
    except Exception as exc:  # reported in the method's row
        run.error = short_error(exc)
        return None, run
    run.wrap_diff = float(np.max(np.abs(proba(clf, data.Xte) - proba(plain, data.Xte))))
    run.cache_mb = cache_megabytes(clf)
    run.pickle_mb = len(pickle.dumps(clf)) / 2**20
    run.note = describe_fit(clf)
    return clf, run


def describe_fit(clf):
    """The cached curvature's type (and kind, rank, damping) and the fit's notes."""
    cur = clf.state_.curvature
    if cur is None:
        return ""
    parts = [type(cur).__name__]
    for attr in ("kind", "rank", "damping"):
        value = getattr(cur, attr, None)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            parts.append(
                f"{attr}={value:.3g}" if isinstance(value, float) else f"{attr}={value}"
            )
    notes = getattr(clf.ledger_[0], "notes", ()) if len(clf.ledger_) else ()
    return " ".join(parts) + "".join(f"; {n}" for n in notes)


def apply_request(clf, data, forget, p_ref, device, also_forgotten=None):
    """``clf.unlearn`` the rows of ``forget``, timed; |Δp| to the reference."""
    keep = ~forget if also_forgotten is None else ~(forget | also_forgotten)
    kw = {}
    if needs_retain(clf):
        kw = dict(X_retain=data.Xtr[keep], y_retain=data.ytr[keep])
    Xf, yf = data.Xtr[forget], data.ytr[forget]
    try:
        _, t = timed(lambda: clf.unlearn(Xf, yf, **kw), lambda: sync(device))
    except Exception as exc:  # reported in the method's row
        return Outcome(error=short_error(exc))
    p = predictions(clf, data, forget)
    return Outcome(gaps(p, p_ref), t, accuracy(clf, data))


def run_method(name, method, net, plain, data, refs, cfg):
    """Fit one method once; each request on its own copy of the fitted model."""
    log(f"  {name}: fit")
    clf, run = fit_method(net, method, plain, data, cfg.seed, cfg.device)
    if clf is None:
        log(f"  {name}: fit failed: {run.error}")
        return run
    for i, ref in enumerate(refs):
        req = ref.request
        model = clf if i == len(refs) - 1 else copy.deepcopy(clf)
        log(f"  {name}: {req.name} request")
        out = apply_request(model, data, req.forget, ref.p_retrain, cfg.device)
        run.outcomes[req.name] = out
        if ref.second is not None and name == HEADLINE and out.error is None:
            s = ref.second
            log(f"  {name}: second request after the {req.name} request")
            run.second[req.name] = apply_request(
                model, data, s["mask"], s["p_retrain"], cfg.device, req.forget
            )
        del model
    return run


# --------------------------------------------------------------------- KLoM
def klom_scores(net, data, forget, cfg):
    """KLoM median and p95 per row group: noise, do nothing, each method."""
    rng = np.random.default_rng(cfg.seed)
    rows = np.flatnonzero(forget)
    rows = np.sort(rng.choice(rows, min(cfg.klom_rows, len(rows)), replace=False))
    Xs, ys = data.Xtr[rows], data.ytr[rows]
    kw = dict(n_jobs=1, progress=False)
    pool = (data.Xtr, data.ytr, forget)
    log(f"  KLoM: {cfg.oracles} oracles")
    oracles = fit_oracles(
        net, *pool, n_models=cfg.oracles, random_state=cfg.seed + 1, **kw
    )
    O = np.stack([margins(m, Xs, ys) for m in oracles])
    del oracles

    def summary(models):
        v = klom(models, O, Xs, ys)
        return float(np.median(v)), float(np.percentile(v, 95))

    n = cfg.unlearned
    out = {}
    log("  KLoM: retrain-vs-retrain and do-nothing ensembles")
    out[NOISE] = summary(
        fit_oracles(net, *pool, n_models=n, random_state=cfg.seed + 2, **kw)
    )
    out[NOTHING] = summary(
        fit_unlearned(net, *pool, n_models=n, random_state=cfg.seed + 3, **kw)
    )
    for name, method in METHODS.items():
        log(f"  KLoM: {name}")
        try:
            clf = UnlearningClassifier(net, method=method)
            models = fit_unlearned(
                clf, *pool, n_models=n, random_state=cfg.seed + 3, **kw
            )
            out[name] = summary(models)
        except Exception as exc:  # reported in the method's row
            out[name] = short_error(exc)
    return out, len(rows)


# ---------------------------------------------------------------- reporting
def fmt(x, spec=".4f"):
    return "—" if x is None else format(x, spec)


def fmt_ms(seconds):
    if seconds is None:
        return "—"
    ms = seconds * 1e3
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.2f}" if ms < 10 else f"{ms:.1f}"


def fmt_speed(ratio):
    if ratio is None:
        return "—"
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2f}x"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def table(header, rows):
    return markdown_table(header, rows, numeric=True)


def gap_cells(g, nothing):
    """|Δp| forget, ratio, |Δp| test, ratio."""
    if g is None:
        return ["—"] * 4
    cells = []
    for key in ("forget", "test"):
        cells += [fmt(g[key]), fmt(ratio(g[key], nothing[key]), ".2f")]
    return cells


def error_cells(error, width):
    return [f"error: {error}"] + [""] * (width - 1)


def quality_table(refs, runs, plain_accuracy):
    header = ["method"]
    for ref in refs:
        r = ref.request.name
        header += [f"{r}: forget \\|Δp\\|", "ratio", "test \\|Δp\\|", "ratio"]
    header.append("test acc")
    rows = []
    for label, key in ((NOISE, "noise"), (NOTHING, "nothing")):
        cells = [label]
        for ref in refs:
            cells += gap_cells(getattr(ref, key), ref.nothing)
        rows.append(cells + [fmt(plain_accuracy, ".3f") if key == "nothing" else ""])
    for name, run in runs.items():
        if run.error:
            rows.append([name] + error_cells(run.error, len(header) - 1))
            continue
        cells, accs = [name], []
        for ref in refs:
            out = run.outcomes[ref.request.name]
            if out.error:
                cells += error_cells(out.error, 4)
            else:
                cells += gap_cells(out.gaps, ref.nothing)
            accs.append(fmt(out.accuracy, ".3f"))
        rows.append(cells + [" / ".join(accs)])
    return table(header, rows)


def time_table(refs, runs):
    header = ["method"]
    for ref in refs:
        r = ref.request.name
        header += [f"{r}: wall ms", "CPU ms", "speed-up CPU", "speed-up wall"]
    cells = ["coupled retrain"]
    for ref in refs:
        cells += [fmt_ms(ref.retrain.wall), fmt_ms(ref.retrain.cpu), "1x", "1x"]
    rows = [cells]
    cells = ["second-seed retrain (timing noise)"]
    for ref in refs:
        t = ref.noise_retrain
        cells += [fmt_ms(t.wall), fmt_ms(t.cpu)]
        cells += [fmt_speed(ratio(ref.retrain.cpu, t.cpu))]
        cells += [fmt_speed(ratio(ref.retrain.wall, t.wall))]
    rows.append(cells)
    for name, run in runs.items():
        if run.error:
            rows.append([name] + error_cells(run.error, len(header) - 1))
            continue
        cells = [name]
        for ref in refs:
            t = run.outcomes[ref.request.name].time
            if t is None:
                cells += ["—"] * 4
                continue
            cells += [fmt_ms(t.wall), fmt_ms(t.cpu)]
            cells += [fmt_speed(ratio(ref.retrain.cpu, t.cpu))]
            cells += [fmt_speed(ratio(ref.retrain.wall, t.wall))]
        rows.append(cells)
    return table(header, rows)


def prep_ratios(run, train):
    if run.fit is None:
        return None, None
    cpu = (run.fit.cpu - train.cpu) / train.cpu
    wall = (run.fit.wall - train.wall) / train.wall
    return cpu, wall


def fit_table(runs, train):
    header = ["method", "fit wall s", "prep / training (CPU)", "prep / training (wall)"]
    header += ["wrapped vs plain max \\|Δp\\|", "cache MB", "pickle MB"]
    rows = [
        ["plain skorch fit (training)", f"{train.wall:.2f}", "0", "0", "—", "—", "—"]
    ]
    for name, run in runs.items():
        if run.error:
            rows.append([name] + error_cells(run.error, len(header) - 1))
            continue
        cpu, wall = prep_ratios(run, train)
        rows.append(
            [
                name,
                f"{run.fit.wall:.2f}",
                fmt(cpu, ".2f"),
                fmt(wall, ".2f"),
                fmt(run.wrap_diff, ".1e"),
                fmt(run.cache_mb, ".1f"),
                fmt(run.pickle_mb, ".2f"),
            ]
        )
    return table(header, rows)


def second_table(refs, run):
    header = ["first request", "second request", "wall ms", "CPU ms"]
    header += ["speed-up CPU", "forget \\|Δp\\|", "ratio", "test \\|Δp\\|", "ratio"]
    header += ["first request's ratios (forget / test)"]
    rows = []
    for ref in refs:
        out = run.second.get(ref.request.name)
        if out is None or ref.second is None:
            continue
        s = ref.second
        cells = [ref.request.name, f"random 1% ({s['mask'].sum():,} rows)"]
        if out.error:
            rows.append(cells + error_cells(out.error, len(header) - 2))
            continue
        cells += [fmt_ms(out.time.wall), fmt_ms(out.time.cpu)]
        cells += [fmt_speed(ratio(s["retrain"].cpu, out.time.cpu))]
        cells += gap_cells(out.gaps, s["nothing"])
        first = run.outcomes[ref.request.name].gaps
        firsts = [
            fmt(ratio(first[k], ref.nothing[k]), ".2f") for k in ("forget", "test")
        ]
        rows.append(cells + [" / ".join(firsts)])
    return table(header, rows)


def verdict(ok):
    return "—" if ok is None else "PASS" if ok else "FAIL"


def check(value, limit, lower=True):
    if value is None:
        return None
    return value <= limit if lower else value >= limit


def headline_lines(refs, run, train):
    """PASS/FAIL of the headline method against each target."""
    if run is None:
        return [f"- {HEADLINE}: not among the methods"]
    if run.error:
        return [f"- {HEADLINE}: FAIL (fit raised: {run.error})"]
    lines = []
    by_name = {ref.request.name: ref for ref in refs}
    for name, ref in by_name.items():
        t = run.outcomes[name].time
        speed = None if t is None else ratio(ref.retrain.cpu, t.cpu)
        lines.append(
            f"- {verdict(check(speed, TARGETS['speedup'], lower=False))}: {name} "
            f"request >= {TARGETS['speedup']:.0f}x faster than retraining in CPU "
            f"time ({fmt_speed(speed)})"
        )

    def ratio_of(req, key):
        out = run.outcomes.get(req)
        if out is None or out.gaps is None:
            return None
        return ratio(out.gaps[key], by_name[req].nothing[key])

    checks = [
        ("cluster", "forget", TARGETS["cluster_forget"]),
        ("cluster", "test", TARGETS["cluster_test"]),
        ("random 1%", "forget", TARGETS["random"]),
        ("random 1%", "test", TARGETS["random"]),
    ]
    for req, key, limit in checks:
        if req not in by_name:
            continue
        r = ratio_of(req, key)
        lines.append(
            f"- {verdict(check(r, limit))}: {req} {key}-row ratio to doing nothing "
            f"<= {limit} ({fmt(r, '.2f')})"
        )
    cpu, wall = prep_ratios(run, train)
    lines.append(
        f"- {verdict(check(wall, TARGETS['prep']))}: preparation <= training time "
        f"(prep / training: wall {fmt(wall, '.2f')}, CPU {fmt(cpu, '.2f')})"
    )
    lines.append(
        f"- {verdict(check(run.pickle_mb, TARGETS['pickle_mb']))}: pickle <= "
        f"{TARGETS['pickle_mb']:.0f} MB ({fmt(run.pickle_mb, '.2f')} MB)"
    )
    return lines


def klom_table(scores):
    """One row per model group; one (median, p95) pair per request."""
    names = list(scores)
    header = ["method"]
    for req, (_, n_rows) in scores.items():
        header += [f"{req} ({n_rows} rows): KLoM median", "p95"]
    rows = []
    for key in [NOISE, NOTHING] + list(METHODS):
        cells = [key if key != NOISE else "retrain vs retrain (noise)"]
        for req in names:
            v = scores[req][0].get(key)
            if isinstance(v, str):
                cells += [f"error: {v}", ""]
            elif v is None:
                cells += ["—", "—"]
            else:
                cells += [f"{v[0]:.3f}", f"{v[1]:.3f}"]
        rows.append(cells)
    lines = [table(header, rows), ""]
    for req in names:
        s = scores[req][0]
        nothing, noise = s[NOTHING][0], s[NOISE][1]
        power = "has power" if nothing > noise else "no power"
        lines.append(
            f"- {req}: KLoM {power} (do-nothing median {nothing:.3f} vs "
            f"retrain-vs-retrain p95 {noise:.3f})"
        )
    return "\n".join(lines)


# -------------------------------------------------------------------- a run
def warm_up(net, data, device):
    """One tiny fit, so that first-call costs stay out of the timings."""
    torch.manual_seed(0)
    clone(net).set_params(max_epochs=1).fit(data.Xtr[:256], data.ytr[:256])
    sync(device)


def references(net, plain, data, requests, cfg):
    refs = []
    for req in requests:
        log(f"  {req.name}: coupled and second-seed retrains")
        ref = Reference(
            req, **retrain_reference(net, plain, data, req.forget, cfg.seed, cfg.device)
        )
        if HEADLINE in METHODS:
            log(f"  {req.name}: follow-up request's coupled retrain")
            ref.second = second_reference(
                net, plain, data, req.forget, cfg.seed, cfg.device
            )
        refs.append(ref)
    return refs


def bench_dataset(data, cfg):
    """Every measurement on one data set, printed as markdown."""
    n, d = data.Xtr.shape
    net = make_net(d, cfg)
    log(f"{data.name}: {n:,} training rows, {d} features")
    warm_up(net, data, cfg.device)
    plain, train = fit_seeded(clone(net), data.Xtr, data.ytr, cfg.seed, cfg.device)
    requests = [random_request(data, cfg.seed), cluster_request(data)]
    refs = references(net, plain, data, requests, cfg)
    runs = {
        name: run_method(name, method, net, plain, data, refs, cfg)
        for name, method in METHODS.items()
    }
    p = sum(t.numel() for t in plain.module_.parameters())
    print(
        f"\n## {data.name}: {n:,} training rows, {len(data.yte):,} test rows, "
        f"{d} features, p = {p:,}, {cfg.epochs} epochs\n"
    )
    for ref in refs:
        print(f"- {ref.request.name} request: {ref.request.note}")
    print(
        f"- plain training: {train.wall:.2f} s wall, {train.cpu:.2f} s CPU; test "
        f"accuracy {accuracy(plain, data):.3f}"
    )
    print(
        "\nForgetting: mean |Δp| to the coupled retrain, and its ratio to doing "
        "nothing's (headline; the noise row is a retrain with another seed)\n"
    )
    print(quality_table(refs, runs, accuracy(plain, data)))
    print("\nRequest time: one `unlearn` call; speed-up = coupled retrain / request\n")
    print(time_table(refs, runs))
    print(
        "\nFit-time preparation (fit minus the plain training, over the training)"
        ", cache and pickle\n"
    )
    print(fit_table(runs, train))
    notes = [f"- {name}: {run.note}" for name, run in runs.items() if run.note]
    if notes:
        print("\n" + "\n".join(notes))
    if HEADLINE in runs and runs[HEADLINE].second:
        print(
            f"\nA second request on the {HEADLINE} model (its rows and the test "
            "rows, against a coupled retrain without both requests' rows)\n"
        )
        print(second_table(refs, runs[HEADLINE]))
    print(f"\n{HEADLINE} ({METHODS.get(HEADLINE)!r}) against the targets:\n")
    print("\n".join(headline_lines(refs, runs.get(HEADLINE), train)))
    if cfg.klom:
        scores = {r.name: klom_scores(net, data, r.forget, cfg) for r in requests}
        print(
            f"\nKLoM on the forget rows: {cfg.unlearned} unlearned nets per method "
            f"vs {cfg.oracles} oracles\n"
        )
        print(klom_table(scores))
    sys.stdout.flush()


def datasets(cfg):
    """The data sets of this run, as loaders (each built only when its turn comes)."""
    out = [lambda: adult(cfg.adult_rows, cfg.seed, cfg.adult_test_rows)]
    if not cfg.skip_synthetic:
        out.append(lambda: synthetic(cfg.synthetic_rows, cfg.seed))
    if cfg.smoke:
        out += [
            lambda: german_credit(cfg.seed, cfg.smoke_rows),
            lambda: breast_cancer(cfg.seed, cfg.smoke_rows),
        ]
    return out


def header(cfg):
    print("# Unlearning a 64-32 MLP: each method against a coupled retrain\n")
    print(machine_header(cfg.threads, extra=[f"- device {cfg.device}"]))
    print(
        f"- net d-64-32-2 ReLU, Adam lr 1e-3, weight decay {cfg.weight_decay:g}, "
        f"batch 128, {cfg.epochs} epochs, float32; seed {cfg.seed}"
    )
    print(f"- methods: {', '.join(f'{k} = {v!r}' for k, v in METHODS.items())}")


def parse_args(argv=None):
    parser = script_parser(
        __doc__,
        "2 epochs; Adult 250 training and 1,000 test rows, 300 rows of the "
        "synthetic and smoke sets; KLoM with 2 oracles and 2 nets per method",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="also run German credit and breast cancer"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--synthetic-rows", type=int, default=None)
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument(
        "--adult-rows",
        type=int,
        default=None,
        help="training rows drawn from adult.data (default: all)",
    )
    parser.add_argument(
        "--adult-test-rows",
        type=int,
        default=None,
        help="test rows drawn from adult.test (default: all)",
    )
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--klom", action="store_true", help="KLoM ensembles (slow)")
    parser.add_argument("--oracles", type=int, default=None, help="default 16")
    parser.add_argument("--unlearned", type=int, default=None, help="default 4")
    parser.add_argument("--klom-rows", type=int, default=None, help="default 100")
    parser.add_argument("--seed", type=int, default=0)
    cfg = parser.parse_args(argv)
    quick = cfg.quick
    defaults = dict(
        epochs=(2, 20),
        synthetic_rows=(300, 200_000),
        oracles=(2, 16),
        unlearned=(2, 4),
        klom_rows=(20, 100),
    )
    for key, (small, full) in defaults.items():
        if getattr(cfg, key) is None:
            setattr(cfg, key, small if quick else full)
    if quick:
        cfg.adult_rows = cfg.adult_rows or 250
        cfg.adult_test_rows = cfg.adult_test_rows or 1_000
    cfg.smoke_rows = 300 if quick else None
    cfg.smoke = cfg.smoke or quick
    cfg.klom = cfg.klom or quick
    return cfg


def main(argv=None):
    cfg = parse_args(argv)
    with limit_threads(cfg.threads):
        header(cfg)
        for load in datasets(cfg):
            bench_dataset(load(), cfg)


if __name__ == "__main__":
    main()
