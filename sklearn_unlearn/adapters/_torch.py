"""Exact derivatives of fitted skorch nets, computed in torch with ``torch.func``.

skorch trains, batch after batch, the **mean** of its criterion over the rows
of the batch, and the optimizer adds ``weight_decay * theta`` to the gradient
(``SGD``, ``Adam``). ``AdamW``'s decoupled decay is read and treated the same
way; that is an approximation, since AdamW's stationary points do not in
general satisfy ``grad + wd * theta = 0``.
Over ``n`` rows with weights ``c_i`` that is, in this package's "sum" scaling,

    J(theta) = sum_i c_i l_i(theta) + (wd * sum_i c_i) / 2 * ||theta||^2

the mean-scaled form of the generalised linear models (``mean_scaled=True``,
``penalty_strength(total_weight) = wd * total_weight``). The per-row loss
``l_i`` is the net's criterion with ``reduction='none'`` semantics, exactly as
skorch's ``get_loss`` evaluates it on the module's output ``out_i``:

=====================  ========================================================
criterion              ``l_i``
=====================  ========================================================
``CrossEntropyLoss``   cross-entropy of the logits ``out_i`` (label smoothing ok)
``NLLLoss``            ``-log(out_i[y_i] + eps)`` in a ``NeuralNetClassifier``
                       (its module returns probabilities, skorch takes the log);
                       ``-out_i[y_i]`` (log-probabilities) in a ``NeuralNet``
``BCEWithLogitsLoss``  binary cross-entropy of the logit (binary classifier)
``MSELoss``            ``mean_k (out_ik - y_ik)^2``, the mean over outputs
=====================  ========================================================

This module needs torch; it is not imported by any package ``__init__``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vjp, vmap

from ._torch_steps import NetStepMixin

__all__ = ["SkorchAdapter"]

_SUPPORTED_CRITERIA = (
    nn.CrossEntropyLoss,
    nn.NLLLoss,
    nn.BCEWithLogitsLoss,
    nn.MSELoss,
)


def jvp(func, primals, tangents):
    """``torch.func.jvp``, silencing torch's own one-time ``jit.script`` notice."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*torch.jit.script.*", category=DeprecationWarning
        )
        return torch.func.jvp(func, primals, tangents)


def _stock_methods():
    """skorch's own ``get_loss``/``infer``: anything else changes the objective."""
    from skorch import NeuralNet, NeuralNetBinaryClassifier, NeuralNetClassifier

    get_loss = {NeuralNet.get_loss, NeuralNetClassifier.get_loss}
    infer = {NeuralNet.infer, NeuralNetBinaryClassifier.infer}
    return get_loss, infer


class SkorchAdapter(NetStepMixin):
    """The math of one fitted skorch net (or its ``torch.nn.Module``), no data inside.

    The adapter holds a reference to the net to know its module's structure,
    criterion and weight decay; parameter values always come from the
    ``theta`` argument and rows from ``X, y``. Every computation runs in the
    module's ``eval()`` mode (no dropout, no batch-norm statistics updates) on
    the parameters' device and dtype; the previous mode is restored after.
    Nothing is written to the module's parameters (no ``.grad``), except by
    :meth:`set_theta`. See the module docstring for the objective.

    Parameters
    ----------
    net : skorch ``NeuralNet``
        An initialised (fitted) ``NeuralNetClassifier``,
        ``NeuralNetBinaryClassifier``, ``NeuralNetRegressor`` or ``NeuralNet``
        whose criterion is ``CrossEntropyLoss``, ``NLLLoss``,
        ``BCEWithLogitsLoss`` or ``MSELoss`` with ``reduction='mean'`` and no
        class weights, and whose ``get_loss``/``infer`` are skorch's own.
    chunk_size : int, default=4096
        Rows processed at once, which bounds the memory used whatever ``n``.

    Attributes
    ----------
    criterion : {"ce", "nll", "bce", "mse"}
        The per-row loss (see the module docstring).
    weight_decay : float
        The largest ``weight_decay`` of the optimizer's parameter groups.
    n_params : int
        Number of trainable (``requires_grad``) parameters, the length of ``theta``.
    param_names : list of str
        Names of the trainable parameters, in ``theta``'s order.
    mean_scaled : bool
        Always True: the penalty in our scaling is ``wd * total_weight``.
    is_quadratic : bool
        Always False.
    dtype, device : torch.dtype, torch.device
        Those of the module's parameters; ``theta`` and rows are cast to them.

    classes_ : ndarray or None
        The net's ``classes_`` (classifiers); targets are their indices.
    n_features_in_ : int or None
        Columns of the rows the net was fitted on (set by the estimator).
    init_rng_state : torch.Tensor or None
        torch's CPU random state right before the net was fitted (set by the
        estimator), so that ``Retrain`` starts from the same initialisation
        and batch order.

    Examples
    --------
    >>> import torch
    >>> from skorch import NeuralNetRegressor
    >>> from sklearn_unlearn.adapters._torch import SkorchAdapter
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = NeuralNetRegressor(torch.nn.Linear(2, 1), max_epochs=0,
    ...                          optimizer__weight_decay=0.1).initialize()
    >>> adapter = SkorchAdapter(net)
    >>> X, y = torch.randn(5, 2), torch.randn(5, 1)
    >>> theta = adapter.get_theta(net)
    >>> mean_loss = adapter.loss_value(theta, X, y) / 5
    >>> bool(torch.isclose(mean_loss, net.get_loss(net.infer(X), y)))
    True
    >>> adapter.per_sample_gradients_dense(theta, X, y).shape
    torch.Size([5, 3])
    """

    #: inspection takes its net path when the adapter says so
    is_net = True

    def __init__(self, net, *, chunk_size: int = 4096):
        if not hasattr(net, "check_is_fitted") or not hasattr(net, "module"):
            raise TypeError(
                f"{type(net).__name__} is not a skorch net; SkorchAdapter needs a "
                "NeuralNetClassifier, NeuralNetBinaryClassifier or NeuralNetRegressor."
            )
        net.check_is_fitted()
        get_loss, infer = _stock_methods()
        name = type(net).__name__
        if type(net).get_loss not in get_loss or type(net).infer not in infer:
            raise TypeError(
                f"{name} overrides get_loss or infer, so its training objective "
                "is unknown to SkorchAdapter; use skorch's own methods."
            )
        crit = net.criterion_
        if not isinstance(crit, _SUPPORTED_CRITERIA):
            raise TypeError(
                f"criterion {type(crit).__name__} is not supported; supported are "
                "CrossEntropyLoss, NLLLoss, BCEWithLogitsLoss and MSELoss."
            )
        if getattr(crit, "reduction", "mean") != "mean":
            raise ValueError(
                f"criterion reduction={crit.reduction!r}: only 'mean' (skorch's "
                "default) has an objective independent of the batch size."
            )
        for attr in ("weight", "pos_weight"):
            if getattr(crit, attr, None) is not None:
                raise ValueError(
                    f"{type(crit).__name__}({attr}=...) is not supported: class "
                    "weights change the mean's normaliser; pass row weights instead."
                )
        from skorch import NeuralNetClassifier

        if isinstance(crit, nn.CrossEntropyLoss):
            self.criterion = "ce"
            self.label_smoothing = float(crit.label_smoothing)
        elif isinstance(crit, nn.NLLLoss):
            self.criterion = "nll"
        elif isinstance(crit, nn.BCEWithLogitsLoss):
            self.criterion = "bce"
        else:
            self.criterion = "mse"
        self._log_output = self.criterion == "nll" and isinstance(
            net, NeuralNetClassifier
        )
        self.model_name = name
        self.chunk_size = int(chunk_size)
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
        self.mean_scaled = True
        self.is_quadratic = False
        self._net = net
        try:  # classifiers: the labels seen at fit (skorch's classes_)
            classes = getattr(net, "classes_", None)
        except AttributeError:
            classes = None
        self.classes_ = None if classes is None else np.asarray(classes)
        self.n_features_in_ = None  # set by the estimator that fits the net
        self.init_rng_state = None  # torch CPU RNG state before fit (for Retrain)
        named = [(k, p) for k, p in net.module_.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError(f"{name}'s module has no trainable parameters.")
        dtypes = {p.dtype for _, p in named}
        devices = {p.device for _, p in named}
        if len(dtypes) > 1 or len(devices) > 1:
            raise ValueError(
                "all trainable parameters must share one dtype and device; got "
                f"{sorted(map(str, dtypes))} on {sorted(map(str, devices))}."
            )
        self.dtype, self.device = dtypes.pop(), devices.pop()
        self.param_names = [k for k, _ in named]
        self._shapes = [tuple(p.shape) for _, p in named]
        self._numels = [p.numel() for _, p in named]
        self.n_params = int(sum(self._numels))
        wd = self._param_weight_decay(net, named)
        self.weight_decay = float(max(wd))
        scale = self.weight_decay if self.weight_decay > 0 else 1.0
        self._mask = torch.cat(
            [
                torch.full((m,), w / scale, dtype=self.dtype, device=self.device)
                for m, w in zip(self._numels, wd, strict=True)
            ]
        )

    # ------------------------------------------------------------------ layout
    @staticmethod
    def _param_weight_decay(net, named) -> list[float]:
        """Each trainable parameter's weight decay, from the optimizer's groups."""
        opt = getattr(net, "optimizer_", None)
        if opt is None or not hasattr(opt, "param_groups"):
            default = float(getattr(net, "optimizer__weight_decay", 0.0) or 0.0)
            return [default] * len(named)
        by_id = {}
        for group in opt.param_groups:
            for p in group["params"]:
                by_id[id(p)] = float(group.get("weight_decay", 0.0) or 0.0)
        # a parameter in no group is never updated: its decay is irrelevant
        return [by_id.get(id(p), 0.0) for _, p in named]

    def _check_module(self):
        module = self._net.module_
        shapes = [
            tuple(p.shape) for _, p in module.named_parameters() if p.requires_grad
        ]
        if shapes != self._shapes:
            raise ValueError(
                "the net's module changed since the adapter was built (it was "
                "re-initialised); build a new SkorchAdapter."
            )
        return module

    def get_theta(self, net) -> torch.Tensor:
        """Flat, detached copy of the net's trainable parameters.

        Parameters
        ----------
        net : skorch net
            The net the adapter was built from (or one with the same module).

        Returns
        -------
        theta : torch.Tensor of shape (n_params,)
        """
        params = [p for p in net.module_.parameters() if p.requires_grad]
        return torch.cat([p.detach().reshape(-1) for p in params]).clone()

    def set_theta(self, net, theta) -> None:
        """Write ``theta`` into ``net.module_``'s parameters, in place, under no_grad.

        Parameters
        ----------
        net : skorch net
        theta : array-like of shape (n_params,)
            Cast to each parameter's dtype and device.
        """
        theta = torch.as_tensor(theta).detach().reshape(-1)
        if theta.numel() != self.n_params:
            raise ValueError(
                f"theta has {theta.numel()} entries; the module has {self.n_params}."
            )
        params = [p for p in net.module_.parameters() if p.requires_grad]
        with torch.no_grad():
            for p, t in zip(params, theta.split(self._numels), strict=True):
                p.copy_(t.reshape(p.shape).to(dtype=p.dtype, device=p.device))

    @property
    def penalty_mask(self) -> torch.Tensor:
        """Weight decay of each entry of ``theta`` over :attr:`weight_decay`.

        All ones unless the optimizer's parameter groups use different decays
        (0 for a group without decay).
        """
        return self._mask.clone()

    def penalty_strength(self, total_weight: float) -> float:
        """``lam = weight_decay * total_weight`` for rows of that total weight."""
        return self.weight_decay * float(total_weight)

    def penalty_gradient(self, theta, total_weight: float) -> torch.Tensor:
        """Gradient of ``lam/2 * sum_j mask_j theta_j^2``."""
        theta = self._as_theta(theta)
        return self.penalty_strength(total_weight) * self._mask * theta

    @property
    def param_sizes(self) -> list[int]:
        """Entries of each trainable parameter tensor, in ``theta``'s order."""
        return list(self._numels)

    @property
    def numpy_dtype(self) -> np.dtype:
        """The NumPy dtype of the module's parameters (rows are cast to it)."""
        return torch.empty((), dtype=self.dtype).numpy().dtype

    # ----------------------------------------------------------------- targets
    def encode_target(self, y) -> np.ndarray:
        """Targets as the criterion takes them, checked against the fitted classes.

        Class labels become their index in ``classes_`` (int64; float for a
        binary net), regression targets the parameters' float dtype.

        Raises
        ------
        ValueError
            For a label not seen at fit.
        """
        y = np.asarray(y)
        if self.criterion == "mse":
            return y.astype(self.numpy_dtype)
        if self.classes_ is None:
            raise ValueError("the net has no classes_; fit it on labelled rows.")
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        if np.any(self.classes_[idx] != y):
            unseen = np.unique(y[self.classes_[idx] != y])
            raise ValueError(
                f"y contains labels {unseen.tolist()} not seen at fit; the net "
                f"knows {self.classes_.tolist()}."
            )
        if self.criterion == "bce":
            return self.classes_[idx].astype(self.numpy_dtype)
        return self.classes_[idx].astype(np.int64)

    def row_weights(self, y, sample_weight=None) -> np.ndarray:
        """Per-row weight ``c_i``: ``sample_weight``, or ones."""
        if sample_weight is None:
            return np.ones(len(y))
        return np.asarray(sample_weight, dtype=np.float64).copy()

    def gram(self, X, c):
        """None: a net carries no certificate geometry (see ``LinearAdapter.gram``)."""
        return None

    def max_row_norm(self, X) -> float:
        """Largest Euclidean norm of a row of ``X`` (0 for no rows)."""
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        return float(np.sqrt((X * X).sum(axis=1)).max()) if len(X) else 0.0

    def as_tensors(self, X, y, c=None):
        """Rows, targets and weights as tensors on the module's device and dtype.

        Converting once and passing the tensors on saves the copies that every
        derivative call would otherwise make (host to device, for a GPU net).
        """
        return self._prepare(X, y, c)

    # ---------------------------------------------------------------- plumbing
    def _as_theta(self, theta) -> torch.Tensor:
        t = torch.as_tensor(theta).detach().to(dtype=self.dtype, device=self.device)
        t = t.reshape(-1)
        if t.numel() != self.n_params:
            raise ValueError(
                f"theta has {t.numel()} entries; the module has {self.n_params}."
            )
        return t

    def _as_x(self, X) -> torch.Tensor:
        X = torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X)
        X = X.to(device=self.device)
        return X.to(self.dtype) if X.is_floating_point() else X

    def _as_y(self, y, n: int) -> torch.Tensor:
        y = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y)
        y = y.to(device=self.device)
        y = y.long() if self.criterion in ("ce", "nll") else y.to(self.dtype)
        if y.shape[0] != n:
            raise ValueError(f"X has {n} rows but y has {y.shape[0]}.")
        return y

    def _as_c(self, c, n: int) -> torch.Tensor:
        if c is None:
            return torch.ones(n, dtype=self.dtype, device=self.device)
        c = torch.as_tensor(c).to(dtype=self.dtype, device=self.device).reshape(-1)
        if c.shape[0] != n:
            raise ValueError(f"X has {n} rows but c has {c.shape[0]}.")
        return c

    def _prepare(self, X, y, c=None):
        X = self._as_x(X)
        n = X.shape[0]
        return X, self._as_y(y, n), self._as_c(c, n)

    def _slices(self, n: int, size: int | None = None) -> Iterator[slice]:
        size = self.chunk_size if size is None else size
        for start in range(0, n, size):
            yield slice(start, min(start + size, n))

    @contextlib.contextmanager
    def _eval_mode(self):
        """Evaluate in eval mode, restoring every submodule's previous mode."""
        module = self._check_module()
        modes = [(m, m.training) for m in module.modules()]
        module.eval()
        try:
            yield module
        finally:
            for m, mode in modes:
                m.training = mode

    def _params(self, theta) -> dict:
        return {
            k: t.view(s)
            for k, t, s in zip(
                self.param_names, theta.split(self._numels), self._shapes, strict=True
            )
        }

    def _scores(self, module, theta, X) -> torch.Tensor:
        """The "logits" ``s`` on which the loss is convex, shape (m, K)."""
        out = functional_call(module, self._params(theta), (X,))
        if isinstance(out, tuple):  # skorch uses the first output
            out = out[0]
        s = out.reshape(X.shape[0], -1)
        if self.criterion == "bce" and s.shape[1] != 1:
            raise ValueError(
                "a binary net must return (n,) or (n, 1) outputs, got "
                f"{tuple(out.shape)}."
            )
        if self._log_output:  # skorch's NeuralNetClassifier.get_loss
            s = torch.log(s + torch.finfo(s.dtype).eps)
        return s

    def _row_losses(self, s, y) -> torch.Tensor:
        """Per-row losses ``l_i`` from the scores, shape (m,)."""
        F = nn.functional
        if self.criterion == "ce":
            return F.cross_entropy(
                s, y, reduction="none", label_smoothing=self.label_smoothing
            )
        if self.criterion == "nll":
            return F.nll_loss(s, y, reduction="none")
        if self.criterion == "bce":
            return F.binary_cross_entropy_with_logits(
                s[:, 0], y.reshape(-1), reduction="none"
            )
        return ((s - y.reshape(s.shape)) ** 2).mean(dim=1)

    def _output_hessian(self, s) -> torch.Tensor:
        """Closed-form ``d^2 l_i / d s_i^2``, shape (m, K, K).

        For ``nll`` the scores (log-probabilities) are treated as logits of a
        cross-entropy, which equals the loss up to a constant when the
        probabilities sum to one; the linear ``-s_y`` has no curvature.
        """
        if self.criterion in ("ce", "nll"):
            p = torch.softmax(s, dim=1)
            return torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)
        if self.criterion == "bce":
            p = torch.sigmoid(s)
            return (p * (1 - p)).unsqueeze(2)
        K = s.shape[1]
        eye = torch.eye(K, dtype=s.dtype, device=s.device)
        return (2.0 / K) * eye.expand(s.shape[0], K, K)

    def _weighted_loss(self, module, X, y, c):
        def f(theta):
            return (c * self._row_losses(self._scores(module, theta, X), y)).sum()

        return f

    # ------------------------------------------------------------ derivatives
    def loss_value(self, theta, X, y, c=None) -> torch.Tensor:
        """Weighted data term ``sum_i c_i l_i(theta)`` (no penalty).

        Parameters
        ----------
        theta : array-like of shape (n_params,)
        X : array-like or tensor of shape (n, ...)
            Rows as the module takes them (floating rows are cast to the dtype).
        y : array-like or tensor of shape (n,) or (n, k)
        c : array-like of shape (n,), default=None
            Row weights; ones when None.

        Returns
        -------
        value : torch.Tensor (0-d)
        """
        theta = self._as_theta(theta)
        X, y, c = self._prepare(X, y, c)
        total = torch.zeros((), dtype=self.dtype, device=self.device)
        with self._eval_mode() as module, torch.no_grad():
            for sl in self._slices(X.shape[0]):
                total = total + self._weighted_loss(module, X[sl], y[sl], c[sl])(theta)
        return total

    def _outer_plan(self, module):
        """Where each trainable parameter sits, if all belong to ``nn.Linear``.

        Returns a list of ``(linear, kind)`` pairs, ``kind`` in
        ``{"weight", "bias"}``, in ``theta``'s order, or None when a parameter
        is not the weight or bias of a plain ``nn.Linear`` (stock ``forward``)
        or a parameter is registered twice. Cached per module object.
        """
        cached = getattr(self, "_outer_plan_cache", None)
        if cached is not None and cached[0] is module:
            return cached[1]
        plan = []
        for name in self.param_names:
            prefix, _, attr = name.rpartition(".")
            try:
                sub = module.get_submodule(prefix)
            except AttributeError:
                plan = None
                break
            if (
                not isinstance(sub, nn.Linear)
                or type(sub).forward is not nn.Linear.forward
                or attr not in ("weight", "bias")
            ):
                plan = None
                break
            plan.append((sub, attr))
        if plan is not None:
            trainable = [
                id(p)
                for _, p in module.named_parameters(remove_duplicate=False)
                if p.requires_grad
            ]
            if len(trainable) != len(set(trainable)):
                plan = None
        self._outer_plan_cache = (module, plan)
        return plan

    def _outer_chunk(self, module, plan, theta, X, y, row_fn=None):
        """Per-row gradients of one chunk from one batched forward and backward.

        ``row_fn(s, y)`` gives each row's scalar from the scores (the row
        losses when None).

        Forward hooks record each ``nn.Linear``'s input ``a`` and output ``z``;
        ``torch.autograd.grad`` of the summed row losses gives ``g = dL/dz``,
        whose row ``i`` is ``dl_i/dz_i`` since rows do not interact. Row ``i``'s
        weight gradient is then ``g_i a_i^T`` (summed over any extra leading
        dimensions of the layer's input) and its bias gradient ``g_i``.
        Returns None when a layer was not called exactly once on ``m`` rows.
        """
        m = X.shape[0]
        found = self._linear_io(module, plan, theta, X, y, row_fn)
        if found is None:
            return None
        acts = {id(lin): ag for lin, ag in found}
        G = torch.empty((m, self.n_params), dtype=self.dtype, device=self.device)
        off = 0
        for (lin, kind), numel in zip(plan, self._numels, strict=True):
            a, g = acts[id(lin)]
            block = G[:, off : off + numel]
            if kind == "bias":
                block.copy_(g[:, 0] if g.shape[1] == 1 else g.sum(dim=1))
            elif a.shape[1] == 1:
                torch.mul(
                    g[:, 0, :, None],
                    a[:, 0, None, :],
                    out=block.view(m, g.shape[2], a.shape[2]),
                )
            else:
                block.view(m, g.shape[2], a.shape[2]).copy_(
                    torch.bmm(g.transpose(1, 2), a)
                )
            off += numel
        return G

    def _linear_io(self, module, plan, theta, X, y, row_fn=None):
        """Each ``nn.Linear``'s input ``a`` and output gradient ``g = dL/dz``.

        One batched forward with hooks and one backward of the summed
        ``row_fn(s, y)``; returns ``[(linear, (a, g))]`` in ``plan``'s order
        of layers, ``a``: (m, L, d_in), ``g``: (m, L, d_out), or None when a
        layer was not called exactly once on the chunk's ``m`` rows.
        """
        m = X.shape[0]
        linears = list(dict.fromkeys(lin for lin, _ in plan))
        record = {id(lin): [] for lin in linears}

        def hook(lin, inputs, output):
            record[id(lin)].append((inputs[0], output))

        handles = [lin.register_forward_hook(hook) for lin in linears]
        try:
            with torch.enable_grad():
                t = theta.detach().requires_grad_(True)
                s = self._scores(module, t, X)
                total = (row_fn or self._row_losses)(s, y).sum()
                calls = [record[id(lin)] for lin in linears]
                if any(
                    len(c) != 1
                    or c[0][0].shape[0] != m
                    or c[0][1].shape[0] != m
                    or not c[0][1].requires_grad
                    for c in calls
                ):
                    return None
                outs = [c[0][1] for c in calls]
                gz = torch.autograd.grad(total, outs, allow_unused=True)
        finally:
            for h in handles:
                h.remove()
        found = []
        for lin, (a, z), g in zip(linears, (c[0] for c in calls), gz, strict=True):
            if g is None:
                g = torch.zeros_like(z)
            a = a.detach().reshape(m, -1, a.shape[-1])
            g = g.detach().reshape(m, -1, z.shape[-1])
            found.append((lin, (a, g)))
        return found

    def per_sample_gradients(
        self, theta, X, y, *, method: str = "auto"
    ) -> Iterator[torch.Tensor]:
        """Per-row gradients ``grad l_i(theta)``, streamed in chunks.

        Two exact ways, the same result and layout:

        * ``"outer"``, when every trainable parameter is the weight or bias of
          an ``nn.Linear`` (MLPs, with any parameter-free modules between the
          layers): one batched forward with hooks on the layers and one
          backward to their outputs; the weight gradient of row ``i`` is the
          outer product ``g_i a_i^T`` of the layer's output gradient and input.
          It assumes rows do not interact in the forward pass (true in eval
          mode for stock layers).
        * ``"vmap"``: ``torch.func.vmap(grad(l))`` over ``functional_call``,
          for any module.

        Parameters
        ----------
        theta : array-like of shape (n_params,)
        X, y : rows and targets, see :meth:`loss_value`.
        method : {"auto", "outer", "vmap"}, default="auto"
            ``"auto"`` takes ``"outer"`` when the module allows it, else
            ``"vmap"``; ``"outer"`` raises ValueError when it does not.
            The path taken is stored in ``per_sample_method_``.

        Yields
        ------
        G : torch.Tensor of shape (m, n_params)
            The gradients of ``chunk_size`` rows (the last chunk may be shorter).
        """
        if method not in ("auto", "outer", "vmap"):
            raise ValueError(
                f"method must be 'auto', 'outer' or 'vmap', got {method!r}."
            )
        theta = self._as_theta(theta)
        X, y, _ = self._prepare(X, y)
        with self._eval_mode() as module:
            plan = None if method == "vmap" else self._outer_plan(module)
            if plan is None and method == "outer":
                raise ValueError(
                    "method='outer' needs every trainable parameter to be the "
                    "weight or bias of an nn.Linear, each registered once."
                )

            self.per_sample_method_ = "outer" if plan is not None else "vmap"
            for sl in self._slices(X.shape[0]):
                G, used = self._row_gradients(module, plan, theta, X[sl], y[sl])
                if used != "outer" and plan is not None:
                    if method == "outer":
                        raise ValueError(
                            "method='outer': an nn.Linear was not called "
                            "exactly once on the chunk's rows."
                        )
                    plan = None
                    self.per_sample_method_ = "vmap"
                yield G.detach()

    def _row_gradients(self, module, plan, theta, X, y, row_fn=None):
        """Per-row gradients of ``row_fn(s_i, y_i)`` for one chunk; ``(G, path)``.

        One batched backward through hooks when ``plan`` allows it, else
        ``torch.func.vmap`` of ``grad`` over the rows: both ``O(m p)``.
        """
        fn = row_fn or self._row_losses
        if plan is not None:
            G = self._outer_chunk(module, plan, theta, X, y, row_fn=fn)
            if G is not None:
                return G, "outer"

        def row_value(t, x, yi):
            s = self._scores(module, t, x.unsqueeze(0))
            return fn(s, yi.unsqueeze(0))[0]

        return vmap(grad(row_value), in_dims=(None, 0, 0))(theta, X, y), "vmap"

    def per_sample_gradients_dense(self, theta, X, y) -> torch.Tensor:
        """All per-row gradients as one (n, n_params) tensor (small ``n`` only)."""
        chunks = list(self.per_sample_gradients(theta, X, y))
        if not chunks:
            return torch.zeros((0, self.n_params), dtype=self.dtype, device=self.device)
        return torch.cat(chunks)

    def gradient(self, theta, X, y, c=None) -> torch.Tensor:
        """Gradient of ``sum_i c_i l_i(theta)`` (no penalty), chunked over rows.

        Returns
        -------
        g : torch.Tensor of shape (n_params,)
        """
        theta = self._as_theta(theta)
        X, y, c = self._prepare(X, y, c)
        g = torch.zeros_like(theta)
        with self._eval_mode() as module:
            for sl in self._slices(X.shape[0]):
                g += grad(self._weighted_loss(module, X[sl], y[sl], c[sl]))(theta)
        return g.detach()

    def hvp(self, theta, X, y, c, v) -> torch.Tensor:
        """Hessian-vector product of ``sum_i c_i l_i``, forward-over-reverse.

        Parameters
        ----------
        theta : array-like of shape (n_params,)
        X, y : rows and targets, see :meth:`loss_value`.
        c : array-like of shape (n,) or None
            Row weights.
        v : array-like of shape (n_params,)

        Returns
        -------
        Hv : torch.Tensor of shape (n_params,)
        """
        theta, v = self._as_theta(theta), self._as_theta(v)
        X, y, c = self._prepare(X, y, c)
        out = torch.zeros_like(theta)
        with self._eval_mode() as module:
            for sl in self._slices(X.shape[0]):
                f = self._weighted_loss(module, X[sl], y[sl], c[sl])
                out += jvp(grad(f), (theta,), (v,))[1]
        return out.detach()

    def gnvp(self, theta, X, y, c, v) -> torch.Tensor:
        """Gauss-Newton product ``sum_i c_i J_i^T H_i J_i v``.

        ``J_i`` is the Jacobian of row ``i``'s scores (logits; log-probabilities
        for ``NLLLoss``) and ``H_i`` the closed-form Hessian of the loss in
        them: ``diag(p) - p p^T`` (softmax), ``p (1 - p)`` (sigmoid),
        ``2/K I`` (mean squared error over ``K`` outputs). ``J v`` by
        ``torch.func.jvp``, ``J^T u`` by ``torch.func.vjp``.

        Parameters
        ----------
        theta, X, y, c, v : see :meth:`hvp`.

        Returns
        -------
        Gv : torch.Tensor of shape (n_params,)
        """
        theta, v = self._as_theta(theta), self._as_theta(v)
        X, y, c = self._prepare(X, y, c)
        out = torch.zeros_like(theta)
        with self._eval_mode() as module:
            for sl in self._slices(X.shape[0]):
                Xc = X[sl]

                def scores(t, Xc=Xc):
                    return self._scores(module, t, Xc)

                s, Jv = jvp(scores, (theta,), (v,))
                H = self._output_hessian(s.detach())
                u = c[sl].unsqueeze(1) * torch.einsum("mkl,ml->mk", H, Jv)
                _, pullback = vjp(scores, theta)
                out += pullback(u)[0]
        return out.detach()

    def fisher_vp(self, theta, X, y, c, v) -> torch.Tensor:
        """Empirical Fisher product ``sum_i c_i g_i (g_i . v)``, chunked.

        Parameters
        ----------
        theta, X, y, c, v : see :meth:`hvp`.

        Returns
        -------
        Fv : torch.Tensor of shape (n_params,)
        """
        theta, v = self._as_theta(theta), self._as_theta(v)
        X, y, c = self._prepare(X, y, c)
        out = torch.zeros_like(theta)
        start = 0
        for G in self.per_sample_gradients(theta, X, y):
            cc = c[start : start + G.shape[0]]
            start += G.shape[0]
            out += G.T @ (cc * (G @ v))
        return out

    def _dense_rows(self, k: int) -> int:
        """Rows per block so that a (rows, k, n_params) block stays ~2**24 entries."""
        return max(1, min(self.chunk_size, 2**24 // max(1, k * self.n_params)))

    def hessian(self, theta, X, y, c=None) -> torch.Tensor:
        """Dense Hessian of ``sum_i c_i l_i`` (small nets), by ``torch.func.hessian``.

        Returns
        -------
        H : torch.Tensor of shape (n_params, n_params)
        """
        theta = self._as_theta(theta)
        X, y, c = self._prepare(X, y, c)
        p = self.n_params
        H = torch.zeros((p, p), dtype=self.dtype, device=self.device)
        with self._eval_mode() as module:
            for sl in self._slices(X.shape[0], self._dense_rows(1)):
                f = self._weighted_loss(module, X[sl], y[sl], c[sl])
                H += torch.func.hessian(f)(theta)
        return H.detach()

    def gauss_newton(self, theta, X, y, c=None) -> torch.Tensor:
        """Dense Gauss-Newton matrix ``sum_i c_i J_i^T H_i J_i`` (see :meth:`gnvp`).

        Built from score Jacobians (``torch.func.jacrev``) over row blocks.

        Returns
        -------
        G : torch.Tensor of shape (n_params, n_params)
        """
        theta = self._as_theta(theta)
        X, y, c = self._prepare(X, y, c)
        p = self.n_params
        G = torch.zeros((p, p), dtype=self.dtype, device=self.device)
        if X.shape[0] == 0:
            return G
        with self._eval_mode() as module:
            k = self._scores(module, theta, X[:1]).shape[1]
            for sl in self._slices(X.shape[0], self._dense_rows(k)):
                Xc = X[sl]

                def scores(t, Xc=Xc):
                    return self._scores(module, t, Xc)

                J = torch.func.jacrev(scores)(theta)  # (m, K, p)
                H = self._output_hessian(scores(theta))
                HJ = torch.einsum("mkl,mlp->mkp", H, J)
                G += torch.einsum("m,mkq,mkp->qp", c[sl], J, HJ)
        return G.detach()

    def _output_factor(self, module, theta, X, c) -> torch.Tensor:
        """``A`` (m, K, R) with ``A_i A_i^T = c_i H_i``, row i's output Hessian.

        Column ``j`` of row ``i`` is ``sqrt(c_i lambda_ij) Q_i[:, j]`` from the
        eigendecomposition ``H_i = Q_i Lambda_i Q_i^T``; a softmax's null
        vector of ones is dropped (``R = K - 1``).
        """
        with torch.no_grad():
            lam, Q = torch.linalg.eigh(
                self._output_hessian(self._scores(module, theta, X))
            )
        if self.criterion in ("ce", "nll") and lam.shape[1] > 1:
            lam, Q = lam[:, 1:], Q[:, :, 1:]  # the null vector of ones
        w = (lam.clamp_min(0.0) * c.unsqueeze(1)).sqrt()  # (m, R)
        return Q * w.unsqueeze(1)

    def gauss_newton_factor(self, theta, X, y, c=None) -> torch.Tensor:
        """``V`` with ``V V^T = sum_i c_i J_i^T H_i J_i`` (:meth:`gauss_newton`).

        Row ``i`` contributes the columns ``sqrt(c_i) J_i^T Q_i
        sqrt(Lambda_i)`` from the eigendecomposition ``H_i = Q_i Lambda_i
        Q_i^T`` of its (positive semi-definite) output Hessian, so a rank-``mR``
        change of the Gauss-Newton matrix is known without forming it. ``R``
        is ``K``, or ``K - 1`` for a softmax (cross-entropy, NLL): its output
        Hessian ``diag(p) - p p^T`` always has the null vector of ones, whose
        column is dropped (a binary softmax gives one column per row).

        Returns
        -------
        V : torch.Tensor of shape (n_params, n * R)
        """
        theta = self._as_theta(theta)
        X, y, c = self._prepare(X, y, c)
        cols = []
        with self._eval_mode() as module:
            plan = self._outer_plan(module)
            for sl in self._slices(X.shape[0]):
                Xc = X[sl]
                A = self._output_factor(module, theta, Xc, c[sl])
                # J_i^T a_ij is the gradient of the row's scalar a_ij . s_i
                blocks = [
                    self._row_gradients(
                        module, plan, theta, Xc, A[:, :, j].contiguous(), _dot_rows
                    )[0]
                    for j in range(A.shape[2])
                ]
                m = Xc.shape[0]
                cols.append(torch.stack(blocks, dim=1).reshape(m * len(blocks), -1))
        if not cols:
            return torch.zeros((self.n_params, 0), dtype=self.dtype, device=self.device)
        return torch.cat(cols).T.detach()

    def kfac_factors(self, theta, X, y, c=None) -> list[dict]:
        """Per ``nn.Linear`` layer, the sums K-FAC factors the Gauss-Newton block by.

        For each layer, ``GG = sum_ij g_ij g_ij^T`` over the rows' Gauss-Newton
        columns ``j`` (``g_ij`` the output gradient of ``a_ij . s_i``, as in
        :meth:`gauss_newton_factor`, row weights included) and
        ``AA = sum_i a~_i a~_i^T`` with ``a~ = [a, 1]`` when the layer has a
        bias, and the positions of its weight and bias in ``theta``.

        Raises
        ------
        ValueError
            When a trainable parameter is not the weight or bias of an
            ``nn.Linear`` called once per row on a 2-D input.
        """
        theta = self._as_theta(theta)
        X, y, c = self._prepare(X, y, c)
        with self._eval_mode() as module:
            plan = self._outer_plan(module)
            if plan is None:
                raise ValueError(
                    "K-FAC needs every trainable parameter to be the weight or "
                    "bias of an nn.Linear; use curvature='lowrank'."
                )
            layers, off = {}, 0
            for (lin, kind), numel in zip(plan, self._numels, strict=True):
                entry = layers.setdefault(id(lin), {"weight": None, "bias": None})
                entry[kind] = torch.arange(off, off + numel, device=self.device)
                off += numel
            sums = {key: [0.0, 0.0] for key in layers}
            for sl in self._slices(X.shape[0]):
                Xc = X[sl]
                A = self._output_factor(module, theta, Xc, c[sl])
                for j in range(A.shape[2]):
                    found = self._linear_io(
                        module, plan, theta, Xc, A[:, :, j].contiguous(), _dot_rows
                    )
                    if found is None or any(a.shape[1] != 1 for _, (a, _) in found):
                        raise ValueError(
                            "K-FAC needs each nn.Linear applied once per row to a "
                            "2-D input; use curvature='lowrank'."
                        )
                    for lin, (a, g) in found:
                        sums[id(lin)][0] = sums[id(lin)][0] + g[:, 0].T @ g[:, 0]
                        if j == 0:
                            a = a[:, 0]
                            if layers[id(lin)]["bias"] is not None:
                                a = torch.cat([a, torch.ones_like(a[:, :1])], dim=1)
                            sums[id(lin)][1] = sums[id(lin)][1] + a.T @ a
        return [dict(layers[key], GG=sums[key][0], AA=sums[key][1]) for key in layers]

    # ------------------------------------------------- outputs (for PUMA's C)
    def _outputs(self, module, theta, X) -> torch.Tensor:
        """What a performance criterion sees: class probabilities or predictions."""
        s = self._scores(module, theta, X)
        if self.criterion in ("ce", "nll"):
            return torch.softmax(s, dim=1)
        if self.criterion == "bce":
            p1 = torch.sigmoid(s[:, 0])
            return torch.stack([1.0 - p1, p1], dim=1)
        return s

    def predict_outputs(self, theta, X) -> torch.Tensor:
        """Class probabilities (classifiers) or predictions, shape (n, n_outputs).

        Probabilities are the softmax of the scores (two columns ``1 - p, p``
        for a binary net), what ``predict_proba`` returns in eval mode.

        Parameters
        ----------
        theta : array-like of shape (n_params,)
        X : array-like or tensor of shape (n, ...)

        Returns
        -------
        out : torch.Tensor of shape (n, n_outputs)
        """
        theta = self._as_theta(theta)
        X = self._as_x(X)
        chunks = []
        with self._eval_mode() as module, torch.no_grad():
            for sl in self._slices(X.shape[0]):
                chunks.append(self._outputs(module, theta, X[sl]))
        if not chunks:
            return torch.zeros((0, 0), dtype=self.dtype, device=self.device)
        return torch.cat(chunks)

    def outputs_vjp(self, theta, X, G) -> torch.Tensor:
        """``sum_i J_i^T G_i``: a gradient in the outputs pulled back to ``theta``.

        ``J_i`` is the Jacobian of row ``i``'s outputs (:meth:`predict_outputs`)
        in ``theta``, so for a criterion ``C(out)`` with ``G = dC/d out`` this
        is ``grad_theta C``. One forward pass per chunk, one backward per
        column of ``G``.

        Parameters
        ----------
        theta : array-like of shape (n_params,)
        X : array-like or tensor of shape (n, ...)
        G : array-like of shape (n, n_outputs) or (m, n, n_outputs)

        Returns
        -------
        torch.Tensor of shape (n_params,) or (n_params, m)
        """
        theta = self._as_theta(theta)
        X = self._as_x(X)
        G = torch.as_tensor(np.asarray(G) if not torch.is_tensor(G) else G)
        single = G.ndim == 2
        G = G.reshape(-1, *G.shape[-2:]).to(dtype=self.dtype, device=self.device)
        if G.shape[1] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but G has {G.shape[1]}.")
        out = torch.zeros((self.n_params, G.shape[0]), **_like(theta))
        with self._eval_mode() as module:
            for sl in self._slices(X.shape[0]):
                with torch.enable_grad():
                    t = theta.detach().requires_grad_(True)
                    o = self._outputs(module, t, X[sl])
                    for j in range(G.shape[0]):
                        (gj,) = torch.autograd.grad(
                            o, t, G[j, sl], retain_graph=j + 1 < G.shape[0]
                        )
                        out[:, j] += gj
        return out[:, 0] if single else out

    def row_loss_jvp(self, theta, X, y, V) -> torch.Tensor:
        """``grad l_i(theta) . v`` for every row and column ``v`` of ``V``.

        Forward-mode products (``torch.func.jvp``) of the per-row losses: one
        batched forward pass per chunk and column, never the ``(n, p)``
        per-row gradients.

        Parameters
        ----------
        theta : array-like of shape (n_params,)
        X, y : rows and targets, see :meth:`loss_value`.
        V : array-like of shape (n_params,) or (n_params, m)

        Returns
        -------
        torch.Tensor of shape (n,) or (n, m)
        """
        theta = self._as_theta(theta)
        X, y, _ = self._prepare(X, y)
        V = torch.as_tensor(np.asarray(V) if not torch.is_tensor(V) else V)
        single = V.ndim == 1
        V = V.reshape(self.n_params, -1).to(dtype=self.dtype, device=self.device)
        out = torch.empty((X.shape[0], V.shape[1]), **_like(theta))
        with self._eval_mode() as module:
            for sl in self._slices(X.shape[0]):
                Xc, yc = X[sl], y[sl]

                def losses(t, Xc=Xc, yc=yc):
                    return self._row_losses(self._scores(module, t, Xc), yc)

                for j in range(V.shape[1]):
                    out[sl, j] = jvp(losses, (theta,), (V[:, j],))[1].detach()
        return out[:, 0] if single else out


def _dot_rows(s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Each row's ``a_i . s_i`` (``a`` fixed): its gradient is ``J_i^T a_i``."""
    return (s * a.to(s.dtype)).sum(dim=1)


def _like(t: torch.Tensor) -> dict:
    return {"dtype": t.dtype, "device": t.device}
