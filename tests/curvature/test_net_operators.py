"""Matrix-free net curvature: streamed products and CG/LiSSA vs the direct solve."""

import pytest

torch = pytest.importorskip("torch")

from sklearn_unlearn.curvature import (  # noqa: E402
    CurvatureConvergenceWarning,
    IterativeNetCurvature,
    NotPositiveDefiniteError,
)
from sklearn_unlearn.curvature._net_operators import (  # noqa: E402
    net_matvec,
    top_eigenvalue,
)

LAM = 0.4


def _setup(tiny_net, matrix="gauss_newton"):
    net, adapter, X, y, c, gen = tiny_net(4)
    theta = adapter.get_theta(net)
    dense = (
        adapter.gauss_newton(theta, X, y, c)
        if matrix == "gauss_newton"
        else adapter.hessian(theta, X, y, c)
    ) + LAM * torch.diag(adapter.penalty_mask)
    return adapter, theta, X, y, c, dense, gen


@pytest.mark.parametrize("matrix", ["gauss_newton", "hessian"])
@pytest.mark.parametrize("chunk_size", [5, 23, 100])  # 23 rows: 5+5+5+5+3
def test_streamed_product_equals_the_dense_one(tiny_net, matrix, chunk_size):
    adapter, theta, X, y, c, dense, gen = _setup(tiny_net, matrix)
    mv = net_matvec(
        adapter, theta, X, y, c, penalty=LAM, matrix=matrix, chunk_size=chunk_size
    )
    v = torch.randn(adapter.n_params, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(mv(v), dense @ v)


@pytest.mark.parametrize("kind", ["cg", "lissa"])
def test_iterative_solve_equals_the_direct_solve_over_uneven_chunks(tiny_net, kind):
    adapter, theta, X, y, c, dense, gen = _setup(tiny_net)
    damping = 0.05 if kind == "cg" else 1.0  # LiSSA's steps grow with cond
    mv = net_matvec(adapter, theta, X, y, c, penalty=LAM, chunk_size=7)  # 7+7+7+2
    top = float(torch.linalg.eigvalsh(dense)[-1])
    spec = IterativeNetCurvature(
        kind,
        damping=damping,
        rtol=1e-12,
        max_iter=20000 if kind == "lissa" else None,
        scale=1.2 * (top + damping) if kind == "lissa" else None,
    )
    v = torch.randn(adapter.n_params, generator=gen, dtype=torch.float64)
    x, spec_after = spec.solved(mv, adapter.n_params, v)
    direct = torch.linalg.solve(dense + damping * torch.eye(adapter.n_params), v)
    torch.testing.assert_close(x, direct, rtol=1e-7, atol=1e-9)
    assert spec_after.info_["converged"] and not spec_after.info_["diverged"]
    assert spec.info_ is None  # the spec itself is not changed


def test_diverging_lissa_raises(tiny_net):
    adapter, theta, X, y, c, dense, gen = _setup(tiny_net)
    mv = net_matvec(adapter, theta, X, y, c, penalty=LAM)
    top = float(torch.linalg.eigvalsh(dense)[-1])
    spec = IterativeNetCurvature("lissa", scale=0.2 * top)  # far too small
    v = torch.randn(adapter.n_params, generator=gen, dtype=torch.float64)
    with pytest.warns(CurvatureConvergenceWarning):
        with pytest.raises(NotPositiveDefiniteError, match="diverged"):
            spec.solved(mv, adapter.n_params, v)


def test_top_eigenvalue_approaches_the_largest_eigenvalue(tiny_net):
    adapter, theta, X, y, c, dense, _ = _setup(tiny_net)
    top = float(torch.linalg.eigvalsh(dense)[-1])
    est = top_eigenvalue(
        lambda v: dense @ v, adapter.n_params, like=theta, n_iter=500, rtol=1e-10
    )
    assert est <= top * (1 + 1e-9)
    assert est >= 0.99 * top
