"""Matrix-free inverse curvature: CG and LiSSA against direct solves."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklearn_unlearn.curvature import CholeskyCurvature
from sklearn_unlearn.curvature._iterative import (
    ConjugateGradientCurvature,
    CurvatureConvergenceWarning,
    LissaCurvature,
    chunked_matvec,
)

P = 8
INFO_KEYS = {"converged", "diverged", "reason", "n_iter", "residual_norm", "rtol"}


def _spd(rng, p=P, low=0.5, high=3.0):
    """Random SPD matrix with eigenvalues spread over [low, high]."""
    Q, _ = np.linalg.qr(rng.normal(size=(p, p)))
    w = np.linspace(low, high, p)
    return (Q * w) @ Q.T


def _rhs(rng, n_rhs, p=P):
    return rng.normal(size=p if n_rhs is None else (p, n_rhs))


@pytest.fixture(autouse=False)
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", CurvatureConvergenceWarning)
        yield


# ------------------------------------------------------------------ CG (numpy)
@pytest.mark.parametrize("damping", [0.0, 0.3])
@pytest.mark.parametrize("n_rhs", [None, 1, 3])
def test_cg_matches_numpy_solve(damping, n_rhs, no_warnings):
    rng = np.random.default_rng(0)
    A, v = _spd(rng), _rhs(rng, n_rhs)
    op = ConjugateGradientCurvature(lambda u: A @ u, P, damping=damping)
    x = op.solve(v)
    ref = np.linalg.solve(A + damping * np.eye(P), v)
    assert x.shape == v.shape and isinstance(x, np.ndarray)
    assert_allclose(x, ref, rtol=1e-7, atol=1e-10)
    info = op.info_
    assert INFO_KEYS | {"negative_curvature"} <= set(info)
    assert info["converged"] and not info["diverged"]
    assert info["reason"] == "converged" and not info["negative_curvature"]
    assert info["n_iter"] >= 1 and info["n_iter"] <= 2 * P
    assert info["rtol"] == 1e-8
    v2 = v.reshape(P, -1)
    resid = np.linalg.norm((A + damping * np.eye(P)) @ x.reshape(P, -1) - v2, axis=0)
    assert np.all(resid <= 1e-7 * np.linalg.norm(v2, axis=0))
    assert info["residual_norm"] <= 1e-8 * np.linalg.norm(v2, axis=0).max()
    if n_rhs is not None:
        assert len(info["columns"]) == n_rhs


def test_cg_preconditioner_matches_and_helps(no_warnings):
    rng = np.random.default_rng(1)
    d = np.logspace(0, 4, P)
    A = np.diag(d) + 0.1 * _spd(rng)
    v = rng.normal(size=P)
    plain = ConjugateGradientCurvature(lambda u: A @ u, P)
    jacobi = ConjugateGradientCurvature(
        lambda u: A @ u, P, preconditioner=lambda r: r / np.diag(A)
    )
    ref = np.linalg.solve(A, v)
    assert_allclose(plain.solve(v), ref, rtol=1e-6)
    assert_allclose(jacobi.solve(v), ref, rtol=1e-6)
    assert jacobi.info_["n_iter"] < plain.info_["n_iter"]


def test_cg_not_converged_warns():
    rng = np.random.default_rng(2)
    A, v = _spd(rng, low=0.01), rng.normal(size=P)
    op = ConjugateGradientCurvature(lambda u: A @ u, P, max_iter=2)
    with pytest.warns(CurvatureConvergenceWarning, match="max_iter"):
        x = op.solve(v)
    assert np.all(np.isfinite(x))
    assert op.info_["converged"] is False and op.info_["diverged"] is False
    assert op.info_["reason"] == "max_iter" and op.info_["n_iter"] == 2
    true_resid = np.linalg.norm(A @ x - v)
    assert_allclose(op.info_["residual_norm"], true_resid, rtol=1e-6)
    assert issubclass(CurvatureConvergenceWarning, UserWarning)


def test_cg_negative_curvature_stops_and_warns():
    A = np.diag([1.0, -1.0, 2.0])
    op = ConjugateGradientCurvature(lambda u: A @ u, 3)
    with pytest.warns(CurvatureConvergenceWarning, match="negative_curvature"):
        x = op.solve(np.array([0.0, 1.0, 0.0]))
    assert op.info_["negative_curvature"] and op.info_["diverged"]
    assert op.info_["reason"] == "negative_curvature"
    assert not op.info_["converged"]
    assert np.all(np.isfinite(x))
    # enough damping restores positive definiteness
    op = ConjugateGradientCurvature(lambda u: A @ u, 3, damping=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CurvatureConvergenceWarning)
        assert_allclose(op.solve(np.ones(3)), [1 / 3, 1.0, 0.25])


def test_cg_non_finite_matvec_reports_divergence():
    op = ConjugateGradientCurvature(lambda u: u * np.nan, 3)
    with pytest.warns(CurvatureConvergenceWarning, match="non_finite"):
        x = op.solve(np.ones(3))
    assert op.info_["diverged"] and op.info_["reason"] == "non_finite"
    assert_allclose(x, 0.0)


def test_zero_rhs_and_worst_column(no_warnings):
    A = np.diag([1.0, 2.0, 4.0])
    for op in (
        ConjugateGradientCurvature(lambda u: A @ u, 3),
        LissaCurvature(lambda u: A @ u, 3, scale=5.0),
    ):
        assert_allclose(op.solve(np.zeros(3)), 0.0)
        assert op.info_["converged"] and op.info_["n_iter"] == 0
    op = ConjugateGradientCurvature(lambda u: A @ u, 3, max_iter=1)
    V = np.column_stack([np.zeros(3), [1.0, 0, 0], np.ones(3)])
    with pytest.warns(CurvatureConvergenceWarning):
        op.solve(V)
    cols = op.info_["columns"]
    assert [c["converged"] for c in cols] == [True, True, False]
    assert op.info_["converged"] is False and op.info_["n_iter"] == 1
    assert op.info_["residual_norm"] == max(c["residual_norm"] for c in cols)


def test_validation():
    A = np.eye(3)
    op = ConjugateGradientCurvature(lambda u: A @ u, 3)
    with pytest.raises(ValueError, match="3 parameters"):
        op.solve(np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        op.solve(np.array([1.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        op.solve(np.ones((3, 1, 1)))
    bad = ConjugateGradientCurvature(lambda u: np.ones(2), 3)
    with pytest.raises(ValueError, match="matvec returned shape"):
        bad.solve(np.ones(3))
    with pytest.raises(ValueError, match="damping"):
        ConjugateGradientCurvature(lambda u: u, 3, damping=-1.0)
    with pytest.raises(ValueError, match="max_iter"):
        ConjugateGradientCurvature(lambda u: u, 3, max_iter=0)
    with pytest.raises(TypeError, match="callable"):
        ConjugateGradientCurvature(A, 3)
    with pytest.raises(ValueError, match="scale"):
        LissaCurvature(lambda u: u, 3, scale=0.0)
    with pytest.raises(ValueError, match="patience"):
        LissaCurvature(lambda u: u, 3, patience=0)
    with pytest.raises(ValueError, match="product_reduction"):
        chunked_matvec(lambda *a: 0, np.ones((3, 1)), product_reduction="avg")


# --------------------------------------------------------------- LiSSA (numpy)
@pytest.mark.parametrize("damping", [0.0, 0.3])
@pytest.mark.parametrize("n_rhs", [None, 3])
def test_lissa_matches_numpy_solve(damping, n_rhs, no_warnings):
    rng = np.random.default_rng(3)
    A, v = _spd(rng), _rhs(rng, n_rhs)
    scale = 1.2 * (3.0 + damping)  # > lambda_max(A + damping I)
    op = LissaCurvature(lambda u: A @ u, P, damping=damping, scale=scale, rtol=1e-12)
    x = op.solve(v)
    ref = np.linalg.solve(A + damping * np.eye(P), v)
    assert_allclose(x, ref, rtol=1e-9, atol=1e-12)
    info = op.info_
    assert INFO_KEYS | {"relative_change"} <= set(info)
    assert info["converged"] and not info["diverged"]
    assert info["reason"] == "converged" and info["rtol"] == 1e-12
    assert 10 < info["n_iter"] < 1000
    assert info["relative_change"] <= 1e-12


def test_lissa_scale_too_small_diverges_and_warns():
    rng = np.random.default_rng(4)
    A, v = _spd(rng), rng.normal(size=P)
    op = LissaCurvature(lambda u: A @ u, P, scale=1.0)  # lambda_max = 3
    with pytest.warns(CurvatureConvergenceWarning, match="scale is too small"):
        x = op.solve(v)
    assert op.info_["diverged"] and not op.info_["converged"]
    assert op.info_["reason"] == "growing"
    assert op.info_["n_iter"] < 100
    # the best iterate comes back, with its exact residual
    assert np.all(np.isfinite(x))
    assert_allclose(op.info_["residual_norm"], np.linalg.norm(v - A @ x), rtol=1e-10)
    assert op.info_["residual_norm"] <= np.linalg.norm(v)


def test_lissa_indefinite_and_non_finite_diverge():
    A = np.diag([1.0, -0.5])
    op = LissaCurvature(lambda u: A @ u, 2, scale=2.0)
    with pytest.warns(CurvatureConvergenceWarning):
        op.solve(np.ones(2))
    assert op.info_["diverged"] and op.info_["reason"] == "growing"
    op = LissaCurvature(lambda u: u * np.inf, 2)
    with pytest.warns(CurvatureConvergenceWarning, match="non_finite"):
        x = op.solve(np.ones(2))
    assert op.info_["diverged"] and op.info_["reason"] == "non_finite"
    assert np.all(np.isfinite(x))


def test_lissa_patience_and_depth():
    rng = np.random.default_rng(5)
    A, v = _spd(rng), rng.normal(size=P)
    ref = np.linalg.solve(A, v)
    op = LissaCurvature(lambda u: A @ u, P, scale=4.0, rtol=0.0, patience=5)
    with pytest.warns(CurvatureConvergenceWarning, match="patience"):
        x = op.solve(v)  # rtol=0 is out of reach: the updates stall at roundoff
    assert op.info_["reason"] == "patience"
    assert not op.info_["converged"] and not op.info_["diverged"]
    assert_allclose(x, ref, rtol=1e-10)
    op = LissaCurvature(lambda u: A @ u, P, scale=4.0, depth=3)
    with pytest.warns(CurvatureConvergenceWarning, match="max_iter"):
        op.solve(v)
    assert op.info_["reason"] == "max_iter" and op.info_["n_iter"] == 3


# ---------------------------------------------------------------- chunking
def _gram_product(Xc, yc, cc, v):
    """``sum_{i in chunk} c_i x_i x_i^T v``: already a weighted sum over rows."""
    return Xc.T @ (cc * (Xc @ v))


def test_chunked_matvec_uneven_chunks_exact():
    rng = np.random.default_rng(6)
    n, d, size = 23, 4, 5  # chunks of 5, 5, 5, 5, 3
    X, c, v = rng.normal(size=(n, d)), rng.uniform(0.5, 2.0, n), rng.normal(size=d)
    one_chunk = chunked_matvec(_gram_product, X, None, c, chunk_size=n)(v)
    assert_allclose(one_chunk, X.T @ (c * (X @ v)))
    ours = chunked_matvec(_gram_product, X, None, c, chunk_size=size)(v)
    assert_allclose(ours, one_chunk, rtol=1e-13)

    # a product returning the chunk's weighted mean, weighted back by the helper
    def mean_product(Xc, yc, cc, u):
        return _gram_product(Xc, yc, cc, u) / cc.sum()

    means = chunked_matvec(mean_product, X, None, c, size, product_reduction="mean")
    assert_allclose(means(v), one_chunk, rtol=1e-13)

    # the flawed recipe: average per-chunk means with equal weight, times n
    chunk_means = [
        mean_product(X[a : a + size], None, c[a : a + size], v)
        for a in range(0, n, size)
    ]
    equal_weights = c.sum() * np.mean(chunk_means, axis=0)
    assert not np.allclose(equal_weights, one_chunk, rtol=1e-3)
    # ... which also moves the solve away from the exact one
    A = X.T @ (c[:, None] * X)
    exact = np.linalg.solve(A + np.eye(d), v)
    op = ConjugateGradientCurvature(
        chunked_matvec(_gram_product, X, None, c, size), d, damping=1.0
    )
    assert_allclose(op.solve(v), exact, rtol=1e-8)
    # no weights: rows count once; no rows: the zero operator
    assert_allclose(
        chunked_matvec(lambda Xc, yc, cc, u: Xc.T @ (Xc @ u), X, None, None, 7)(v),
        X.T @ (X @ v),
    )
    assert_allclose(chunked_matvec(_gram_product, X[:0], None, c[:0], 5)(v), 0.0)


# ----------------------------------------------------- end to end: LinearAdapter
def test_cg_and_lissa_match_cholesky_on_logistic_hessian(no_warnings):
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from sklearn_unlearn.adapters import LinearAdapter

    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    est = LogisticRegression(C=1.0).fit(X, y)
    adapter = LinearAdapter(est)
    theta, c = adapter.get_theta(est), np.ones(len(y))
    y_enc = adapter.encode_target(y)
    lam = adapter.penalty_strength(c.sum())
    H = adapter.hessian(theta, X, y_enc, c) + lam * np.diag(adapter.penalty_mask)
    v = np.random.default_rng(7).normal(size=(adapter.n_params, 2))
    ref = CholeskyCurvature(H).solve(v)
    cg = ConjugateGradientCurvature(lambda u: H @ u, adapter.n_params)
    assert_allclose(cg.solve(v), ref, rtol=1e-7)
    scale = 1.1 * np.linalg.eigvalsh(H)[-1]
    lissa = LissaCurvature(lambda u: H @ u, adapter.n_params, scale=scale, rtol=1e-10)
    assert_allclose(lissa.solve(v), ref, rtol=1e-6)

    # the same Hessian streamed over uneven row chunks
    def hess_product(Xc, yc, cc, u):
        return adapter.hessian(theta, Xc, yc, cc) @ u

    data = chunked_matvec(hess_product, X, y_enc, c, chunk_size=7)
    mask = adapter.penalty_mask
    cg = ConjugateGradientCurvature(lambda u: data(u) + lam * mask * u, H.shape[0])
    assert_allclose(cg.solve(v), ref, rtol=1e-7)


# ------------------------------------------------------------------- torch
def _torch_spd(torch, p=P, seed=0):
    rng = np.random.default_rng(seed)
    return torch.as_tensor(_spd(rng, p)), torch.as_tensor(rng.normal(size=(p, 3)))


@pytest.mark.parametrize("damping", [0.0, 0.3])
def test_torch_float64_matches_linalg_solve(damping, no_warnings):
    torch = pytest.importorskip("torch")
    A, V = _torch_spd(torch)
    ref = torch.linalg.solve(A + damping * torch.eye(P, dtype=A.dtype), V)
    cg = ConjugateGradientCurvature(lambda u: A @ u, P, damping=damping)
    lissa = LissaCurvature(lambda u: A @ u, P, damping=damping, scale=4.0, rtol=1e-12)
    for op, rtol in ((cg, 1e-7), (lissa, 1e-9)):
        for v, r in ((V, ref), (V[:, 0], ref[:, 0])):
            x = op.solve(v)
            assert torch.is_tensor(x) and x.dtype == torch.float64
            assert x.shape == v.shape and x.device == v.device
            torch.testing.assert_close(x, r, rtol=rtol, atol=1e-10)
            assert op.info_["converged"]


def test_torch_namespaces_mix_and_float32():
    torch = pytest.importorskip("torch")
    A, V = _torch_spd(torch)
    A_np = A.numpy()
    # torch right-hand side, NumPy product: the product's output is converted
    op = ConjugateGradientCurvature(lambda u: A_np @ u.numpy(), P)
    torch.testing.assert_close(op.solve(V), torch.linalg.solve(A, V))
    # NumPy right-hand side, torch product
    op = ConjugateGradientCurvature(lambda u: A @ torch.as_tensor(u), P)
    x = op.solve(V.numpy())
    assert isinstance(x, np.ndarray)
    assert_allclose(x, np.linalg.solve(A_np, V.numpy()), rtol=1e-7)
    # float32 stays float32; rtol=1e-8 is out of reach there and says so
    A32, v32 = A.float(), V[:, 0].float()
    op = ConjugateGradientCurvature(lambda u: A32 @ u, P, rtol=1e-5)
    x = op.solve(v32)
    assert x.dtype == torch.float32 and op.info_["converged"]
    torch.testing.assert_close(x, torch.linalg.solve(A32, v32), rtol=1e-4, atol=1e-5)
    op = ConjugateGradientCurvature(lambda u: A32 @ u, P, rtol=1e-12, max_iter=3 * P)
    with pytest.warns(CurvatureConvergenceWarning):
        op.solve(v32)
    assert not op.info_["converged"]


def test_torch_indefinite_and_bad_scale():
    torch = pytest.importorskip("torch")
    A = torch.diag(torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64))
    op = ConjugateGradientCurvature(lambda u: A @ u, 3)
    with pytest.warns(CurvatureConvergenceWarning):
        op.solve(torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))
    assert op.info_["negative_curvature"]
    B = torch.diag(torch.tensor([1.0, 5.0], dtype=torch.float64))
    op = LissaCurvature(lambda u: B @ u, 2, scale=1.0)
    with pytest.warns(CurvatureConvergenceWarning):
        x = op.solve(torch.ones(2, dtype=torch.float64))
    assert op.info_["diverged"] and bool(torch.isfinite(x).all())


# ------------------------------------------------- end to end: skorch net
def test_skorch_gauss_newton_streamed_in_uneven_chunks(no_warnings, tiny_net):
    import torch

    net, adapter, X, y, c, g = tiny_net(4)
    n = len(y)
    theta, p = adapter.get_theta(net), adapter.n_params
    lam = adapter.penalty_strength(float(c.sum()))
    mask, damping = adapter.penalty_mask, 0.1

    G = adapter.gauss_newton(theta, X, y, c)
    M = G + lam * torch.diag(mask) + damping * torch.eye(p, dtype=G.dtype)
    v = torch.randn(p, 2, generator=g, dtype=torch.float64)
    ref = torch.linalg.solve(M, v)

    def gnvp(Xc, yc, cc, u):
        return adapter.gnvp(theta, Xc, yc, cc, u)

    data = chunked_matvec(gnvp, X, y, c, chunk_size=5)  # 5, 5, 5, 5, 3
    torch.testing.assert_close(data(v[:, 0]), G @ v[:, 0])

    def matvec(u):
        return data(u) + lam * mask * u

    cg = ConjugateGradientCurvature(matvec, p, damping=damping)
    torch.testing.assert_close(cg.solve(v), ref, rtol=1e-6, atol=1e-9)
    assert cg.info_["converged"] and cg.info_["n_iter"] <= 3 * p
    # LiSSA needs scale / lambda_min steps: more damping keeps the test fast
    M2 = M + 2.0 * torch.eye(p, dtype=M.dtype)
    scale = 1.1 * float(torch.linalg.eigvalsh(M2)[-1])
    lissa = LissaCurvature(matvec, p, damping=damping + 2.0, scale=scale, rtol=1e-9)
    x = lissa.solve(v[:, 0])
    torch.testing.assert_close(x, torch.linalg.solve(M2, v[:, 0]), rtol=1e-7, atol=1e-8)
    assert lissa.info_["converged"]

    # equal weight per chunk mean: wrong when the last chunk is shorter
    sizes = [len(range(a, min(a + 5, n))) for a in range(0, n, 5)]
    chunk_means = [
        gnvp(X[a : a + 5], y[a : a + 5], c[a : a + 5], v[:, 0])
        / float(c[a : a + 5].sum())
        for a in range(0, n, 5)
    ]
    flawed = float(c.sum()) * torch.stack(chunk_means).mean(dim=0)
    assert sizes[-1] == 3
    assert not torch.allclose(flawed, G @ v[:, 0], rtol=1e-3)
