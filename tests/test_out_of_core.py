"""Data larger than memory: memmap and dask rows against the same rows in memory.

References are scikit-learn fits on the in-memory float64 rows, converged
(``newton-cholesky``, ``tol=1e-10``), and our own in-memory estimators for
updates; fingerprints must be bit-identical.
"""

import pickle
import tracemalloc

import dask.array as da
import numpy as np
import pytest
from joblib import parallel_config
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    RidgeClassifier,
)
from threadpoolctl import threadpool_limits

from sklearn_unlearn import FingerprintKey, UnlearningClassifier, UnlearningRegressor
from sklearn_unlearn._fingerprint import fingerprint_array
from sklearn_unlearn.adapters import _chunked as chunked
from sklearn_unlearn.methods import SSSE, Newton, Retrain
from sklearn_unlearn.utils import _out_of_core as ooc
from sklearn_unlearn.utils._out_of_core import ChunkedRows

N, D = 5000, 8
CHUNKS = (1800, 1800, 1400)  # uneven, the last one shorter
RTOL = 1e-8


def _theta(est):
    coef = np.atleast_2d(est.coef_)
    return np.column_stack([coef, np.reshape(est.intercept_, (len(coef), -1))])


def _close(a, b, rtol=RTOL):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert np.linalg.norm(a - b) <= rtol * np.linalg.norm(b), (a, b)


@pytest.fixture(autouse=True)
def one_blas_thread():
    """Small products on a shared 2-core machine: BLAS threads only spin."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D)).astype(np.float32)
    lin = X @ rng.normal(size=D)
    return {
        "X": X,
        "binary": (lin + rng.logistic(size=N) > 0).astype(int),
        "multiclass": np.digitize(lin + rng.logistic(size=N), [-1.0, 1.0]),
        "regression": lin + rng.normal(size=N),
        "counts": rng.poisson(np.exp(0.3 * lin)).astype(float),
    }


@pytest.fixture(scope="module")
def memmap(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("ooc") / "X.f32"
    M = np.memmap(path, dtype=np.float32, mode="w+", shape=data["X"].shape)
    M[:] = data["X"]
    M.flush()
    return np.memmap(path, dtype=np.float32, mode="r", shape=data["X"].shape)


def _dask(X):
    X = np.asarray(X)
    return da.from_array(X, chunks=(CHUNKS if len(X) == N else 2, X.shape[1]))


def _out_of_core(kind, memmap):
    return memmap if kind == "memmap" else _dask(memmap)


MODELS = {
    "logistic": (
        LogisticRegression(C=0.5),
        LogisticRegression(C=0.5, solver="newton-cholesky", tol=1e-10),
        "binary",
    ),
    "multinomial": (
        LogisticRegression(C=0.5),
        LogisticRegression(C=0.5, solver="newton-cholesky", tol=1e-10),
        "multiclass",
    ),
    "ridge": (Ridge(alpha=2.0), Ridge(alpha=2.0), "regression"),
    "ols": (LinearRegression(), LinearRegression(), "regression"),
    "ridge_classifier": (RidgeClassifier(alpha=2.0), RidgeClassifier(2.0), "binary"),
    "poisson": (
        PoissonRegressor(alpha=0.01),
        PoissonRegressor(alpha=0.01, solver="newton-cholesky", tol=1e-10),
        "counts",
    ),
}


# one key for every model here, so fingerprints compare across models
KEY = FingerprintKey(b"0123456789abcdef0123456789abcdef")


def _wrapper(model):
    if hasattr(model, "predict_proba") or isinstance(model, RidgeClassifier):
        return UnlearningClassifier(model, fingerprint_key=KEY)
    return UnlearningRegressor(model, fingerprint_key=KEY)


@pytest.mark.parametrize("kind", ["memmap", "dask"])
@pytest.mark.parametrize("name", list(MODELS))
def test_fit_matches_in_memory(data, memmap, kind, name):
    model, reference, target = MODELS[name]
    y = data[target]
    ref = reference.fit(data["X"].astype(np.float64), y)
    est = _wrapper(model).fit(_out_of_core(kind, memmap), y)
    _close(_theta(est.estimator_), _theta(ref))
    assert type(est.estimator_) is type(model)
    X_test = data["X"][:50]
    assert_allclose(est.predict(X_test), ref.predict(X_test), rtol=1e-7, atol=1e-9)
    if hasattr(ref, "predict_proba"):
        assert_allclose(est.predict_proba(X_test), ref.predict_proba(X_test), 1e-7)
    # the same rows in memory give the same state
    mem = _wrapper(model).fit(data["X"], y)
    _close(est.state_.theta, mem.state_.theta, 1e-10)
    _close(est.state_.gram, mem.state_.gram, 1e-12)
    assert est.state_.radius == pytest.approx(mem.state_.radius, rel=1e-12)
    assert est.fingerprints_.counter() == mem.fingerprints_.counter()


def test_dask_y_and_column_chunks(data, memmap):
    y = data["binary"]
    X = da.from_array(np.asarray(memmap), chunks=(CHUNKS, (5, 3)))
    est = UnlearningClassifier(LogisticRegression()).fit(X, da.from_array(y, 1000))
    mem = UnlearningClassifier(LogisticRegression()).fit(data["X"], y)
    _close(est.state_.theta, mem.state_.theta, 1e-10)


@pytest.mark.parametrize("kind", ["memmap", "dask"])
def test_fingerprints_equal_in_memory(data, memmap, kind):
    y = data["binary"]
    X = _out_of_core(kind, memmap)
    expected = fingerprint_array(data["X"].astype(np.float64), y)
    assert_array_equal(fingerprint_array(X, y), expected)
    rows = ChunkedRows(X, chunk_bytes=4000)  # many chunks
    assert_array_equal(fingerprint_array(rows, y), expected)
    assert_array_equal(
        fingerprint_array(rows.subset([3, 1, 4]), y[[3, 1, 4]]), expected[[3, 1, 4]]
    )


@pytest.mark.parametrize("kind", ["memmap", "dask"])
@pytest.mark.parametrize("name", ["logistic", "multinomial", "poisson"])
def test_unlearn_matches_in_memory(data, memmap, kind, name):
    model, _, target = MODELS[name]
    y = data[target]
    X = _out_of_core(kind, memmap)
    est = _wrapper(model).fit(X, y)
    mem = _wrapper(model).fit(data["X"], y)
    idx = np.arange(0, N, 50)  # 100 rows, passed in their out-of-core form
    X_forget = memmap[idx] if kind == "memmap" else X[idx]
    est.unlearn(X_forget, y[idx])
    mem.unlearn(data["X"][idx], y[idx])
    _close(est.state_.theta, mem.state_.theta, 1e-10)
    assert len(est.fingerprints_) == N - len(idx)
    assert est.fingerprints_.counter() == mem.fingerprints_.counter()
    got, want = est.ledger_[-1].param_error_bound, mem.ledger_[-1].param_error_bound
    if want is None:  # log-link GLMs carry no certificate
        assert got is None
    else:
        assert got == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("kind", ["memmap", "dask"])
def test_large_request_and_retained_rows_stay_chunked(data, memmap, kind, monkeypatch):
    """Requests larger than a chunk are streamed; refine and Retrain use X_retain."""
    monkeypatch.setattr(ooc, "DEFAULT_CHUNK_BYTES", 8 * 9 * 500)
    y = data["binary"]
    X = _out_of_core(kind, memmap)
    forget = np.zeros(N, dtype=bool)
    forget[::4] = True  # 1,250 rows: more than one chunk of 500
    keep = np.flatnonzero(~forget)
    X_keep = ChunkedRows(memmap).subset(keep) if kind == "memmap" else X[keep]
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-10).fit(
        data["X"][keep].astype(np.float64), y[keep]
    )
    for method in (Newton(refine=2), Retrain()):
        est = UnlearningClassifier(LogisticRegression(), method=method).fit(X, y)
        X_forget = memmap[forget] if kind == "memmap" else X[np.flatnonzero(forget)]
        est.unlearn(X_forget, y[forget], X_retain=X_keep, y_retain=y[keep])
        _close(_theta(est.estimator_), _theta(ref))
        kept = fingerprint_array(
            data["X"][keep].astype(np.float64), y[keep], est.fingerprint_key_.secret()
        )
        kept = kept[np.lexsort((kept[:, 1], kept[:, 0]))]
        assert_array_equal(est.fingerprints_.keys(), kept)


@pytest.mark.parametrize("kind", ["memmap", "dask"])
def test_fit_forget_mask(data, memmap, kind):
    y = data["binary"]
    forget = np.zeros(N, dtype=bool)
    forget[10:40] = True
    est = UnlearningClassifier(LogisticRegression()).fit(
        _out_of_core(kind, memmap), y, forget=forget
    )
    mem = UnlearningClassifier(LogisticRegression()).fit(data["X"], y, forget=forget)
    # both refine on the rows that remain, to Newton's tol (1e-9 relative)
    _close(est.state_.theta, mem.state_.theta, 1e-8)
    assert len(est.fingerprints_) == N - 30


def test_memory_stays_below_one_copy_of_x(tmp_path, monkeypatch):
    """tracemalloc sees NumPy's allocations: fit and unlearn never hold X whole.

    A float64 copy of X would be ``full`` bytes, a float32 one ``full / 2``.
    What does grow with n is a few vectors per row (targets, weights,
    fingerprints and the multiset's sorting: under 200 bytes a row at the
    peak, against 800 for a float64 row of X), plus one block per dask thread.
    """
    n, d = 20_000, 100
    rng = np.random.default_rng(1)
    M = np.memmap(tmp_path / "X.f32", dtype=np.float32, mode="w+", shape=(n, d))
    for i in range(0, n, 5000):
        M[i : i + 5000] = rng.normal(size=(5000, d))
    y = (np.asarray(M[:, 0]) > 0).astype(int)
    full = n * d * 8  # 16 MB
    monkeypatch.setattr(ooc, "DEFAULT_CHUNK_BYTES", 2**18)  # 256 KiB
    for X in (M, da.from_array(M, chunks=(5000, d))):
        est = UnlearningClassifier(LogisticRegression())
        est.fit(X[:100], y[:100])  # imports and caches outside the trace
        tracemalloc.start()
        try:
            est.fit(X, y)
            est.unlearn(X[:10], y[:10])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < full / 2, f"peak {peak / 1e6:.2f} MB, X {full / 1e6:.0f} MB"


def test_dask_distributed_cluster(data):
    distributed = pytest.importorskip("distributed")
    y = data["binary"]
    mem = UnlearningClassifier(LogisticRegression()).fit(data["X"], y)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        est = UnlearningClassifier(LogisticRegression()).fit(_dask(data["X"]), y)
        est.unlearn(_dask(data["X"])[:20], y[:20])
    mem.unlearn(data["X"][:20], y[:20])
    _close(est.state_.theta, mem.state_.theta, 1e-10)


def test_joblib_threads_give_the_same_fit(data, memmap):
    y = data["binary"]
    rows = ChunkedRows(memmap, chunk_bytes=8 * 9 * 400)
    est = UnlearningClassifier(LogisticRegression()).fit(rows, y)
    with parallel_config(backend="threading", n_jobs=2):
        par = UnlearningClassifier(LogisticRegression()).fit(rows, y)
    assert_array_equal(par.state_.theta, est.state_.theta)  # same order of sums


def test_warm_start_from_the_users_coefficients(data, memmap, monkeypatch):
    y = data["binary"]
    user = LogisticRegression(warm_start=True, solver="newton-cholesky", tol=1e-10)
    user.fit(data["X"].astype(np.float64), y)
    est = UnlearningClassifier(user).fit(memmap, y)
    monkeypatch.setattr(chunked, "_SUBSAMPLE", 30)  # a poor start from 30 rows
    cold = UnlearningClassifier(LogisticRegression()).fit(memmap, y)
    assert est.estimator_.n_iter_[0] <= 2 < cold.estimator_.n_iter_[0]
    _close(est.state_.theta, cold.state_.theta, 1e-10)
    assert est.estimator_ is not user and user.n_iter_[0] != est.estimator_.n_iter_[0]


def test_pickle_round_trip(data, memmap):
    est = UnlearningClassifier(LogisticRegression()).fit(memmap, data["binary"])
    back = pickle.loads(pickle.dumps(est))
    assert_array_equal(back.predict(data["X"][:20]), est.predict(data["X"][:20]))


# ------------------------------------------------------------------- errors
def test_bad_out_of_core_input(data, memmap, tmp_path):
    y = data["binary"]
    bad = np.memmap(tmp_path / "bad.f32", dtype=np.float32, mode="w+", shape=(N, D))
    bad[:] = memmap
    bad[4321, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        UnlearningClassifier(LogisticRegression()).fit(bad, y)
    with pytest.raises(ValueError, match="NaN or infinity"):
        UnlearningClassifier(LogisticRegression()).fit(_dask(bad), y)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        X = _dask(memmap)
        UnlearningClassifier(LogisticRegression()).fit(X[X[:, 0] > -10], y)
    with pytest.raises(ValueError, match="2-dimensional"):
        UnlearningClassifier(LogisticRegression()).fit(_dask(memmap)[:, 0], y)
    with pytest.raises(ValueError, match="Complex"):
        UnlearningClassifier(LogisticRegression()).fit(_dask(memmap) * 1j, y)
    with pytest.raises(ValueError, match="SSSE cannot work on out-of-core"):
        X = _dask(memmap)  # (a small memmap may be loaded for SSSE instead)
        UnlearningClassifier(LogisticRegression(), method=SSSE()).fit(X, y)
    with pytest.raises(ValueError, match="out of the valid range"):
        UnlearningRegressor(PoissonRegressor()).fit(memmap, data["regression"])
    with pytest.raises(ValueError, match="X has 8 rows but y has"):
        UnlearningClassifier(LogisticRegression()).fit(memmap[:8], y)


@pytest.mark.parametrize("kind", ["memmap", "dask"])
def test_bad_request_leaves_the_model_unchanged(data, memmap, kind, tmp_path):
    y = data["binary"]
    est = UnlearningClassifier(LogisticRegression()).fit(_out_of_core(kind, memmap), y)
    before = pickle.dumps(est)
    wide = np.memmap(tmp_path / "w.f32", dtype=np.float32, mode="w+", shape=(3, D + 1))
    nan = np.memmap(tmp_path / "n.f32", dtype=np.float32, mode="w+", shape=(3, D))
    nan[1, 1] = np.inf
    unseen = np.memmap(tmp_path / "u.f32", dtype=np.float32, mode="w+", shape=(3, D))
    unseen[:] = 123.0
    for X_bad, match in [
        (wide, "features"),
        (nan, "NaN or infinity"),
        (unseen, "never trained on"),
    ]:
        X_bad = X_bad if kind == "memmap" else _dask(X_bad)
        with pytest.raises(ValueError, match=match):
            est.unlearn(X_bad, y[:3])
        assert pickle.dumps(est) == before
