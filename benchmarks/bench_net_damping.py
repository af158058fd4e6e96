"""How a net's damped Newton step depends on its damping and curvature, one run.

The evidence behind ``Newton()``'s defaults on a net: the damping read from
the training run (``adapters/_training_damping.py``) and the low-rank plus
diagonal curvature. For each data set, the cluster request of
``bench_neural.py`` (a k-means cluster of positives, about 3% of the rows)
is applied once to a net fitted with ``Newton()``; the step is then re-solved
from the same gradient change with

* the damping scaled by 0.1-10 (the rule's own value is 1x);
* the curvature without the dropped spectrum's diagonal (the penalty floor
  only, as a plain low-rank-plus-floor form would have it);
* the request's rows' Gauss-Newton terms taken out first (``downdate=True``),
  with its CPU cost;
* the per-layer Kronecker-factored curvature (``curvature="kfac"``) in place
  of the low-rank one, with its preparation's CPU cost.

Each row reports the mean |Δp| to the coupled retrain (same seed, retained
rows) on the forget rows and on the test rows, as ratios to doing nothing's
(1 = no better than doing nothing). Same net and settings as
``bench_neural.py``. Nothing here asserts a timing.

Usage::

    python benchmarks/bench_net_damping.py                  # Adult and 200k synthetic
    python benchmarks/bench_net_damping.py --skip-synthetic
    python benchmarks/bench_net_damping.py --quick          # tiny sizes, seconds
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import bench_neural as bn
import numpy as np
import torch
from _common import (
    Timer,
    limit_threads,
    machine_header,
    markdown_table,
    script_parser,
)

from sklearn_unlearn import UnlearningClassifier
from sklearn_unlearn.curvature import KroneckerFactoredCurvature, LowRankCurvature
from sklearn_unlearn.methods import Newton
from sklearn_unlearn.methods._base import Rows, UpdateRequest

MULTIPLIERS = (0.1, 0.3, 1.0, 2.0, 3.0, 10.0)


def ratios(clf, data, forget, reference, nothing):
    """|Δp| to the reference over doing nothing's, on forget and test rows."""
    gap = bn.gaps(bn.predictions(clf, data, forget), reference)
    return gap["forget"] / nothing["forget"], gap["test"] / nothing["test"]


def sweep(data, cfg):
    """Rows of (variant, forget ratio, test ratio, CPU s) for the cluster request."""
    forget = bn.cluster_request(data).forget
    net = bn.make_net(data.Xtr.shape[1], cfg)
    reference_net, _ = bn.fit_seeded(
        net, data.Xtr[~forget], data.ytr[~forget], 0, "cpu"
    )
    reference = bn.predictions(reference_net, data, forget)
    clf = UnlearningClassifier(bn.make_net(data.Xtr.shape[1], cfg), method=Newton())
    clf, _ = bn.fit_seeded(clf, data.Xtr, data.ytr, 0, "cpu")
    nothing = bn.gaps(bn.predictions(clf, data, forget), reference)
    a, state = clf.adapter_, clf.state_
    theta, cur = state.theta.clone(), state.curvature
    y_enc = a.encode_target(data.ytr[forget])
    remove = Rows(data.Xtr[forget], y_enc, np.ones(int(forget.sum())))
    empty = Rows(data.Xtr[:0], y_enc[:0], np.ones(0))
    g, _, _ = a.gradient_change(theta, UpdateRequest(remove=remove, add=empty), state)
    g = g.to(torch.float64)
    penalty = a.penalty_strength(state.total_weight) * a.penalty_mask.double()
    rows = []

    def solve(op, name, seconds=0.0):
        a.set_theta(clf.estimator_, theta - op.solve(g).to(theta.dtype))
        rows.append((name, *ratios(clf, data, forget, reference, nothing), seconds))

    for m in MULTIPLIERS:
        op = LowRankCurvature(cur.U_, cur.s_, cur.floor_, damping=cur.damping * m)
        solve(op, f"damping x{m:g} ({cur.damping * m:.3g})")
    op = LowRankCurvature(cur.U_, cur.s_, penalty, damping=cur.damping)
    solve(op, "no dropped-spectrum diagonal, damping x1")
    with Timer() as t:
        X, y, c = a.as_tensors(remove.X, remove.y, remove.c)
        downdated = cur.updated(remove=a.gauss_newton_factor(theta, X, y, c))
    seconds = t.cpu
    for m in (1.0, 3.0):
        op = LowRankCurvature(
            downdated.U_, downdated.s_, downdated.floor_, damping=cur.damping * m
        )
        solve(op, f"downdate, damping x{m:g}", seconds)
    with Timer() as t:
        kfac = Newton(curvature="kfac").prepare(a, theta, state_rows(a, data, state))
    seconds = t.cpu
    for factored in (True, False):
        for m in (1.0, 3.0):
            op = KroneckerFactoredCurvature(
                [layer for layer, *_ in kfac.layers_],
                a.n_params,
                penalty,
                damping=kfac.damping * m,
                factored_damping=factored,
            )
            how = "factored" if factored else "exact"
            solve(op, f"K-FAC, {how} damping x{m:g} (preparation)", seconds)
    a.set_theta(clf.estimator_, theta)
    return forget, cur, rows


def state_rows(a, data, state):
    """Every training row, as ``fit`` handed them to the method."""
    return Rows(data.Xtr, a.encode_target(data.ytr), np.ones(len(data.ytr)))


def main(argv=None):
    parser = script_parser(
        __doc__,
        "250 Adult training rows (1,000 test rows), 300 synthetic rows, 2 epochs",
    )
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--synthetic-rows", type=int, default=None)
    args = parser.parse_args(argv)
    quick = args.quick
    if args.synthetic_rows is None:
        args.synthetic_rows = 300 if quick else 200_000
    cfg = SimpleNamespace(weight_decay=1e-4, epochs=2 if quick else 20, device="cpu")
    adult_rows, test_rows = (250, 1_000) if quick else (None, None)
    with limit_threads(args.threads):
        sets = [bn.adult(adult_rows, 0, test_rows)]
        if not args.skip_synthetic:
            sets.append(bn.synthetic(args.synthetic_rows, 0))
        print("# Newton on a net: damping and curvature, cluster request\n")
        print(machine_header(args.threads) + "\n")
        for data in sets:
            forget, cur, rows = sweep(data, cfg)
            print(
                f"## {data.name}: {forget.sum():,} cluster rows; rank {cur.rank}, "
                f"damping {cur.damping:.4g} from the training run\n"
            )
            header = ["variant", "forget ratio", "test ratio", "extra CPU s"]
            cells = [[n, f"{f:.3f}", f"{t:.3f}", f"{s:.2f}"] for n, f, t, s in rows]
            print(markdown_table(header, cells, numeric=True))
            print()
            sys.stdout.flush()


if __name__ == "__main__":
    main()
