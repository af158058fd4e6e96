"""Each method's step on a net against its formula computed independently."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from skorch import NeuralNetClassifier  # noqa: E402
from torch import nn  # noqa: E402

from sklearn_unlearn import UnlearningClassifier  # noqa: E402
from sklearn_unlearn.methods import SSSE, FirstOrder, Newton  # noqa: E402

N, D, WD, K = 40, 3, 0.05, 4


def _fit(method):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    y = np.digitize(X @ [1.0, -1.0, 0.5] + rng.logistic(size=N), [-1.0, 1.0])
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(D, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    net = NeuralNetClassifier(
        module,
        criterion=nn.CrossEntropyLoss,
        max_epochs=5,
        lr=0.2,
        train_split=None,
        verbose=0,
        optimizer__weight_decay=WD,
    )
    model = UnlearningClassifier(net, method=method).fit(X, y)
    return model, torch.as_tensor(X), torch.as_tensor(y)


def _gradient_change(a, theta, X, y):
    """Gradient change of removing the first K rows, formed by hand."""
    dlam = -WD * K
    return -a.gradient(theta, X[:K], y[:K]) + dlam * a.penalty_mask * theta


def _remaining_gn(a, theta, X, y, damping):
    p = a.n_params
    M = a.gauss_newton(theta, X[K:], y[K:])
    return M + (WD * (N - K)) * torch.diag(a.penalty_mask) + damping * torch.eye(p)


@pytest.mark.parametrize(
    "method",
    [
        Newton(damping=1e-3, downdate=True),
        Newton(damping=1e-3, curvature="dual", downdate=True),
        Newton(damping=1e-3, curvature="lowrank", downdate=True),
        Newton(damping=1e-3, curvature="cg", solver_options={"rtol": 1e-12}),
        Newton(damping=1e-3, curvature="cholesky", downdate=True),
    ],
)
def test_newton_step_is_the_damped_gauss_newton_step(method):
    model, X, y = _fit(method)
    a, theta = model.adapter_, model.state_.theta.clone()
    g = _gradient_change(a, theta, X, y)
    expected = theta - torch.linalg.solve(_remaining_gn(a, theta, X, y, 1e-3), g)
    model.unlearn(
        X[:K].numpy(), y[:K].numpy(), X_retain=X[K:].numpy(), y_retain=y[K:].numpy()
    )
    torch.testing.assert_close(model.state_.theta, expected, rtol=1e-8, atol=1e-10)
    assert model.ledger_[-1].step_norm == pytest.approx(
        float(torch.linalg.vector_norm(expected - theta))
    )


@pytest.mark.parametrize(
    "method",
    [
        Newton(damping=0.3, curvature="dual"),
        Newton(damping=0.3, curvature="lowrank"),
        Newton(damping=0.3, curvature="cholesky", downdate=False),
    ],
)
def test_newton_influence_step_solves_with_the_fit_time_curvature(method):
    """Without a downdate the step solves with the curvature of every row."""
    model, X, y = _fit(method)
    a, theta = model.adapter_, model.state_.theta.clone()
    g = _gradient_change(a, theta, X, y)
    M = a.gauss_newton(theta, X, y) + WD * N * torch.diag(a.penalty_mask)
    M += 0.3 * torch.eye(a.n_params, dtype=M.dtype)
    cached = model.state_.curvature
    model.unlearn(X[:K].numpy(), y[:K].numpy())
    expected = theta - torch.linalg.solve(M, g)
    torch.testing.assert_close(model.state_.theta, expected, rtol=1e-8, atol=1e-10)
    assert model.state_.curvature is cached  # prepared once, never rewritten
    assert "damping 0.3 (given)" in model.ledger_[0].notes


def test_newton_with_the_hessian():
    # The Hessian of a trained net is indefinite; its damping is chosen from
    # the fitted parameters (fits repeat exactly: _fit seeds torch), so the
    # damped Hessians before and after the request are positive definite by
    # construction, whatever the random state or thread count of the session.
    plain, X, y = _fit(FirstOrder(tau=0.01))
    a, theta = plain.adapter_, plain.state_.theta
    lows = []
    for rows, n in ((slice(None), N), (slice(K, None), N - K)):
        H = a.hessian(theta, X[rows], y[rows]) + WD * n * torch.diag(a.penalty_mask)
        lows.append(float(torch.linalg.eigvalsh(H)[0]))
    damping = max(0.0, -min(lows)) + 1.0
    model, X, y = _fit(Newton(damping=damping, matrix="hessian"))
    a, theta = model.adapter_, model.state_.theta.clone()
    torch.testing.assert_close(theta, plain.state_.theta)
    g = _gradient_change(a, theta, X, y)
    H = a.hessian(theta, X[K:], y[K:])
    H = H + WD * (N - K) * torch.diag(a.penalty_mask) + damping * torch.eye(a.n_params)
    model.unlearn(X[:K].numpy(), y[:K].numpy())
    torch.testing.assert_close(model.state_.theta, theta - torch.linalg.solve(H, g))


@pytest.mark.parametrize("block_size", [None, 5])
def test_ssse_step_uses_the_per_layer_block_fisher(block_size):
    eps, damping = 0.5, 1e-2
    model, X, y = _fit(SSSE(epsilon=eps, damping=damping, block_size=block_size))
    a, theta = model.adapter_, model.state_.theta.clone()
    G = a.per_sample_gradients_dense(theta, X, y)
    F = G.T @ G + torch.diag(WD * N * a.penalty_mask + damping)
    blocks, start = [], 0
    for size in a.param_sizes:
        step = size if block_size is None else block_size
        for s in range(start, start + size, step):
            blocks.append((s, min(s + step, start + size)))
        start += size
    mask = torch.zeros_like(F, dtype=torch.bool)
    for s, e in blocks:
        mask[s:e, s:e] = True
    g = _gradient_change(a, theta, X, y)
    expected = theta - eps * torch.linalg.solve(torch.where(mask, F, 0.0), g)
    model.unlearn(X[:K].numpy(), y[:K].numpy())
    torch.testing.assert_close(model.state_.theta, expected)
    # the removed rows' terms left the Fisher (at the parameters before the step)
    G_r = a.per_sample_gradients_dense(theta, X[:K], y[:K])
    F_new = torch.where(mask, F - G_r.T @ G_r, 0.0)
    v = torch.randn(a.n_params, dtype=torch.float64)
    torch.testing.assert_close(
        model.state_.curvature.solve(v), torch.linalg.solve(F_new, v)
    )


def test_first_order_step():
    model, X, y = _fit(FirstOrder(tau=0.01))
    a, theta = model.adapter_, model.state_.theta.clone()
    g = _gradient_change(a, theta, X, y)
    model.unlearn(X[:K].numpy(), y[:K].numpy())
    torch.testing.assert_close(model.state_.theta, theta - 0.01 * g)


def test_first_order_auto_rate_is_one_over_the_top_eigenvalue():
    model, X, y = _fit(FirstOrder())
    a, theta = model.adapter_, model.state_.theta
    M = a.gauss_newton(theta, X, y) + WD * N * torch.diag(a.penalty_mask)
    top = float(torch.linalg.eigvalsh(M)[-1])
    assert top <= model.state_.curvature.top <= 1.2 * top


def test_newton_stream_takes_rows_out_at_the_current_parameters():
    """Each request removes its rows' terms at the parameters of that request.

    The fit-time parameters (a net trained on the forgotten rows) are not
    kept anywhere: the second request's rows leave at ``theta1``.
    """
    import pickle

    model, X, y = _fit(Newton(damping=1e-3, curvature="cholesky", downdate=True))
    a, theta0 = model.adapter_, model.state_.theta.clone()
    M = a.gauss_newton(theta0, X, y)
    model.unlearn(X[:K].numpy(), y[:K].numpy())
    theta1 = model.state_.theta.clone()
    M = M - a.gauss_newton(theta0, X[:K], y[:K])
    g = -a.gradient(theta1, X[K : 2 * K], y[K : 2 * K])
    g += -WD * K * a.penalty_mask * theta1
    model.unlearn(X[K : 2 * K].numpy(), y[K : 2 * K].numpy())
    M = M - a.gauss_newton(theta1, X[K : 2 * K], y[K : 2 * K])
    M = M + WD * (N - 2 * K) * torch.diag(a.penalty_mask)
    cur = model.state_.curvature
    assert not model.state_.curvature_repaired
    torch.testing.assert_close(cur.matrix_, M)
    assert cur.n_refactorizations_ == 2  # K / N = 10% a request: past max_shift
    expected = theta1 - torch.linalg.solve(M + 1e-3 * torch.eye(a.n_params), g)
    torch.testing.assert_close(model.state_.theta, expected, rtol=1e-8, atol=1e-10)
    blob = pickle.dumps(model)
    assert theta0.numpy().tobytes() not in blob
    assert not hasattr(cur, "point_")


def test_newton_repairs_a_curvature_left_indefinite():
    """Rows taken out where their terms are larger than when they went in."""
    from sklearn_unlearn.curvature._torch_cholesky import TorchCholeskyCurvature

    op = TorchCholeskyCurvature(
        torch.eye(3, dtype=torch.float64), floor=torch.full((3,), 0.1)
    )
    R = torch.tensor([[1.5], [0.0], [0.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="not positive definite"):
        op.updated(remove=R)
    fixed = op.clipped(remove=R)
    evals = torch.linalg.eigvalsh(fixed.matrix_)
    torch.testing.assert_close(evals.min(), torch.tensor(0.1, dtype=torch.float64))
    b = torch.ones(3, dtype=torch.float64)
    torch.testing.assert_close(fixed.solve(b), torch.linalg.solve(fixed.matrix_, b))


def _adam_net():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(D, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    return NeuralNetClassifier(
        module,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        max_epochs=5,
        lr=0.01,
        batch_size=10,
        train_split=None,
        verbose=0,
        optimizer__weight_decay=1e-3,
    )


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    return X, np.digitize(X @ [1.0, -1.0, 0.5] + rng.logistic(size=N), [-1.0, 1.0])


def test_wrapping_does_not_change_the_trained_net():
    X, y = _data()
    plain = _adam_net().fit(X, y)
    model = UnlearningClassifier(_adam_net()).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), plain.predict_proba(X))


@pytest.mark.parametrize("curvature", ["auto", "lowrank", "dual"])
def test_default_newton_is_damped_by_the_training_run(curvature):
    X, y = _data()
    model = UnlearningClassifier(
        _adam_net(), method=Newton(curvature=curvature, rank=8)
    ).fit(X, y)
    cur = model.state_.curvature
    assert cur.damping > 0
    assert any("from the training run: Adam" in note for note in model.ledger_[0].notes)
    theta = model.state_.theta.clone()
    with pytest.raises(ValueError, match="never trained on"):
        model.unlearn(X[:3] + 1.0, y[:3])
    assert torch.equal(model.state_.theta, theta) and len(model.ledger_) == 1
    model.unlearn(X[:3], y[:3])
    first = model.state_.theta - theta
    model.unlearn(X[3:6], y[3:6])  # a second request takes the same path
    assert model.state_.curvature is cur or curvature == "auto"
    assert 0 < float(torch.linalg.vector_norm(first)) < float(torch.linalg.norm(theta))
    assert model.ledger_[-1].n_remaining == N - 6


def test_undamped_newton_on_a_net_not_at_a_minimum_warns():
    X, y = _data()
    with pytest.warns(UserWarning, match="not at a minimum"):
        UnlearningClassifier(_adam_net(), method=Newton(damping=0.0)).fit(X, y)


def test_low_rank_forms_refuse_the_hessian():
    X, y = _data()
    method = Newton(curvature="lowrank", matrix="hessian")
    with pytest.raises(ValueError, match="Gauss-Newton"):
        UnlearningClassifier(_adam_net(), method=method).fit(X, y)


@pytest.mark.parametrize("curvature", ["dual", "lowrank"])
def test_ssse_low_rank_forms_solve_with_the_whole_empirical_fisher(curvature):
    eps, damping = 0.5, 1e-2
    model, X, y = _fit(SSSE(epsilon=eps, damping=damping, curvature=curvature))
    a, theta = model.adapter_, model.state_.theta.clone()
    G = a.per_sample_gradients_dense(theta, X, y)
    F = G.T @ G + torch.diag(WD * N * a.penalty_mask + damping)
    g = _gradient_change(a, theta, X, y)
    cached = model.state_.curvature
    model.unlearn(X[:K].numpy(), y[:K].numpy())
    expected = theta - eps * torch.linalg.solve(F, g)
    torch.testing.assert_close(model.state_.theta, expected)
    assert model.state_.curvature is cached


def test_ssse_auto_damping_on_a_net_comes_from_the_training_run():
    X, y = _data()
    model = UnlearningClassifier(_adam_net(), method=SSSE(curvature="dual"))
    model.fit(X, y)
    assert model.state_.curvature.damping > 1e-3
    assert any("from the training run: Adam" in n for n in model.ledger_[0].notes)
