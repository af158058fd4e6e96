"""Data larger than memory: fit-time preparation and one deletion request vs n.

``LogisticRegression`` (``C=1``), d=100, n from 10^5 to 2*10^7 rows stored as
a float32 ``numpy.memmap`` on disk (8 GB at 2*10^7), written chunk by chunk
and reused across runs. For each n, in a fresh subprocess:

* **fit**: ``UnlearningClassifier(LogisticRegression()).fit(X_memmap, y)``,
  which never loads X: the chunked exact Newton fit (one pass over the rows
  per step), the Hessian's Cholesky factor, the Gram matrix and radius, and
  the row fingerprints. At this size there is no scikit-learn fit to
  subtract, so this whole call is the fit-time preparation; its Newton and
  fingerprint parts are timed apart.
* **request**: ``unlearn`` of 1,000 rows read from the memmap at random
  positions; three disjoint requests in sequence, the median time reported;
  a fourth is traced for memory (not timed).
* **refit** (only where X fits in memory as float64, with room to spare):
  scikit-learn's own ``LogisticRegression().fit`` (lbfgs, default tolerance)
  on the rows that remain after the first request, X already loaded as
  float64 (the load is not timed): what honouring one deletion by
  retraining costs.

Memory is measured, not estimated:

* ``peak anon``: the largest anonymous resident memory (``RssAnon`` in
  ``/proc/self/status``, sampled every 5 ms by a thread) during the phase,
  minus its value before the phase. Anonymous memory is what the process
  allocated; pages of the memmap that the kernel caches are file-backed and
  reclaimable, so they are left out here and shown apart in
* ``ru_maxrss``: the subprocess's high-water resident set, which does count
  the memmap pages it touched (up to the file size).
* ``request peak``: ``tracemalloc``'s peak over the request (NumPy reports its
  allocations to tracemalloc), exact.
* ``model``: the pickled fitted estimator (fingerprints are 24 bytes a row).

At the end, each cost's growth is fitted as ``cost ~ n^b`` (least squares on
log-log over the sizes); the per-request cost must not grow with n (``b``
near 0). Timings are never asserted; PASS/FAIL only reads the printed
exponents.

Usage::

    python benchmarks/bench_scale.py --quick          # 2e4 and 5e4 rows, seconds
    python benchmarks/bench_scale.py                  # 1e5..2e7 rows
    python benchmarks/bench_scale.py --max-n 3e6 --threads 2 --output scale.md
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
from _common import (
    Timer,
    limit_threads,
    log,
    machine_header,
    markdown_table,
    script_parser,
)

D = 100
REQUEST_ROWS = 1000
N_TIMED = 3  # requests timed (median); one more is traced for memory
SIZES = [100_000, 300_000, 1_000_000, 3_000_000, 10_000_000, 20_000_000]
QUICK_SIZES = [20_000, 50_000]
GEN_CHUNK = 250_000
SEED = 0


# ------------------------------------------------------------------ memory
def _proc_bytes(path, key) -> int:
    """A ``key: N kB`` line of a /proc file, in bytes (0 if absent)."""
    with open(path) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def rss_anon() -> int:
    """Anonymous resident bytes of this process (Linux)."""
    return _proc_bytes("/proc/self/status", "RssAnon")


def mem_available() -> int:
    return _proc_bytes("/proc/meminfo", "MemAvailable")


class PeakSampler:
    """Largest ``RssAnon`` seen while the block runs, sampled every 5 ms."""

    def __init__(self, interval=0.005):
        self.interval = interval

    def __enter__(self):
        self.base = rss_anon()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_anon())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_anon())

    @property
    def extra(self) -> int:
        return self.peak - self.base


def ru_maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -------------------------------------------------------------------- data
def ensure_data(data_dir: Path, n_max: int) -> tuple[Path, Path]:
    """A float32 memmap of ``n_max`` rows and int8 labels, generated chunk by chunk.

    Rows are standard normal; labels follow a logistic model with fixed
    weights. A file of at least ``n_max`` rows from the same seed is reused.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    x_path, y_path = data_dir / "X.f32", data_dir / "y.npy"
    meta_path = data_dir / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta["d"] == D and meta["seed"] == SEED and meta["n"] >= n_max:
            return x_path, y_path
    log(f"generating {n_max:,} x {D} float32 rows in {x_path} ...")
    with Timer() as timer:
        X = np.memmap(x_path, dtype=np.float32, mode="w+", shape=(n_max, D))
        y = np.empty(n_max, dtype=np.int8)
        w = np.random.default_rng(SEED).normal(size=D) / np.sqrt(D) * 2.0
        for start in range(0, n_max, GEN_CHUNK):
            stop = min(n_max, start + GEN_CHUNK)
            rng = np.random.default_rng([SEED, start])
            block = rng.standard_normal((stop - start, D), dtype=np.float32)
            X[start:stop] = block
            margin = block @ w + 0.5 + rng.logistic(size=stop - start)
            y[start:stop] = margin > 0
        X.flush()
        del X
        np.save(y_path, y)
        meta_path.write_text(json.dumps({"n": n_max, "d": D, "seed": SEED}))
    log(f"generated in {timer.wall:.0f} s wall, {timer.cpu:.0f} s CPU")
    return x_path, y_path


def open_data(x_path, y_path, n):
    X = np.memmap(x_path, dtype=np.float32, mode="r", shape=(n, D))
    y = np.load(y_path, mmap_mode="r")[:n].astype(np.int64)
    return X, y


def request_rows(n):
    """``N_TIMED + 1`` disjoint, sorted sets of 1,000 row positions."""
    rng = np.random.default_rng([SEED, n])
    idx = rng.choice(n, size=REQUEST_ROWS * (N_TIMED + 1), replace=False)
    return [np.sort(p) for p in np.split(idx, N_TIMED + 1)]


# ----------------------------------------------------------------- workers
def worker_unlearn(x_path, y_path, n) -> dict:
    from sklearn.linear_model import LogisticRegression

    import sklearn_unlearn._base as base
    import sklearn_unlearn.adapters._chunked as chunked
    from sklearn_unlearn import UnlearningClassifier

    parts = {"newton_s": 0.0, "fingerprint_s": 0.0}

    def timed(module, name, key):
        inner = getattr(module, name)

        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                parts[key] += time.perf_counter() - t

        setattr(module, name, wrapper)

    timed(chunked, "fit_out_of_core", "newton_s")
    timed(base, "fingerprint_array", "fingerprint_s")

    X, y = open_data(x_path, y_path, n)
    clf = UnlearningClassifier(LogisticRegression())
    clf.fit(X[:2000], y[:2000])  # imports and first-call costs, outside the timing
    parts.update(newton_s=0.0, fingerprint_s=0.0)
    with PeakSampler() as fit_mem, Timer() as fit_t:
        clf.fit(X, y)
    out = {
        "n": n,
        "fit_s": fit_t.wall,
        "fit_cpu_s": fit_t.cpu,
        "newton_s": parts["newton_s"],
        "fingerprint_s": parts["fingerprint_s"],
        "newton_steps": int(clf.estimator_.n_iter_[0]),
        "fit_peak_anon": fit_mem.extra,
        "fit_base_anon": fit_mem.base,
        "model_bytes": len(pickle.dumps(clf)),
    }
    *timed_sets, traced_set = request_rows(n)
    times, cpu = [], []
    for rows in timed_sets:  # plain timing: no tracing, no sampling thread
        X_del, y_del = np.asarray(X[rows]), y[rows]
        with Timer() as t:
            clf.unlearn(X_del, y_del)
        times.append(t.wall)
        cpu.append(t.cpu)
    X_del, y_del = np.asarray(X[traced_set]), y[traced_set]
    tracemalloc.start()
    with PeakSampler() as req_mem:
        clf.unlearn(X_del, y_del)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out.update(
        request_s=statistics.median(times),
        request_cpu_s=statistics.median(cpu),
        request_times=times,
        request_peak_traced=peak,
        request_peak_anon=req_mem.extra,
        n_remaining=clf.ledger_[-1].n_remaining,
        bound=clf.ledger_[-1].param_error_bound,
        ru_maxrss=ru_maxrss(),
    )
    return out


def worker_refit(x_path, y_path, n) -> dict:
    from sklearn.linear_model import LogisticRegression

    X, y = open_data(x_path, y_path, n)
    keep = np.ones(n, dtype=bool)
    keep[request_rows(n)[0]] = False
    base = rss_anon()
    Xk = np.empty((int(keep.sum()), D))  # loaded chunk by chunk, not timed
    pos = 0
    for start in range(0, n, GEN_CHUNK):
        block = X[start : start + GEN_CHUNK][keep[start : start + GEN_CHUNK]]
        Xk[pos : pos + len(block)] = block
        pos += len(block)
    yk = y[keep]
    with PeakSampler() as mem, Timer() as t:
        est = LogisticRegression().fit(Xk, yk)
    return {
        "refit_s": t.wall,
        "refit_cpu_s": t.cpu,
        "refit_iter": int(est.n_iter_[0]),
        "refit_peak_anon": mem.peak - base,  # includes X in memory
        "refit_ru_maxrss": ru_maxrss(),
    }


def run_worker(kind, args, n) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        kind,
        "--n",
        str(n),
        "--threads",
        str(args.threads),
        "--data-dir",
        str(args.data_dir),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{kind} worker for n={n} failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ report
def mb(x):
    return "—" if x is None else f"{x / 2**20:,.0f}"


def secs(x):
    return "—" if x is None else (f"{x:,.1f}" if x >= 10 else f"{x:,.2f}")


def exponent(ns, values):
    """``b`` of ``value ~ n^b`` by least squares on log-log."""
    pts = [(n, v) for n, v in zip(ns, values, strict=True) if v and v > 0]
    if len(pts) < 2:
        return None
    x = np.log([p[0] for p in pts])
    yv = np.log([p[1] for p in pts])
    return float(np.polyfit(x, yv, 1)[0])


def report(results, args) -> str:
    memory = f"- memory available: {mem_available() / 2**30:.0f} GiB"
    out = [machine_header(args.threads, extra=[memory]), ""]
    header = [
        "n",
        "X on disk (GB)",
        "fit s (Newton / fingerprints)",
        "Newton steps",
        "fit peak anon MB",
        "ru_maxrss MB",
        "model MB",
        "request ms (median of 3)",
        "request peak MB (traced / anon)",
        "sklearn refit s",
        "refit peak anon MB",
        "refit / request",
        "fit CPU s",
        "request CPU ms (median of 3)",
    ]
    rows = []
    for r in results:
        refit = r.get("refit_s")
        rows.append(
            [
                f"{r['n']:,}",
                f"{r['n'] * D * 4 / 1e9:.2f}",
                f"{secs(r['fit_s'])} ({secs(r['newton_s'])} / "
                f"{secs(r['fingerprint_s'])})",
                str(r["newton_steps"]),
                mb(r["fit_peak_anon"]),
                mb(r["ru_maxrss"]),
                mb(r["model_bytes"]),
                f"{r['request_s'] * 1e3:,.1f}",
                f"{mb(r['request_peak_traced'])} / {mb(r['request_peak_anon'])}",
                secs(refit),
                mb(r.get("refit_peak_anon")),
                f"{refit / r['request_s']:,.0f}×" if refit else "—",
                secs(r["fit_cpu_s"]),
                f"{r['request_cpu_s'] * 1e3:,.1f}",
            ]
        )
    out.append(markdown_table(header, rows))
    ns = [r["n"] for r in results]
    out.append("")
    out.append(
        f"Growth, ``cost ~ n^b`` fitted over n = {ns[0]:,} … {ns[-1]:,} "
        f"(ratio of n: {ns[-1] / ns[0]:,.0f}×):"
    )
    out.append("")
    rows = [
        ("fit time", [r["fit_s"] for r in results]),
        ("fit peak anon memory", [r["fit_peak_anon"] for r in results]),
        ("fitted model size", [r["model_bytes"] for r in results]),
        ("request time", [r["request_s"] for r in results]),
        ("request peak memory (traced)", [r["request_peak_traced"] for r in results]),
    ]
    refits = [(r["n"], r["refit_s"]) for r in results if r.get("refit_s")]
    growth = [
        [name, f"{exponent(ns, vals):.2f}", f"{vals[-1] / vals[0]:,.2f}×"]
        for name, vals in rows
    ]
    if len(refits) >= 2:
        b = exponent([a for a, _ in refits], [v for _, v in refits])
        growth.append(
            [
                f"sklearn refit time (n ≤ {refits[-1][0]:,})",
                f"{b:.2f}",
                f"{refits[-1][1] / refits[0][1]:,.2f}×",
            ]
        )
    out.append(markdown_table(["cost", "b", "largest / smallest n"], growth))
    b_req = exponent(ns, [r["request_s"] for r in results])
    b_mem = exponent(ns, [r["request_peak_traced"] for r in results])
    verdict = "PASS" if b_req < 0.1 and b_mem < 0.1 else "FAIL"
    out.append("")
    out.append(
        f"Per-request cost independent of n (b < 0.1 for time and memory): "
        f"{verdict} (time b = {b_req:.2f}, memory b = {b_mem:.2f})."
    )
    return "\n".join(out)


def main(argv=None):
    p = script_parser(__doc__, f"n = {', '.join(f'{n:,}' for n in QUICK_SIZES)}")
    p.add_argument("--max-n", type=float, default=None, help="largest n (e.g. 3e6)")
    p.add_argument(
        "--max-refit-n",
        type=float,
        default=None,
        help="largest n for the in-memory scikit-learn refit (default: what "
        "fits in 40%% of the available memory)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("TMPDIR", "/tmp")) / "sklearn_unlearn_bench_scale",
    )
    p.add_argument("--output", type=Path, default=None, help="also write the report")
    p.add_argument(
        "--worker", choices=["generate", "unlearn", "refit"], help=argparse.SUPPRESS
    )
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker == "generate":
        ensure_data(args.data_dir, args.n)
        return
    if args.worker:
        x_path, y_path = args.data_dir / "X.f32", args.data_dir / "y.npy"
        with limit_threads(args.threads):
            fn = worker_unlearn if args.worker == "unlearn" else worker_refit
            print(json.dumps(fn(x_path, y_path, args.n)))
        return

    sizes = QUICK_SIZES if args.quick else SIZES
    if args.max_n is not None:
        sizes = [n for n in SIZES if n <= args.max_n] or [int(args.max_n)]
    refit_max = args.max_refit_n
    if refit_max is None:
        refit_max = 0.4 * mem_available() / (2.5 * D * 8)
    # in a subprocess: a child's ru_maxrss starts from its parent's high-water
    # mark (Linux keeps it across fork and exec), which writing X would raise
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            "generate",
            "--n",
            str(sizes[-1]),
            "--data-dir",
            str(args.data_dir),
        ],
        check=True,
    )
    results = []
    for n in sizes:
        log(f"n={n:,}: fit and requests ...")
        r = run_worker("unlearn", args, n)
        log(
            f"  fit {r['fit_s']:.1f} s, request {r['request_s'] * 1e3:.1f} ms, "
            f"fit peak anon {mb(r['fit_peak_anon'])} MB"
        )
        if n <= refit_max:
            log(f"n={n:,}: scikit-learn refit ...")
            r.update(run_worker("refit", args, n))
            log(f"  refit {r['refit_s']:.1f} s")
        results.append(r)
    text = report(results, args)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
