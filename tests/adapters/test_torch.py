"""SkorchAdapter: derivatives vs torch.autograd, skorch's scaling, modes, chunks."""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")

from skorch import (  # noqa: E402
    NeuralNet,
    NeuralNetBinaryClassifier,
    NeuralNetClassifier,
    NeuralNetRegressor,
)
from skorch.exceptions import NotInitializedError  # noqa: E402
from torch import nn  # noqa: E402
from torch.func import functional_call  # noqa: E402

from sklearn_unlearn.adapters._torch import SkorchAdapter  # noqa: E402

N, D, H, K = 23, 3, 4, 3
WD = 0.05
KINDS = ["clf_nll", "clf_ce", "binary", "regressor"]


def make_module(kind, dtype=torch.float64, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    out = {"clf_nll": K, "clf_ce": K, "binary": 1, "regressor": 2}[kind]
    layers = [nn.Linear(D, H), nn.Tanh(), nn.Dropout(dropout), nn.Linear(H, out)]
    if kind == "clf_nll":
        layers.append(nn.Softmax(dim=-1))
    return nn.Sequential(*layers).to(dtype)


def make_data(kind, dtype=torch.float64, n=N, seed=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, D, generator=g, dtype=dtype)
    if kind in ("clf_nll", "clf_ce"):
        y = torch.randint(0, K, (n,), generator=g)
    elif kind == "binary":
        y = torch.randint(0, 2, (n,), generator=g).to(dtype)
    else:
        y = torch.randn(n, 2, generator=g, dtype=dtype)
    c = torch.rand(n, generator=g, dtype=dtype) + 0.5
    return X, y, c


def make_net(kind, dtype=torch.float64, dropout=0.0, **kw):
    module = make_module(kind, dtype, dropout)
    kw.setdefault("optimizer__weight_decay", WD)
    common = dict(max_epochs=0, train_split=None, optimizer=torch.optim.SGD, lr=0.1)
    common.update(kw)
    if kind == "clf_nll":
        net = NeuralNetClassifier(module, **common)
    elif kind == "clf_ce":
        net = NeuralNetClassifier(module, criterion=nn.CrossEntropyLoss, **common)
    elif kind == "binary":
        net = NeuralNetBinaryClassifier(module, **common)
    else:
        net = NeuralNetRegressor(module, **common)
    return net.initialize()


# ------------------------------------------------------------ references
def ref_row_losses(net, theta, X, y):
    """Each row's loss through skorch's own get_loss, differentiable in theta."""
    adapter = SkorchAdapter(net)
    params = dict(zip(adapter.param_names, unflatten(adapter, theta), strict=True))
    out = functional_call(net.module_, params, (X,))
    if isinstance(net, NeuralNetBinaryClassifier):
        out = out.reshape(-1)
    return torch.stack(
        [net.get_loss(out[i : i + 1], y[i : i + 1]) for i in range(X.shape[0])]
    )


def unflatten(adapter, theta):
    return [
        t.view(s)
        for t, s in zip(theta.split(adapter._numels), adapter._shapes, strict=True)
    ]


def ref_scores(net, theta, X):
    adapter = SkorchAdapter(net)
    params = dict(zip(adapter.param_names, unflatten(adapter, theta), strict=True))
    s = functional_call(net.module_, params, (X,)).reshape(X.shape[0], -1)
    if isinstance(net, NeuralNetClassifier) and isinstance(net.criterion_, nn.NLLLoss):
        s = torch.log(s + torch.finfo(s.dtype).eps)
    return s


def ref_score_loss(kind, s, yi):
    """Loss of one row as a function of its scores (CE of log-probs for NLL)."""
    F = nn.functional
    if kind in ("clf_nll", "clf_ce"):
        return F.cross_entropy(s[None], yi[None])
    if kind == "binary":
        return F.binary_cross_entropy_with_logits(s[0], yi)
    return ((s - yi) ** 2).mean()


def ref_per_sample(net, X, y):
    """A plain loop of torch.autograd.grad over skorch's get_loss."""
    net.module_.eval()
    params = [p for p in net.module_.parameters() if p.requires_grad]
    rows = []
    for i in range(X.shape[0]):
        loss = net.get_loss(net.infer(X[i : i + 1]), y[i : i + 1])
        gs = torch.autograd.grad(loss, params)
        rows.append(torch.cat([g.reshape(-1) for g in gs]))
    return torch.stack(rows)


@pytest.fixture(params=KINDS)
def case(request):
    kind = request.param
    net = make_net(kind)
    X, y, c = make_data(kind)
    adapter = SkorchAdapter(net, chunk_size=5)
    theta = adapter.get_theta(net)
    v = torch.randn(adapter.n_params, generator=torch.Generator().manual_seed(2))
    return kind, net, adapter, theta, X, y, c, v.double()


# ------------------------------------------------------------- derivatives
def test_per_sample_gradients_match_autograd_loop(case):
    kind, net, adapter, theta, X, y, c, v = case
    chunks = list(adapter.per_sample_gradients(theta, X, y))
    assert [g.shape[0] for g in chunks] == [5, 5, 5, 5, 3]
    G = torch.cat(chunks)
    torch.testing.assert_close(G, ref_per_sample(net, X, y), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(adapter.per_sample_gradients_dense(theta, X, y), G)


def test_gradient_and_loss_match_autograd(case):
    kind, net, adapter, theta, X, y, c, v = case
    t = theta.clone().requires_grad_(True)
    obj = (c * ref_row_losses(net, t, X, y)).sum()
    (g_ref,) = torch.autograd.grad(obj, t)
    torch.testing.assert_close(adapter.gradient(theta, X, y, c), g_ref)
    torch.testing.assert_close(adapter.loss_value(theta, X, y, c), obj.detach())


def test_hvp_and_hessian_match_autograd_hessian(case):
    kind, net, adapter, theta, X, y, c, v = case
    H_ref = torch.autograd.functional.hessian(
        lambda t: (c * ref_row_losses(net, t, X, y)).sum(), theta, vectorize=True
    )
    torch.testing.assert_close(adapter.hvp(theta, X, y, c, v), H_ref @ v)
    H = adapter.hessian(theta, X, y, c)
    torch.testing.assert_close(H, H_ref)
    torch.testing.assert_close(H, H.T)


def test_gnvp_and_gauss_newton_match_explicit_jthj(case):
    kind, net, adapter, theta, X, y, c, v = case
    J = torch.autograd.functional.jacobian(
        lambda t: ref_scores(net, t, X), theta, vectorize=True
    )
    s = ref_scores(net, theta, X)
    G_ref = torch.zeros(adapter.n_params, adapter.n_params, dtype=theta.dtype)
    for i in range(N):
        Hi = torch.autograd.functional.hessian(
            lambda si, i=i: ref_score_loss(kind, si, y[i]), s[i]
        )
        G_ref += c[i] * J[i].T @ Hi @ J[i]
    torch.testing.assert_close(adapter.gnvp(theta, X, y, c, v), G_ref @ v)
    GN = adapter.gauss_newton(theta, X, y, c)
    torch.testing.assert_close(GN, G_ref)
    assert torch.linalg.eigvalsh(GN).min() > -1e-10  # positive semi-definite


def test_fisher_vp_matches_explicit(case):
    kind, net, adapter, theta, X, y, c, v = case
    G = ref_per_sample(net, X, y)
    torch.testing.assert_close(
        adapter.fisher_vp(theta, X, y, c, v), G.T @ (c * (G @ v))
    )


@pytest.mark.parametrize("kind", ["clf_ce", "clf_nll", "binary", "regressor"])
def test_gauss_newton_is_hessian_for_a_linear_module(kind):
    torch.manual_seed(0)
    out = {"clf_nll": K, "clf_ce": K, "binary": 1, "regressor": 2}[kind]
    layers = [nn.Linear(D, out)] + ([nn.Softmax(dim=-1)] if kind == "clf_nll" else [])
    module = nn.Sequential(*layers).double()
    cls = {
        "binary": NeuralNetBinaryClassifier,
        "regressor": NeuralNetRegressor,
    }.get(kind, NeuralNetClassifier)
    kw = {"criterion": nn.CrossEntropyLoss} if kind == "clf_ce" else {}
    net = cls(module, max_epochs=0, train_split=None, **kw).initialize()
    X, y, c = make_data(kind)
    adapter = SkorchAdapter(net)
    theta = adapter.get_theta(net)
    torch.testing.assert_close(
        adapter.gauss_newton(theta, X, y, c), adapter.hessian(theta, X, y, c)
    )


def test_uneven_chunks_equal_one_chunk(case):
    kind, net, adapter, theta, X, y, c, v = case
    one = SkorchAdapter(net, chunk_size=10_000)
    tol = dict(rtol=1e-12, atol=1e-12)
    for name in ("gradient", "loss_value", "hessian", "gauss_newton"):
        a = getattr(adapter, name)(theta, X, y, c)
        torch.testing.assert_close(a, getattr(one, name)(theta, X, y, c), **tol)
    for name in ("hvp", "gnvp", "fisher_vp"):
        a = getattr(adapter, name)(theta, X, y, c, v)
        torch.testing.assert_close(a, getattr(one, name)(theta, X, y, c, v), **tol)
    torch.testing.assert_close(
        adapter.per_sample_gradients_dense(theta, X, y),
        one.per_sample_gradients_dense(theta, X, y),
        **tol,
    )
    assert len(list(one.per_sample_gradients(theta, X, y))) == 1


# ---------------------------------------------------- skorch's own scaling
@pytest.mark.parametrize("kind", KINDS)
def test_scaling_matches_skorch_loss_and_sgd_step(kind):
    net = make_net(kind, optimizer__weight_decay=WD, lr=0.3)
    net.module_.eval()
    X, y, _ = make_data(kind)
    adapter = SkorchAdapter(net)
    theta = adapter.get_theta(net)
    ones = torch.ones(N, dtype=torch.float64)
    assert adapter.mean_scaled and adapter.weight_decay == pytest.approx(WD)
    assert adapter.penalty_strength(N) == pytest.approx(WD * N)
    torch.testing.assert_close(adapter.penalty_mask, torch.ones_like(theta))
    penalty = WD / 2 * theta @ theta
    ours = adapter.loss_value(theta, X, y, ones) / N + penalty
    skorch_loss = net.get_loss(net.infer(X), y).detach()
    torch.testing.assert_close(ours, skorch_loss + penalty)
    # one full-batch SGD step of skorch's optimizer moves along our objective
    g = (adapter.gradient(theta, X, y, ones) + adapter.penalty_gradient(theta, N)) / N
    net.optimizer_.zero_grad()
    net.get_loss(net.infer(X), y).backward()
    net.optimizer_.step()
    torch.testing.assert_close(adapter.get_theta(net), theta - 0.3 * g)


def test_param_groups_set_the_penalty_mask():
    net = make_net(
        "clf_ce",
        optimizer__weight_decay=WD,
        optimizer__param_groups=[("*.bias", {"weight_decay": 0.0})],
    )
    adapter = SkorchAdapter(net)
    expected = torch.cat(
        [
            torch.full((p.numel(),), 0.0 if name.endswith("bias") else 1.0)
            for name, p in net.module_.named_parameters()
        ]
    ).double()
    torch.testing.assert_close(adapter.penalty_mask, expected)
    assert adapter.weight_decay == pytest.approx(WD)
    theta = adapter.get_theta(net)
    torch.testing.assert_close(
        adapter.penalty_gradient(theta, 4.0), 4.0 * WD * expected * theta
    )


# ------------------------------------------------------------ layout, modes
def test_set_get_round_trip_changes_predictions():
    net = make_net("clf_nll")
    X, _, _ = make_data("clf_nll")
    adapter = SkorchAdapter(net)
    theta = adapter.get_theta(net)
    assert theta.shape == (adapter.n_params,) and theta.dtype == torch.float64
    theta[0] += 100.0  # a copy: the net is untouched
    assert not torch.equal(adapter.get_theta(net), theta)
    before = net.predict_proba(X)
    new = theta + 0.5 * torch.randn(theta.shape, dtype=theta.dtype)
    adapter.set_theta(net, new)
    after = net.predict_proba(X)
    assert not np.allclose(before, after)
    torch.testing.assert_close(adapter.get_theta(net), new)
    assert all(p.dtype == torch.float64 for p in net.module_.parameters())
    adapter.set_theta(net, new.float().numpy())  # cast back to the net's dtype
    assert all(p.dtype == torch.float64 for p in net.module_.parameters())
    with pytest.raises(ValueError, match="entries"):
        adapter.set_theta(net, new[:-1])


def test_mode_restored_and_results_deterministic():
    net = make_net("clf_ce", dropout=0.5)
    X, y, c = make_data("clf_ce")
    module = net.module_
    module.train()
    module[0].eval()  # a mixed state must come back as it was
    modes = [m.training for m in module.modules()]
    adapter = SkorchAdapter(net, chunk_size=7)
    theta = adapter.get_theta(net)
    v = torch.ones_like(theta)
    for _ in range(2):
        results = [
            adapter.gradient(theta, X, y, c),
            adapter.hvp(theta, X, y, c, v),
            adapter.gnvp(theta, X, y, c, v),
            adapter.fisher_vp(theta, X, y, c, v),
            adapter.hessian(theta, X, y, c),
            adapter.gauss_newton(theta, X, y, c),
            adapter.per_sample_gradients_dense(theta, X, y),
            adapter.loss_value(theta, X, y, c),
        ]
        assert [m.training for m in module.modules()] == modes
        if _ == 0:
            first = results
    for a, b in zip(first, results, strict=True):
        assert torch.equal(a, b)
    # deterministic and equal to the eval-mode (no dropout) reference
    module.eval()
    torch.testing.assert_close(
        results[-2], ref_per_sample(net, X, y), rtol=1e-10, atol=1e-12
    )
    assert all(p.grad is None for p in module.parameters())


def test_mode_restored_after_an_error():
    net = make_net("clf_ce", dropout=0.5)
    net.module_.train()
    adapter = SkorchAdapter(net)
    X, y, _ = make_data("clf_ce")
    with pytest.raises(RuntimeError):
        adapter.gradient(adapter.get_theta(net), X[:, :2], y)  # wrong width
    assert net.module_.training and net.module_[2].training


def test_float32_net():
    kind = "clf_nll"
    net = make_net(kind, dtype=torch.float32)
    X, y, c = make_data(kind)  # float64 rows are cast to the net's dtype
    adapter = SkorchAdapter(net, chunk_size=6)
    assert adapter.dtype == torch.float32
    theta = adapter.get_theta(net)
    assert theta.dtype == torch.float32
    g = adapter.gradient(theta, X, y, c.numpy())
    assert g.dtype == torch.float32
    X32, c32 = X.float(), c.float()
    t = theta.clone().requires_grad_(True)
    (g_ref,) = torch.autograd.grad((c32 * ref_row_losses(net, t, X32, y)).sum(), t)
    torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-5)
    v = torch.ones_like(theta)
    H_ref = torch.autograd.functional.hessian(
        lambda t: (c32 * ref_row_losses(net, t, X32, y)).sum(), theta, vectorize=True
    )
    torch.testing.assert_close(adapter.hvp(theta, X, y, c, v), H_ref @ v, **_tol32())
    G = ref_per_sample(net, X32, y)
    torch.testing.assert_close(
        adapter.fisher_vp(theta, X, y, c, v), G.T @ (c32 * (G @ v)), **_tol32()
    )


def _tol32():
    return dict(rtol=1e-4, atol=1e-4)


def test_numpy_inputs_and_default_weights():
    net = make_net("regressor")
    X, y, _ = make_data("regressor")
    adapter = SkorchAdapter(net)
    theta = adapter.get_theta(net)
    a = adapter.gradient(theta.numpy(), X.numpy(), y.numpy())
    b = adapter.gradient(theta, X, y, torch.ones(N, dtype=torch.float64))
    torch.testing.assert_close(a, b)


# ----------------------------------------------------------------- refusals
def test_refusals():
    with pytest.raises(NotInitializedError):
        SkorchAdapter(NeuralNetRegressor(make_module("regressor")))
    with pytest.raises(TypeError, match="not a skorch net"):
        SkorchAdapter(make_module("regressor"))
    with pytest.raises(TypeError, match="L1Loss"):
        SkorchAdapter(
            NeuralNet(make_module("regressor"), criterion=nn.L1Loss).initialize()
        )
    with pytest.raises(ValueError, match="reduction"):
        SkorchAdapter(
            NeuralNetRegressor(
                make_module("regressor"), criterion__reduction="sum"
            ).initialize()
        )
    with pytest.raises(ValueError, match="weight"):
        SkorchAdapter(
            NeuralNetClassifier(
                make_module("clf_ce"),
                criterion=nn.CrossEntropyLoss,
                criterion__weight=torch.ones(K, dtype=torch.float64),
            ).initialize()
        )

    class Custom(NeuralNetRegressor):
        def get_loss(self, y_pred, y_true, X=None, training=False):
            return super().get_loss(y_pred, y_true, X, training) * 2

    with pytest.raises(TypeError, match="overrides"):
        SkorchAdapter(Custom(make_module("regressor")).initialize())

    net = make_net("clf_ce")
    adapter = SkorchAdapter(net)
    theta = adapter.get_theta(net)
    X, y, _ = make_data("clf_ce")
    with pytest.raises(ValueError, match="rows"):
        adapter.gradient(theta, X, y[:-1])
    with pytest.raises(ValueError, match="entries"):
        adapter.gradient(theta[:-1], X, y)
    net.set_params(module=make_module("clf_ce", seed=3)).initialize()
    copy.deepcopy(adapter)  # picklable-ish state; the stale module is refused
    net.set_params(module=nn.Sequential(nn.Linear(D, K)).double()).initialize()
    with pytest.raises(ValueError, match="changed"):
        adapter.gradient(theta, X, y)


# ------------------------------------------------- per-sample fast path
def _net_for(kind, module, **kw):
    common = dict(max_epochs=0, train_split=None, optimizer=torch.optim.SGD, lr=0.1)
    common.update(kw)
    cls = {
        "clf_nll": NeuralNetClassifier,
        "clf_ce": NeuralNetClassifier,
        "binary": NeuralNetBinaryClassifier,
        "regressor": NeuralNetRegressor,
    }[kind]
    if kind == "clf_ce":
        common["criterion"] = nn.CrossEntropyLoss
    return cls(module.double(), **common).initialize()


def _out_dim(kind):
    return {"clf_nll": K, "clf_ce": K, "binary": 1, "regressor": 2}[kind]


def _head(kind, *layers):
    layers = list(layers)
    if kind == "clf_nll":
        layers.append(nn.Softmax(dim=-1))
    return nn.Sequential(*layers)


class _TokenMLP(nn.Module):
    """A custom module whose first Linear sees (n, T, d) inputs."""

    def __init__(self, out, T=2):
        super().__init__()
        self.T = T
        self.embed = nn.Linear(D, H)
        self.head = nn.Linear(T * H, out, bias=False)

    def forward(self, x):
        x = x.reshape(x.shape[0], self.T, -1)[..., :D]
        return self.head(torch.relu(self.embed(x)).flatten(1))


def _both_paths(adapter, theta, X, y):
    outer = list(adapter.per_sample_gradients(theta, X, y, method="outer"))
    assert adapter.per_sample_method_ == "outer"
    vm = list(adapter.per_sample_gradients(theta, X, y, method="vmap"))
    assert adapter.per_sample_method_ == "vmap"
    return outer, vm


@pytest.mark.parametrize("kind", KINDS)
def test_outer_path_equals_vmap_on_mlps(kind):
    torch.manual_seed(3)
    module = _head(
        kind,
        nn.Linear(D, 6),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(6, 5, bias=False),
        nn.Tanh(),
        nn.Linear(5, _out_dim(kind)),
    )
    net = _net_for(kind, module)
    net.module_.train()
    X, y, _ = make_data(kind)
    adapter = SkorchAdapter(net, chunk_size=7)
    theta = adapter.get_theta(net) + 0.1  # theta, not the module's values, is used
    outer, vm = _both_paths(adapter, theta, X, y)
    assert [g.shape[0] for g in outer] == [7, 7, 7, 2]
    assert [g.shape for g in outer] == [g.shape for g in vm]
    torch.testing.assert_close(torch.cat(outer), torch.cat(vm), rtol=0, atol=1e-12)
    G = adapter.per_sample_gradients_dense(theta, X, y)
    assert adapter.per_sample_method_ == "outer"
    torch.testing.assert_close(G, torch.cat(vm), rtol=0, atol=1e-12)
    assert net.module_.training and net.module_[2].training
    assert all(p.grad is None for p in net.module_.parameters())


@pytest.mark.parametrize("kind", KINDS)
def test_outer_path_on_a_custom_module_with_token_inputs(kind):
    torch.manual_seed(4)
    net = _net_for(kind, _head(kind, _TokenMLP(_out_dim(kind))))
    X, y, _ = make_data(kind)
    X = torch.cat([X, X.flip(1)], dim=1)  # (n, 2 * D): two "tokens" per row
    adapter = SkorchAdapter(net, chunk_size=10)
    theta = adapter.get_theta(net)
    outer, vm = _both_paths(adapter, theta, X, y)
    torch.testing.assert_close(torch.cat(outer), torch.cat(vm), rtol=0, atol=1e-12)
    torch.testing.assert_close(
        torch.cat(outer), ref_per_sample(net, X, y), rtol=1e-10, atol=1e-12
    )


class _Conv(nn.Module):
    def __init__(self, out):
        super().__init__()
        self.conv = nn.Conv1d(1, 2, kernel_size=2)
        self.fc = nn.Linear(2 * (D - 1), out)

    def forward(self, x):
        return self.fc(torch.tanh(self.conv(x[:, None, :])).flatten(1))


class _Twice(nn.Module):
    """One Linear called twice: eligible by its parameters, not at run time."""

    def __init__(self, out):
        super().__init__()
        self.shared = nn.Linear(D, D)
        self.fc = nn.Linear(D, out)

    def forward(self, x):
        return self.fc(torch.tanh(self.shared(torch.tanh(self.shared(x)))))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("which", ["conv", "layernorm", "twice"])
def test_ineligible_modules_fall_back_to_vmap(kind, which):
    torch.manual_seed(5)
    out = _out_dim(kind)
    body = {
        "conv": lambda: _Conv(out),
        "layernorm": lambda: nn.Sequential(
            nn.Linear(D, H), nn.LayerNorm(H), nn.Tanh(), nn.Linear(H, out)
        ),
        "twice": lambda: _Twice(out),
    }[which]()
    net = _net_for(kind, _head(kind, body))
    X, y, _ = make_data(kind)
    adapter = SkorchAdapter(net, chunk_size=6)
    theta = adapter.get_theta(net)
    G = adapter.per_sample_gradients_dense(theta, X, y)
    assert adapter.per_sample_method_ == "vmap"
    torch.testing.assert_close(G, ref_per_sample(net, X, y), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="method='outer'"):
        list(adapter.per_sample_gradients(theta, X, y, method="outer"))
    assert all(p.grad is None for p in net.module_.parameters())


def test_outer_path_with_a_frozen_layer_and_bad_method():
    torch.manual_seed(6)
    module = nn.Sequential(
        nn.Linear(D, H), nn.LayerNorm(H), nn.Tanh(), nn.Linear(H, 2)
    ).double()
    for p in list(module[0].parameters()) + list(module[1].parameters()):
        p.requires_grad_(False)
    module[3].bias.requires_grad_(False)
    net = _net_for("regressor", module)
    X, y, _ = make_data("regressor")
    adapter = SkorchAdapter(net, chunk_size=8)
    theta = adapter.get_theta(net)
    assert adapter.param_names == ["3.weight"]
    outer, vm = _both_paths(adapter, theta, X, y)
    torch.testing.assert_close(torch.cat(outer), torch.cat(vm), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="method must be"):
        list(adapter.per_sample_gradients(theta, X, y, method="fast"))
