"""Unlearning a 64-32 MLP (skorch): each method against retraining, side by side.

The neural-net issue's acceptance, in one run:

* **time**: one deletion request of 1% of the training rows with each
  method, against retraining the same net from scratch on the rows that
  remain (same epochs, same settings); the methods' preparation at fit (the
  curvature) is reported apart. With the cached exact curvature
  (``Newton(curvature="cholesky")``) the request should be at least 100x
  faster than retraining: printed PASS/FAIL per data set. A stream of five
  more 1% requests shows the pending weight-decay shift (Neumann steps) and
  any refactorisation.
* **forgetting quality**: KLoM on the forget set (per-row KL divergence of
  margins, unlearned ensemble vs an ensemble of retrained nets with other
  seeds; ``sklearn_unlearn.metrics.klom``), median and 95th percentile per
  method, for "do nothing" (the net trained on every row) and for
  retrain-vs-retrain (other retrained nets: the noise floor); test accuracy
  before and after the request.
* **per-sample gradients** of 20,000 rows against one batched forward and
  backward (``bench_per_sample_gradients.py``, run from here).

Data: the bundled German credit (one-hot categorical columns, standardised
numeric ones: 61 features), breast cancer (Wisconsin original, 9 features)
and a synthetic set of 20,000 rows (``make_classification``, 20 features);
80/20 train/test split; the forget set is 1% of the training rows, drawn at
random. The net: ``d -> 64 -> 32 -> 2`` ReLU, cross-entropy, SGD lr 0.05,
weight decay 1e-3, batch 128, float32, ``train_split=None``.
Nothing here asserts a timing.

Usage::

    python benchmarks/bench_neural.py --quick
    python benchmarks/bench_neural.py            # the full run
    python benchmarks/bench_neural.py --device cuda --synthetic-rows 1000000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from skorch import NeuralNetClassifier
from torch import nn

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.datasets import load_breast_cancer_original, load_german_credit
from sklearn_unlearn.methods import SSSE, FirstOrder, Newton, Retrain
from sklearn_unlearn.metrics import fit_oracles, fit_unlearned, klom

try:  # methods being added by another engineer: used when importable
    from sklearn_unlearn.methods import GradientAscent, OracleMatching, WeightPruning
except ImportError:  # pragma: no cover
    GradientAscent = OracleMatching = WeightPruning = None


class MLP(nn.Module):
    """``d -> 64 -> 32 -> 2`` with ReLU."""

    def __init__(self, d=10):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(d, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 2)
        )

    def forward(self, x):
        return self.layers(x)


def make_net(d, epochs, device):
    return NeuralNetClassifier(
        MLP,
        module__d=d,
        criterion=nn.CrossEntropyLoss,
        max_epochs=epochs,
        lr=0.05,
        batch_size=128,
        optimizer__weight_decay=1e-3,
        train_split=None,
        verbose=0,
        device=device,
    )


# ------------------------------------------------------------------- data
def german_credit():
    b = load_german_credit(as_frame=True)
    ct = ColumnTransformer(
        [
            ("cat", OneHotEncoder(sparse_output=False), b.categorical_features),
            ("num", StandardScaler(), b.numerical_features),
        ]
    )
    return ct.fit_transform(b.data), np.asarray(b.target)


def breast_cancer():
    b = load_breast_cancer_original()
    X = np.asarray(b.data, dtype=np.float64)
    X = SimpleImputer(strategy="median").fit_transform(X)  # 16 bare-nuclei gaps
    return StandardScaler().fit_transform(X), np.asarray(b.target)


def synthetic(n):
    X, y = make_classification(
        n_samples=n, n_features=20, n_informative=10, flip_y=0.05, random_state=0
    )
    return StandardScaler().fit_transform(X), y


def split(X, y, seed=0):
    Xtr, Xte, ytr, yte = train_test_split(
        X.astype(np.float32),
        y.astype(np.int64),
        test_size=0.2,
        random_state=seed,
        stratify=y,
    )
    rng = np.random.default_rng(seed)
    forget = np.zeros(len(ytr), dtype=bool)
    forget[rng.choice(len(ytr), max(1, round(0.01 * len(ytr))), replace=False)] = True
    return Xtr, ytr, Xte, yte, forget


# ---------------------------------------------------------------- methods
def methods(quick):
    out = {
        "Newton (cholesky)": Newton(curvature="cholesky"),
        "Newton (cg)": Newton(
            curvature="cg", solver_options={"rtol": 1e-4, "max_iter": 100}
        ),
        "SSSE": SSSE(epsilon=1.0, damping=1e-4),
        "FirstOrder": FirstOrder(),
    }
    if GradientAscent is not None:
        out["GradientAscent"] = GradientAscent(lr=0.01, epochs=1, random_state=0)
        out["WeightPruning"] = WeightPruning(random_state=0)
        out["OracleMatching"] = OracleMatching(random_state=0)
    out["Retrain"] = Retrain()
    return out


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def accuracy(model, X, y):
    return float(np.mean(model.predict(X) == y))


def time_methods(net, data, device, n_stream):
    """Request and preparation time of each method, and accuracy before/after."""
    Xtr, ytr, Xte, yte, forget = data
    keep = ~forget
    Xf, yf, Xk, yk = Xtr[forget], ytr[forget], Xtr[keep], ytr[keep]
    clone(net).set_params(max_epochs=1).fit(Xk[:256], yk[:256])  # warm-up
    times = []
    for seed in (0, 1):  # the faster of two retrains
        torch.manual_seed(seed)
        sync(device)
        t0 = time.perf_counter()
        retrained = clone(net).fit(Xk, yk)
        sync(device)
        times.append(time.perf_counter() - t0)
    t_retrain = min(times)
    rows = {"retrain from scratch": dict(request=t_retrain, prep=0.0)}
    rows["retrain from scratch"]["acc_after"] = accuracy(retrained, Xte, yte)
    notes = []
    for name, method in methods(False).items():
        clf = UnlearningClassifier(clone(net), method=method)
        torch.manual_seed(0)
        t0 = time.perf_counter()
        clf.fit(Xtr, ytr)
        sync(device)
        fit_s = time.perf_counter() - t0
        train_s = float(sum(clf.estimator_.history[:, "dur"]))
        before = accuracy(clf, Xte, yte)
        kw = {}
        if clf.method_.requires_retained_data or isinstance(method, Retrain):
            kw = dict(X_retain=Xk, y_retain=yk)
        t0 = time.perf_counter()
        clf.unlearn(Xf, yf, **kw)
        sync(device)
        t_req = time.perf_counter() - t0
        rows[name] = dict(
            request=t_req,
            prep=max(fit_s - train_s, 0.0),
            acc_before=before,
            acc_after=accuracy(clf, Xte, yte),
        )
        cur = clf.state_.curvature
        if name == "Newton (cholesky)":
            rows[name]["memory_mb"] = cur.memory_bytes / 2**20
            stream, refine = [], [cur.last_solve_["n_refine"]]
            rng = np.random.default_rng(1)
            left = np.flatnonzero(keep)
            for _ in range(n_stream):
                pick = rng.choice(left, len(yf), replace=False)
                left = np.setdiff1d(left, pick)
                t0 = time.perf_counter()
                clf.unlearn(Xtr[pick], ytr[pick])
                sync(device)
                stream.append(time.perf_counter() - t0)
                refine.append(clf.state_.curvature.last_solve_["n_refine"])
            cur = clf.state_.curvature
            notes.append(
                f"Newton (cholesky): p = {cur.n_params}, inverse + matrix "
                f"{rows[name]['memory_mb']:.0f} MiB; {n_stream} more 1% requests: "
                f"median {np.median(stream) * 1e3:.0f} ms, Neumann steps per "
                f"request {refine}, refactorisations {cur.n_refactorizations_}, "
                f"pending shift rate {cur.rate():.3f}"
            )
        if name == "Newton (cg)" and getattr(cur, "info_", None):
            info = cur.info_
            notes.append(
                f"Newton (cg): {info.get('n_iter')} iterations, converged="
                f"{info.get('converged')}"
            )
    return t_retrain, rows, notes


def quality(net, data, n_oracles, n_unlearned, rows):
    """KLoM on the forget set: median and 95th percentile per method."""
    Xtr, ytr, _, _, forget = data
    Xf, yf = Xtr[forget], ytr[forget]
    kw = dict(n_jobs=1, progress=False)
    t0 = time.perf_counter()
    oracles = fit_oracles(
        net, Xtr, ytr, forget, n_models=n_oracles, random_state=1, **kw
    )
    out = {}

    def summary(models):
        v = klom(models, oracles, Xf, yf)
        return float(np.median(v)), float(np.percentile(v, 95))

    floor = fit_oracles(
        net, Xtr, ytr, forget, n_models=n_unlearned, random_state=2, **kw
    )
    out["retrain vs retrain (floor)"] = summary(floor)
    nothing = fit_unlearned(
        net, Xtr, ytr, forget, n_models=n_unlearned, random_state=3, **kw
    )
    out["do nothing"] = summary(nothing)
    for name, method in methods(False).items():
        models = fit_unlearned(
            UnlearningClassifier(net, method=method),
            Xtr,
            ytr,
            forget,
            n_models=n_unlearned,
            random_state=3,
            **kw,
        )
        out[name] = summary(models)
    return out, time.perf_counter() - t0


def report(name, shape, p, epochs, t_retrain, rows, klom_rows, notes, q_time):
    print(
        f"\n### {name}: {shape[0]} training rows, {shape[1]} features, p = {p}, "
        f"{epochs} epochs\n"
    )
    print(
        "| method | request (ms) | retrain / request | preparation (s) | "
        "KLoM median | KLoM p95 | test acc before | after |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    order = ["retrain vs retrain (floor)", "do nothing", "retrain from scratch"]
    for key in order + [k for k in rows if k not in order]:
        r = rows.get(key, {})
        kl = klom_rows.get(key)
        req = r.get("request")
        cells = [
            key,
            "" if req is None else f"{req * 1e3:.1f}",
            "" if req is None else f"{t_retrain / req:.1f}x",
            "" if "prep" not in r else f"{r['prep']:.2f}",
            "" if kl is None else f"{kl[0]:.3f}",
            "" if kl is None else f"{kl[1]:.3f}",
            "" if "acc_before" not in r else f"{r['acc_before']:.3f}",
            "" if "acc_after" not in r else f"{r['acc_after']:.3f}",
        ]
        print("| " + " | ".join(cells) + " |")
    chol = rows["Newton (cholesky)"]["request"]
    ratio = t_retrain / chol
    verdict = "PASS" if ratio >= 100 else "FAIL"
    print(
        f"\nretraining {t_retrain:.2f} s; cached exact curvature "
        f"(Newton cholesky) request {chol * 1e3:.1f} ms: {ratio:.0f}x -> "
        f"{verdict} (target >= 100x)"
    )
    for n in notes:
        print(f"- {n}")
    print(f"- quality ensembles took {q_time:.0f} s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="0: torch default")
    parser.add_argument("--synthetic-rows", type=int, default=None)
    parser.add_argument("--skip-gradients", action="store_true")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.quick:
        cfg = dict(epochs=10, syn_epochs=5, syn_rows=2000, oracles=3, unlearned=2)
    else:
        cfg = dict(epochs=30, syn_epochs=10, syn_rows=20000, oracles=10, unlearned=3)
    if args.synthetic_rows:
        cfg["syn_rows"] = args.synthetic_rows
    print(
        f"device={args.device}, torch threads={torch.get_num_threads()}, "
        f"oracles={cfg['oracles']} retrained nets, unlearned ensemble "
        f"{cfg['unlearned']} nets per method, epochs {cfg['epochs']} "
        f"(synthetic: {cfg['syn_epochs']}), forget set 1% of training rows"
    )
    sets = [
        ("German credit", german_credit, cfg["epochs"]),
        ("breast cancer", breast_cancer, cfg["epochs"]),
        (
            f"synthetic {cfg['syn_rows']:,} rows",
            lambda: synthetic(cfg["syn_rows"]),
            cfg["syn_epochs"],
        ),
    ]
    for name, load, epochs in sets:
        X, y = load()
        data = split(X, y)
        net = make_net(X.shape[1], epochs, args.device)
        t_retrain, rows, notes = time_methods(net, data, args.device, n_stream=5)
        p = 64 * X.shape[1] + 64 + 64 * 32 + 32 + 32 * 2 + 2
        klom_rows, q_time = quality(net, data, cfg["oracles"], cfg["unlearned"], rows)
        report(
            name, data[0].shape, p, epochs, t_retrain, rows, klom_rows, notes, q_time
        )
        sys.stdout.flush()
    if not args.skip_gradients:
        sys.path.insert(0, str(Path(__file__).parent))
        import bench_per_sample_gradients

        print("\n### Per-sample gradients\n")
        bench_per_sample_gradients.main(
            [
                "--n",
                "20000",
                "--d",
                "20",
                "--repeat",
                "3",
                "--device",
                args.device,
                "--threads",
                str(args.threads),
            ]
        )


if __name__ == "__main__":
    main()
