"""BlockDiagonalFisherInverse: exact inverses of the diagonal blocks of the Fisher."""

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_unlearn.curvature import (
    CurvatureOperator,
    EmpiricalFisherInverse,
    NotPositiveDefiniteError,
)
from sklearn_unlearn.curvature._block_fisher import BlockDiagonalFisherInverse

SEED = 0
P, N = 11, 40

# name -> (constructor, expected blocks)
LAYOUTS = {
    "fixed_ragged": (
        lambda D, br: BlockDiagonalFisherInverse(D, block_size=4, block_rows=br),
        [(0, 4), (4, 8), (8, 11)],
    ),
    "explicit_layers": (
        lambda D, br: BlockDiagonalFisherInverse(
            D, blocks=[(4, 5), (0, 4), (5, 11)], block_rows=br
        ),
        [(0, 4), (4, 5), (5, 11)],
    ),
    "layers_capped": (
        lambda D, br: BlockDiagonalFisherInverse(
            D, blocks=[(0, 6), (6, 7), (7, 11)], block_size=4, block_rows=br
        ),
        [(0, 4), (4, 6), (6, 7), (7, 11)],
    ),
    "from_layers_capped": (
        lambda D, br: BlockDiagonalFisherInverse.from_layers(
            [(3, 2), 0, 1, (4,)], D, block_size=4, block_rows=br
        ),
        [(0, 4), (4, 6), (6, 7), (7, 11)],
    ),
    "from_layers_whole": (
        lambda D, br: BlockDiagonalFisherInverse.from_layers(
            [6, 1, 4], D, block_rows=br
        ),
        [(0, 6), (6, 7), (7, 11)],
    ),
}


def _data(seed=SEED, n=N, p=P):
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(n, p))  # per-row gradients g_i
    c = rng.uniform(0.2, 2.0, n)  # row weights c_i
    D = rng.uniform(0.1, 1.0, p)
    U = (G * np.sqrt(c)[:, None]).T  # columns sqrt(c_i) g_i
    return G, c, D, U


def _block_inverses(D, G, c, blocks):
    """Explicit inverse of each diagonal block of D + G^T diag(c) G."""
    F = np.diag(D) + G.T @ (c[:, None] * G)
    return [np.linalg.inv(F[s:e, s:e]) for s, e in blocks]


def _dense(op):
    return op.solve(np.eye(op.n_params))


@pytest.mark.parametrize("block_rows", [1, 3, 256])
def test_one_block_equals_empirical_fisher_inverse(block_rows):
    G, c, D, U = _data()
    ref = EmpiricalFisherInverse(D, block_rows=block_rows).updated(add=U)
    op = BlockDiagonalFisherInverse(D, block_rows=block_rows).updated(add=U)
    assert isinstance(op, CurvatureOperator)
    assert op.blocks_ == [(0, P)]
    assert_allclose(op.inverses_[0], ref.inverse_, rtol=1e-10, atol=1e-14)
    v = np.random.default_rng(1).normal(size=(P, 3))
    assert_allclose(op.solve(v), ref.solve(v), rtol=1e-10)
    ref2, op2 = ref.updated(remove=U[:, :5]), op.updated(remove=U[:, :5])
    assert_allclose(op2.inverses_[0], ref2.inverse_, rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("block_rows", [1, 3, 256])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_equals_explicit_block_inverses(layout, block_rows):
    G, c, D, U = _data()
    make, blocks = LAYOUTS[layout]
    op = make(D, block_rows).updated(add=U)
    assert op.blocks_ == blocks
    assert op.block_rows == block_rows
    expected = _block_inverses(D, G, c, blocks)
    for got, want in zip(op.inverses_, expected, strict=True):
        assert_allclose(got, want, rtol=1e-9, atol=1e-13)
        assert_allclose(got, got.T, atol=1e-15)
    dense = np.zeros((P, P))
    for (s, e), want in zip(blocks, expected, strict=True):
        dense[s:e, s:e] = want
    v = np.random.default_rng(1).normal(size=(P, 2))
    assert_allclose(op.solve(v), dense @ v, rtol=1e-9)
    assert_allclose(op.solve(v[:, 0]), dense @ v[:, 0], rtol=1e-9)
    assert op.solve(v[:, 0]).shape == (P,)


@pytest.mark.parametrize("block_rows", [1, 3, 256])
@pytest.mark.parametrize("layout", ["fixed_ragged", "from_layers_capped"])
def test_downdate_after_update_returns_earlier_inverse(layout, block_rows):
    G, c, D, U = _data()
    make, blocks = LAYOUTS[layout]
    start = make(D, block_rows).updated(add=U[:, :25])
    before = [A.copy() for A in start.inverses_]
    up = start.updated(add=U[:, 25:])
    down = up.updated(remove=U[:, 25:])
    for got, want in zip(down.inverses_, before, strict=True):
        assert_allclose(got, want, rtol=1e-8, atol=1e-12)
    for got, want in zip(start.inverses_, before, strict=True):
        assert_array_equal(got, want)  # updated() returns a new operator
    # removing rows equals never having added them
    for got, want in zip(
        up.updated(remove=U[:, :7]).inverses_,
        _block_inverses(D, G[7:], c[7:], blocks),
        strict=True,
    ):
        assert_allclose(got, want, rtol=1e-8, atol=1e-12)


def test_add_and_remove_in_one_call():
    G, c, D, U = _data()
    op = BlockDiagonalFisherInverse(D, block_size=3, block_rows=4)
    op = op.updated(add=U[:, :30]).updated(add=U[:, 30:], remove=U[:, :10])
    for got, want in zip(
        op.inverses_, _block_inverses(D, G[10:], c[10:], op.blocks_), strict=True
    ):
        assert_allclose(got, want, rtol=1e-8, atol=1e-12)


def test_one_dimensional_factor_is_one_row():
    G, c, D, _ = _data()
    op = BlockDiagonalFisherInverse(D, block_size=5).updated(add=G[0])
    ones = np.ones(1)
    for got, want in zip(
        op.inverses_, _block_inverses(D, G[:1], ones, op.blocks_), strict=True
    ):
        assert_allclose(got, want)


@pytest.mark.parametrize("block_rows", [1, 256])
def test_indefinite_downdate_raises_and_keeps_the_operator(block_rows):
    G, c, D, U = _data()
    op = BlockDiagonalFisherInverse(D, block_size=4, block_rows=block_rows)
    op = op.updated(add=U)
    before = [A.copy() for A in op.inverses_]
    bad = np.zeros((P, 1))
    bad[9, 0] = 100.0  # only the last block [8, 11) becomes indefinite
    with pytest.raises(NotPositiveDefiniteError, match=r"block \[8, 11\).*indefinite"):
        op.updated(add=U[:, :3], remove=bad)
    for got, want in zip(op.inverses_, before, strict=True):
        assert_array_equal(got, want)
    assert isinstance(NotPositiveDefiniteError("x"), ValueError)


def test_memory_bytes_and_info():
    D = np.ones(11)
    op = BlockDiagonalFisherInverse(D, block_size=4)
    assert op.memory_bytes == (16 + 16 + 9) * 8
    assert op.n_params == 11
    assert BlockDiagonalFisherInverse(D.astype(np.float32)).memory_bytes == 121 * 4
    assert BlockDiagonalFisherInverse(np.ones(3, dtype=int)).dtype == np.float64
    assert_allclose(_dense(op), np.eye(11))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(blocks=[(0, 5), (6, 11)]), "gap"),
        (dict(blocks=[(0, 6), (5, 11)]), "overlaps"),
        (dict(blocks=[(0, 5), (5, 10)]), r"cover \[0, 10\)"),
        (dict(blocks=[(0, 5), (5, 12)]), r"cover \[0, 12\)"),
        (dict(blocks=[(1, 11)]), "gap"),
        (dict(blocks=[(0, 0), (0, 11)]), "empty"),
        (dict(blocks=[]), "empty"),
        (dict(blocks=[(0, 5, 7), (5, 11)]), "pair of ints"),
        (dict(blocks=[(0, 5.5), (5.5, 11)]), "pair of ints"),
        (dict(block_size=0), "block_size"),
        (dict(block_size=2.5), "block_size"),
        (dict(block_rows=0), "block_rows"),
    ],
)
def test_invalid_layout_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BlockDiagonalFisherInverse(np.ones(11), **kwargs)


def test_from_layers_sizes_must_add_up():
    with pytest.raises(ValueError, match="tile"):
        BlockDiagonalFisherInverse.from_layers([3, 4], np.ones(8))
    with pytest.raises(ValueError, match=">= 0"):
        BlockDiagonalFisherInverse.from_layers([3, -1], np.ones(2))


@pytest.mark.parametrize("bad", [np.zeros(4), -np.ones(4), np.array([1.0, np.nan])])
def test_diagonal_must_be_positive(bad):
    with pytest.raises(ValueError, match="strictly positive"):
        BlockDiagonalFisherInverse(bad)


@pytest.mark.parametrize("bad", [np.ones((2, 2)), np.ones(0)])
def test_diagonal_must_be_1d(bad):
    with pytest.raises(ValueError, match="1-d"):
        BlockDiagonalFisherInverse(bad)


def test_validates_rhs_and_factors():
    op = BlockDiagonalFisherInverse(np.ones(3), block_size=2)
    with pytest.raises(ValueError, match="v has 2 rows"):
        op.solve(np.ones(2))
    with pytest.raises(ValueError, match=r"shape \(p,\) or \(p, m\)"):
        op.solve(np.ones((3, 1, 1)))
    with pytest.raises(ValueError, match="NaN"):
        op.solve(np.array([1.0, np.inf, 0.0]))
    with pytest.raises(ValueError, match=r"add must have shape \(3,\)"):
        op.updated(add=np.ones((2, 3)))
    with pytest.raises(ValueError, match="remove contains NaN"):
        op.updated(remove=np.full((3, 1), np.nan))
    assert_allclose(op.solve([1.0, 2.0, 3.0]), [1.0, 2.0, 3.0])  # array-like


def test_congruence_is_not_supported():
    op = BlockDiagonalFisherInverse(np.ones(3))
    with pytest.raises(NotImplementedError, match="congruence"):
        op.congruence(lambda A: A, np.ones(3))


def test_module_imports_without_torch():
    code = (
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "import numpy as np\n"
        "from sklearn_unlearn.curvature._block_fisher import "
        "BlockDiagonalFisherInverse as B\n"
        "op = B(np.ones(3), block_size=2).updated(add=np.ones((3, 2)))\n"
        "assert 'torch' not in sys.modules\n"
        "print(op.solve(np.ones(3)).shape)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "(3,)"


# ------------------------------------------------------------------ torch
def test_torch_float64_matches_numpy():
    torch = pytest.importorskip("torch")
    G, c, D, U = _data()
    ref = BlockDiagonalFisherInverse(D, block_size=4, block_rows=3).updated(
        add=U, remove=U[:, :5]
    )
    Dt, Ut = torch.from_numpy(D), torch.from_numpy(U)
    op = BlockDiagonalFisherInverse(Dt, block_size=4, block_rows=3)
    op = op.updated(add=Ut, remove=Ut[:, :5])
    assert op.dtype == torch.float64
    for got, want in zip(op.inverses_, ref.inverses_, strict=True):
        assert torch.is_tensor(got) and got.dtype == torch.float64
        assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-14)
    assert op.memory_bytes == ref.memory_bytes
    v = np.random.default_rng(1).normal(size=(P, 2))
    out_t = op.solve(torch.from_numpy(v))
    assert torch.is_tensor(out_t)
    assert_allclose(out_t.numpy(), ref.solve(v), rtol=1e-10)
    out_n = op.solve(v)  # NumPy in, NumPy out
    assert isinstance(out_n, np.ndarray)
    assert_allclose(out_n, ref.solve(v), rtol=1e-10)
    # mixed: NumPy factors into a torch operator, tensors into a NumPy one
    mixed = BlockDiagonalFisherInverse(Dt, block_size=4).updated(add=U)
    mixed_ref = BlockDiagonalFisherInverse(D, block_size=4).updated(add=Ut)
    for a, b in zip(mixed.inverses_, mixed_ref.inverses_, strict=True):
        assert torch.is_tensor(a) and isinstance(b, np.ndarray)
        assert_allclose(a.numpy(), b, rtol=1e-10, atol=1e-14)
    assert torch.is_tensor(mixed_ref.solve(torch.from_numpy(v)))


def test_torch_indefinite_downdate_raises_and_keeps_the_operator():
    torch = pytest.importorskip("torch")
    G, c, D, U = _data()
    op = BlockDiagonalFisherInverse(torch.from_numpy(D), block_size=4)
    op = op.updated(add=torch.from_numpy(U))
    before = [A.clone() for A in op.inverses_]
    with pytest.raises(NotPositiveDefiniteError, match="indefinite"):
        op.updated(remove=10.0 * torch.from_numpy(U[:, :2]))
    for got, want in zip(op.inverses_, before, strict=True):
        assert torch.equal(got, want)
    with pytest.raises(ValueError, match="NaN"):
        op.solve(torch.full((P,), float("nan"), dtype=torch.float64))


def test_torch_float32_and_half_diagonal():
    torch = pytest.importorskip("torch")
    op = BlockDiagonalFisherInverse(torch.ones(5, dtype=torch.float32), block_size=2)
    assert op.dtype == torch.float32 and op.memory_bytes == (4 + 4 + 1) * 4
    op = op.updated(add=torch.ones(5, 2, dtype=torch.float64))
    assert op.inverses_[0].dtype == torch.float32
    half = BlockDiagonalFisherInverse(torch.ones(3, dtype=torch.float16))
    assert half.dtype == torch.float32


def test_skorch_net_end_to_end(tiny_net):
    import torch

    from sklearn_unlearn.adapters._torch import SkorchAdapter

    # gradients stream in chunks of 7
    net, adapter, X, y, c, _ = tiny_net(5, chunk_size=7)
    theta = adapter.get_theta(net)
    sizes = [p.numel() for _, p in net.module_.named_parameters() if p.requires_grad]
    assert sum(sizes) == adapter.n_params == 38
    D = adapter.penalty_strength(float(c.sum())) * adapter.penalty_mask + 1e-3

    op = BlockDiagonalFisherInverse.from_layers(sizes, D, block_size=8, block_rows=4)
    assert op.blocks_ == [(0, 8), (8, 15), (15, 20), (20, 28), (28, 35), (35, 38)]
    start = 0
    for G in adapter.per_sample_gradients(theta, X, y):
        cc = c[start : start + G.shape[0]]
        start += G.shape[0]
        op = op.updated(add=(G * cc.sqrt()[:, None]).T)

    G = adapter.per_sample_gradients_dense(theta, X, y).numpy()
    Dn, cn = D.numpy(), c.numpy()
    for got, want in zip(
        op.inverses_, _block_inverses(Dn, G, cn, op.blocks_), strict=True
    ):
        assert torch.is_tensor(got)
        assert_allclose(got.numpy(), want, rtol=1e-8, atol=1e-12)

    # erase the first 5 rows with their own gradients
    G5 = next(iter(SkorchAdapter(net, chunk_size=5).per_sample_gradients(theta, X, y)))
    down = op.updated(remove=(G5 * c[:5].sqrt()[:, None]).T)
    expected = _block_inverses(Dn, G[5:], cn[5:], op.blocks_)
    for got, want in zip(down.inverses_, expected, strict=True):
        assert_allclose(got.numpy(), want, rtol=1e-8, atol=1e-12)
    g = adapter.gradient(theta, X[:5], y[:5], c[:5])
    step = down.solve(g)
    assert torch.is_tensor(step) and step.shape == (38,)
    want = np.concatenate(
        [A @ g.numpy()[s:e] for (s, e), A in zip(op.blocks_, expected, strict=True)]
    )
    assert_allclose(step.numpy(), want, rtol=1e-8)
