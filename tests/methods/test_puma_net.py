"""PUMA on skorch nets: against an explicit reference and against the linear PUMA."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from numpy.testing import assert_allclose  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier  # noqa: E402
from torch import nn  # noqa: E402
from torch.func import functional_call  # noqa: E402

from sklearn_unlearn import UnlearningClassifier  # noqa: E402
from sklearn_unlearn.methods import PUMA  # noqa: E402
from sklearn_unlearn.methods._puma_lambda import reweighting_cvxpy  # noqa: E402

N, D, WD, K = 60, 3, 0.05, 5
TIGHT = dict(solver="newton-cholesky", tol=1e-12, max_iter=1000)


def _data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    y = np.digitize(X @ [1.0, -1.0, 0.5] + rng.logistic(size=n), [-1.0, 1.0])
    return X, y


def _mlp(max_epochs=5):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(D, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    return NeuralNetClassifier(
        module,
        criterion=nn.CrossEntropyLoss,
        max_epochs=max_epochs,
        lr=0.2,
        train_split=None,
        verbose=0,
        optimizer__weight_decay=WD,
    )


# ------------------------------------------------------------ the reference
def _by_hand(model, X, y, forget, eta, l1, l2, damping):
    """Eq. (9)-(12) with explicit Jacobians, an explicit solve and cvxpy.

    Independent of the adapter's derivative code: the net is evaluated by
    ``functional_call`` on its own parameters, the Gauss-Newton matrix is
    ``sum_i J_i^T (diag p_i - p_i p_i^T) J_i`` from ``jacrev``, per-row
    gradients come from one ``autograd.grad`` per row and ``grad C`` from
    autograd on the mean log loss written in torch.
    """
    module = model.estimator_.module_
    names = [k for k, _ in module.named_parameters()]
    shapes = [p.shape for _, p in module.named_parameters()]
    sizes = [p.numel() for _, p in module.named_parameters()]
    theta = model.state_.theta.clone()

    def logits(t, Xt):
        params = {
            k: v.view(s) for k, v, s in zip(names, t.split(sizes), shapes, strict=True)
        }
        return functional_call(module, params, (Xt,))

    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    n, p = len(y), theta.numel()
    J = torch.func.jacrev(logits)(theta, Xt)  # (n, 3, p)
    P = torch.softmax(logits(theta, Xt), dim=1)
    Hout = torch.diag_embed(P) - P[:, :, None] * P[:, None, :]
    H = torch.einsum("nkp,nkl,nlq->pq", J, Hout, J)
    H += (WD * n + damping) * torch.eye(p, dtype=H.dtype)

    t = theta.clone().requires_grad_(True)
    log_loss = nn.functional.cross_entropy(logits(t, Xt), yt)
    (gC,) = torch.autograd.grad(log_loss, t)
    V = torch.linalg.solve(H, gC)

    G = []
    for i in range(n):
        t = theta.clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(logits(t, Xt[i : i + 1]), yt[i : i + 1])
        G.append(torch.autograd.grad(loss, t)[0])
    G = torch.stack(G).numpy()  # (n, p)
    psi = G @ V.numpy()
    keep = ~forget
    # removing rows also lowers the weight decay (it scales with the rows
    # that remain): the step's first-order change of C includes that term,
    # which lam must offset as well
    removal = G[forget].sum(axis=0) + WD * forget.sum() * theta.numpy()
    lam = reweighting_cvxpy(
        n * psi[keep, None], n * (removal @ V.numpy())[None], l1, l2
    )
    direction = removal - lam @ G[keep]
    return theta.numpy() + eta * np.linalg.solve(H.numpy(), direction)


@pytest.mark.parametrize(
    "curvature, options", [("cholesky", {}), ("cg", {}), ("lissa", {})]
)
@pytest.mark.parametrize("l1, l2", [(0.0, 1e-2), (1e-3, 1e-2)])
def test_net_step_matches_explicit_reference(curvature, options, l1, l2):
    X, y = _data()
    forget = np.arange(N) < K
    method = PUMA(
        eta=0.7, l1=l1, l2=l2, pool_size=None, damping=1e-3, curvature=curvature
    )
    model = UnlearningClassifier(_mlp(), method=method).fit(X, y)
    ref = _by_hand(model, X, y, forget, 0.7, l1, l2, damping=1e-3)
    model.unlearn(X[forget], y[forget], X_retain=X[~forget], y_retain=y[~forget])
    tol = 1e-8 if curvature == "cholesky" else 1e-5
    assert_allclose(model.state_.theta.numpy(), ref, atol=tol, rtol=tol)
    assert model.ledger_[-1].method == "PUMA"


def test_net_step_without_reweighting_is_the_gauss_newton_removal():
    """``eta=1`` and an empty pool: the damped Gauss-Newton step of before."""
    X, y = _data()
    forget = np.arange(N) < K
    method = PUMA(pool_size=0, damping=1e-3)
    model = UnlearningClassifier(_mlp(), method=method).fit(X, y)
    a, theta = model.adapter_, model.state_.theta
    direction = a.gradient(theta, X[forget], y[forget]) + WD * K * theta
    H = a.gauss_newton(theta, X, y) + (WD * N + 1e-3) * torch.eye(a.n_params)
    expected = theta + torch.linalg.solve(H, direction)
    model.unlearn(X[forget], y[forget], X_retain=X[~forget], y_retain=y[~forget])
    torch.testing.assert_close(model.state_.theta, expected, rtol=1e-7, atol=1e-9)


def test_convex_net_equals_linear_puma():
    """A linear binary net at logistic regression's optimum takes the linear step."""
    rng = np.random.default_rng(1)
    n = 120
    X = rng.normal(size=(n, D))
    y = (X @ [1.0, -1.0, 0.5] + rng.logistic(size=n) > 0).astype(int)
    logreg = LogisticRegression(C=1.0 / (WD * n), **TIGHT)
    ref = logreg.fit(X, y)
    lin = nn.Linear(D, 1).double()
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(ref.coef_))
        lin.bias.copy_(torch.as_tensor(ref.intercept_))
    net = NeuralNetBinaryClassifier(
        lin,
        max_epochs=1,
        batch_size=-1,
        lr=0.1,
        train_split=None,
        verbose=0,
        optimizer__weight_decay=WD,
        optimizer__param_groups=[("bias", {"weight_decay": 0.0})],
    )
    method = PUMA(eta=0.8, criterion="brier", pool_size=None)
    model = UnlearningClassifier(net, method=method).fit(X, y)
    linear = UnlearningClassifier(logreg, method=method).fit(X, y)
    assert_allclose(model.state_.theta.numpy(), linear.state_.theta, atol=1e-10)
    y_new = np.concatenate([1 - y[:K], y[K:]])
    for m in (model, linear):  # n is unchanged: same objective
        m.relabel(X[:K], y[:K], 1 - y[:K], X_retain=X, y_retain=y_new)
    assert_allclose(model.state_.theta.numpy(), linear.state_.theta, atol=1e-9)
    assert_allclose(
        model.state_.curvature.V.numpy(), linear.state_.curvature.V, atol=1e-9
    )


@pytest.mark.parametrize("criterion", ["log_loss", "brier", "ece", ["log_loss", "ece"]])
def test_criteria_and_groups_run_on_a_net(criterion):
    X, y = _data()
    method = PUMA(criterion=criterion, group_by="class", solver="cvxpy")
    model = UnlearningClassifier(_mlp(), method=method).fit(X, y)
    m = (2 if isinstance(criterion, list) else 1) * 3
    assert tuple(model.state_.curvature.V.shape) == (model.adapter_.n_params, m)
    before = model.state_.theta.clone()
    model.unlearn(X[:K], y[:K], X_retain=X[K:], y_retain=y[K:])
    assert torch.isfinite(model.state_.theta).all()
    assert not torch.equal(model.state_.theta, before)


def _holds(blob, rows):
    return [
        row.astype(dtype).tobytes() in blob
        for row in rows
        for dtype in (np.float64, np.float32)
    ]


def test_unlearned_rows_leave_the_pool():
    X, y = _data()
    method = PUMA(pool="fit", pool_size=None)
    model = UnlearningClassifier(_mlp(), method=method).fit(X, y)
    assert any(_holds(pickle.dumps(model), X[:K]))  # the pool does hold them
    model.unlearn(X[:K], y[:K])
    assert model.state_.curvature.pool.n == N - K
    assert not any(_holds(pickle.dumps(model), X[:K]))


def test_default_net_keeps_no_row_and_takes_the_stored_pool_step():
    X, y = _data()
    X = X + 1000.0  # distinctive values: no parameter equals them
    models = {}
    for pool in ("retain", "fit"):
        method = PUMA(pool=pool, pool_size=None, damping=1e-3)
        models[pool] = UnlearningClassifier(_mlp(), method=method).fit(X, y)
    default = models["retain"]
    assert default.state_.curvature.pool is None
    assert not any(_holds(pickle.dumps(default), X))
    assert any(_holds(pickle.dumps(models["fit"]), X))  # the positive control
    before = pickle.dumps(default)
    with pytest.raises(ValueError, match="X_retain"):
        default.unlearn(X[:K], y[:K])
    assert pickle.dumps(default) == before
    for model in models.values():
        model.unlearn(X[:K], y[:K], X_retain=X[K:], y_retain=y[K:])
    torch.testing.assert_close(
        models["retain"].state_.theta, models["fit"].state_.theta
    )
    assert not any(_holds(pickle.dumps(default), X))


def test_matrix_free_needs_the_retained_rows_and_changes_nothing_without():
    X, y = _data()
    model = UnlearningClassifier(_mlp(), method=PUMA(curvature="cg")).fit(X, y)
    theta = model.state_.theta.clone()
    with pytest.raises(ValueError, match="X_retain"):
        model.unlearn(X[:K], y[:K])
    torch.testing.assert_close(model.state_.theta, theta, rtol=0, atol=0)
    assert model.ledger_[-1].n_remaining == N


def test_validation_rows_on_a_net():
    X, y = _data()
    X_val, y_val = _data(n=30, seed=1)
    method = PUMA(validation=(X_val, y_val))
    model = UnlearningClassifier(_mlp(), method=method).fit(X, y)
    model.unlearn(X[:K], y[:K], X_retain=X[K:], y_retain=y[K:])
    assert torch.isfinite(model.state_.theta).all()
    at_fit = UnlearningClassifier(_mlp(), method=PUMA()).fit(
        X, y, X_val=X_val, y_val=y_val
    )
    fresh = UnlearningClassifier(_mlp(), method=method).fit(X, y)
    torch.testing.assert_close(at_fit.state_.curvature.V, fresh.state_.curvature.V)
    bad = PUMA(validation=(X_val[:, :2], y_val))
    with pytest.raises(ValueError, match="features"):
        UnlearningClassifier(_mlp(), method=bad).fit(X, y)


def test_regressor_net_without_pool_is_the_gauss_newton_removal():
    """Squared error on a regressor net; an empty pool leaves the plain step."""
    from skorch import NeuralNetRegressor

    from sklearn_unlearn import UnlearningRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    y = np.tanh(X @ [1.0, -1.0, 0.5]) + 0.1 * rng.normal(size=N)
    torch.manual_seed(0)
    net = NeuralNetRegressor(
        nn.Sequential(nn.Linear(D, 4), nn.Tanh(), nn.Linear(4, 1)).double(),
        max_epochs=5,
        lr=0.1,
        train_split=None,
        verbose=0,
        optimizer__weight_decay=WD,
    )
    model = UnlearningRegressor(net, method=PUMA(pool_size=0, damping=1e-2))
    model.fit(X, y)
    assert model.method_._criteria(model.adapter_)[0].name == "squared_error"
    a, theta = model.adapter_, model.state_.theta
    direction = a.gradient(theta, X[:K], y[:K]) + WD * K * theta
    H = a.gauss_newton(theta, X, y) + (WD * N + 1e-2) * torch.eye(a.n_params)
    expected = theta + torch.linalg.solve(H, direction)
    model.unlearn(X[:K], y[:K], X_retain=X[K:], y_retain=y[K:])
    torch.testing.assert_close(model.state_.theta, expected, rtol=1e-7, atol=1e-9)
    with_pool = UnlearningRegressor(net, method=PUMA(damping=1e-2)).fit(X, y)
    with_pool.unlearn(X[:K], y[:K], X_retain=X[K:], y_retain=y[K:])
    assert not torch.allclose(with_pool.state_.theta, expected)
