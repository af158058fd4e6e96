"""Approximate deletion by weight pruning (Orts, Sanchez & Song, 2021)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from ..utils._compat import Interval, StrOptions
from ._base import UnlearningMethod
from ._gradient_ascent import _refuse_additions, _xyc

__all__ = ["WeightPruning"]


class WeightPruning(UnlearningMethod):
    """Zero the weights a forgotten row leans on, then fine-tune on the rest.

    Algorithm 1 of the weight-pruning paper, for every ``nn.Linear`` layer
    ``l`` of the module (in the order the forward pass calls them):

    1. find the ``n_neighbors`` retained rows whose inputs to layer ``l``
       (the activations of the layers before it; the raw features for the
       first) are nearest to the forgotten row's
       (:class:`~sklearn.neighbors.NearestNeighbors`);
    2. ``Delta_j = a_j(x_t) - mean_k a_j(x_k)``, the difference of input
       ``j`` of the layer between the row and its neighbours (Sec. 2.1);
    3. zero every weight ``w_ij`` with ``|Delta_j w_ij| > T_l``.

    Several forgotten rows prune the union of their weights (a weight is
    zeroed when ``|w_ij| max_t |Delta_tj| > T_l``). The net is then
    fine-tuned for ``finetune_epochs`` on the retained rows with its own
    training objective (mean loss plus weight decay), so every request needs
    them (``X_retain``, ``y_retain``). All activations are computed at the
    current parameters in eval mode; nothing is written to the live net
    before the estimator commits. For skorch nets only.

    Parameters
    ----------
    thresholds : float or sequence of float, default=0.5
        ``T_l``: one for every layer, or one per ``nn.Linear`` layer in
        calling order. Lower prunes more (the paper's Sec. 2.2: lower for
        outliers and small data).
    n_neighbors : int, default=5
        Neighbours ``n`` among the retained rows.
    finetune_epochs : int, default=1
        Passes over the retained rows after pruning (0: prune only).
    lr : float, default=0.01
        Fine-tuning step size.
    batch_size : int or None, default=128
        Fine-tuning batch size; None is full batch.
    optimizer : {"sgd", "adam"}, default="sgd"
    bias_value : float or None, default=None
        Algorithm 1 also sets each pruned layer's bias to 0.01 (``b <-
        0.01``); pass a value to do so, None leaves biases as they are.
    train_mode : bool, default=False
        Fine-tune in train mode (dropout on; batch-norm running statistics
        not updated).
    random_state : int, RandomState instance or None, default=None
        Seeds the fine-tuning batch order (and dropout).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skorch import NeuralNetClassifier
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.methods import WeightPruning
    >>> X = np.random.default_rng(0).normal(size=(60, 3))
    >>> y = (X[:, 0] > 0).astype(np.int64)
    >>> _ = torch.manual_seed(0)
    >>> module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
    ...                              torch.nn.Linear(4, 2))
    >>> net = NeuralNetClassifier(module, max_epochs=2, train_split=None,
    ...                           criterion=torch.nn.CrossEntropyLoss, verbose=0)
    >>> method = WeightPruning(thresholds=[0.3, 0.2], n_neighbors=3, random_state=0)
    >>> clf = UnlearningClassifier(net, method=method).fit(X, y)
    >>> clf.unlearn(X[:2], y[:2], X_retain=X[2:], y_retain=y[2:]).ledger_[-1].method
    'WeightPruning'
    """

    requires_retained_data = True

    _parameter_constraints = {
        "thresholds": [Interval(Real, 0, None, closed="left"), "array-like"],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "finetune_epochs": [Interval(Integral, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "optimizer": [StrOptions({"sgd", "adam"})],
        "bias_value": [Real, None],
        "train_mode": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        thresholds=0.5,
        n_neighbors: int = 5,
        finetune_epochs: int = 1,
        lr: float = 0.01,
        batch_size: int | None = 128,
        optimizer: str = "sgd",
        *,
        bias_value: float | None = None,
        train_mode: bool = False,
        random_state=None,
    ):
        self.thresholds = thresholds
        self.n_neighbors = n_neighbors
        self.finetune_epochs = finetune_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.bias_value = bias_value
        self.train_mode = train_mode
        self.random_state = random_state

    def _layer_thresholds(self, n_layers: int) -> np.ndarray:
        T = np.asarray(self.thresholds, dtype=np.float64).reshape(-1)
        if T.size == 1:
            T = np.full(n_layers, T[0])
        if T.size != n_layers or not np.all(np.isfinite(T)) or np.any(T < 0):
            raise ValueError(
                f"thresholds must be one non-negative number or one per nn.Linear "
                f"layer ({n_layers} in this net), got {self.thresholds!r}."
            )
        return T

    def prepare(self, adapter, theta, rows, hessian=None):
        from ._net_finetune import refuse_linear
        from ._net_layers import linear_layers

        refuse_linear(self, adapter)
        with adapter._eval_mode() as module:
            layers = linear_layers(adapter, module, theta, rows.X[:1])
        self._layer_thresholds(len(layers))  # fail at fit, not at the first request
        return None

    def step(self, adapter, state, request):
        import torch

        from ._net_finetune import (
            epoch_batches,
            evolved,
            finetune,
            seed_and_generator,
            training_objective,
        )
        from ._net_layers import linear_layers, pruning_mask

        _refuse_additions(self, request)
        retain = request.retain
        if retain is None or retain.n < self.n_neighbors:
            raise ValueError(
                f"WeightPruning(n_neighbors={self.n_neighbors}) finds neighbours "
                "among and fine-tunes on the rows that remain: pass X_retain and "
                f"y_retain with at least {self.n_neighbors} rows."
            )
        theta = state.theta.clone()
        Xf, _, _ = adapter.as_tensors(*_xyc(request.remove))
        Xr, yr, cr = adapter.as_tensors(*_xyc(retain))
        with adapter._eval_mode() as module, torch.no_grad():
            forget = linear_layers(adapter, module, theta, Xf)
            kept = linear_layers(adapter, module, theta, Xr)
        T = self._layer_thresholds(len(forget))
        for layer, layer_r, t in zip(forget, kept, T, strict=True):
            W = theta[layer.weight].view(layer.shape)
            W[pruning_mask(W, layer.inputs, layer_r.inputs, self.n_neighbors, t)] = 0
            if self.bias_value is not None and layer.bias is not None:
                theta[layer.bias] = self.bias_value
        del forget, kept  # activations of the forgotten rows go here

        seed, gen = seed_and_generator(self.random_state)
        objective = training_objective(adapter)  # skorch's: mean loss + weight decay

        def loss(module, t, idx):
            return objective(module, t, Xr[idx], yr[idx], cr[idx])

        epochs, dev = self.finetune_epochs, adapter.device
        batch_rows = epoch_batches(Xr.shape[0], epochs, self.batch_size, gen, dev)
        theta = finetune(
            adapter,
            theta,
            loss,
            zip(batch_rows),  # one-tuples: loss(module, t, idx)
            seed=seed,
            lr=self.lr,
            optimizer=self.optimizer,
            train_mode=self.train_mode,
        )
        w_new = state.total_weight - request.remove.weight
        return evolved(state, theta, total_weight=w_new)
