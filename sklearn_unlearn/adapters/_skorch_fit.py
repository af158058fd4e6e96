"""Fitting a skorch net for the unlearning estimators, reproducibly.

A net is fitted by skorch's own ``fit`` (no polishing: a net's optimum is
not reached, and the methods use only the *change* of the gradient). torch's
CPU random state right before the fit is kept, so that ``Retrain`` can start
a fresh net from the same initialisation and batch order.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import clone
from torch import nn

from ._torch import _SUPPORTED_CRITERIA, SkorchAdapter, _stock_methods

__all__ = ["check_skorch_net", "fit_skorch_net", "net_input_dtype"]


def check_skorch_net(net) -> None:
    """Refuse a net whose training objective the adapter cannot know.

    Parameters
    ----------
    net : skorch ``NeuralNet``
        Unfitted or fitted.

    Raises
    ------
    TypeError
        For overridden ``get_loss``/``infer`` or an unsupported criterion.
    ValueError
        For a validation split (``train_split`` must be None: with skorch's
        default ``ValidSplit(5)`` only 80% of the rows enter the objective).

    Examples
    --------
    >>> import torch
    >>> from skorch import NeuralNetClassifier
    >>> from sklearn_unlearn.adapters._skorch_fit import check_skorch_net
    >>> net = NeuralNetClassifier(torch.nn.Linear(3, 2),
    ...                           criterion=torch.nn.CrossEntropyLoss)
    >>> try:
    ...     check_skorch_net(net)
    ... except ValueError as exc:
    ...     print(str(exc)[:36])
    train_split must be None for a net t
    """
    name = type(net).__name__
    get_loss, infer = _stock_methods()
    if type(net).get_loss not in get_loss or type(net).infer not in infer:
        raise TypeError(
            f"{name} overrides get_loss or infer, so its training objective is "
            "unknown; use skorch's own methods."
        )
    crit = net.criterion
    crit_type = crit if isinstance(crit, type) else type(crit)
    if not (isinstance(crit_type, type) and issubclass(crit_type, _SUPPORTED_CRITERIA)):
        raise TypeError(
            f"criterion {getattr(crit_type, '__name__', crit_type)} is not "
            "supported; supported are CrossEntropyLoss, NLLLoss, "
            "BCEWithLogitsLoss and MSELoss."
        )
    if net.train_split is not None:
        raise ValueError(
            "train_split must be None for a net that can unlearn: with a "
            "validation split (skorch's default ValidSplit(5)) only part of the "
            f"rows enter the objective. Use {name}(..., train_split=None)."
        )


def net_input_dtype(net) -> np.dtype:
    """The NumPy dtype the net's module consumes (its parameters' dtype).

    A module given as an instance answers for itself; a module class is
    built by skorch with torch's default dtype (float32 unless changed).
    """
    module = getattr(net, "module_", None)
    if module is None:
        module = net.module
    if isinstance(module, nn.Module):
        for p in module.parameters():
            if p.is_floating_point():
                return torch.empty((), dtype=p.dtype).numpy().dtype
    return torch.empty((), dtype=torch.get_default_dtype()).numpy().dtype


def _net_targets(net, y, regressor: bool):
    """``y`` as skorch's criterion takes it; refuse a net of the wrong kind."""
    from skorch import (
        NeuralNetBinaryClassifier,
        NeuralNetClassifier,
        NeuralNetRegressor,
    )

    name = type(net).__name__
    dtype = net_input_dtype(net)
    if regressor:
        if not isinstance(net, NeuralNetRegressor):
            raise TypeError(
                f"UnlearningRegressor needs a NeuralNetRegressor, got {name}."
            )
        y = np.asarray(y, dtype=dtype)
        return y.reshape(-1, 1) if y.ndim == 1 else y
    y = np.asarray(y)
    if isinstance(net, NeuralNetBinaryClassifier):
        if not np.all(np.isin(y, (0, 1))):
            raise ValueError(
                f"{name} needs labels 0 and 1; encode y with LabelEncoder first."
            )
        return y.astype(dtype)
    if not isinstance(net, NeuralNetClassifier):
        raise TypeError(
            "UnlearningClassifier needs a NeuralNetClassifier or a "
            f"NeuralNetBinaryClassifier, got {name}."
        )
    if y.dtype.kind not in "iub" and not (
        y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0)
    ):
        raise ValueError(
            f"{name} predicts class indices: y must hold integer labels 0..K-1; "
            "encode it with LabelEncoder first."
        )
    if len(y) and y.min() < 0:
        raise ValueError(f"{name} needs labels 0..K-1, got a negative label.")
    return y.astype(np.int64)


def fit_skorch_net(template, X, y, sample_weight=None, *, regressor, rng_state=None):
    """Fit a clone of ``template`` on ``(X, y)``; return ``(net, adapter)``.

    Parameters
    ----------
    template : skorch net
        The unfitted net (its settings); never modified.
    X : ndarray of shape (n, d)
        Rows already in the net's dtype.
    y : ndarray of shape (n,)
    sample_weight : None
        skorch nets train without row weights; anything else is refused.
    regressor : bool
        Whether an ``UnlearningRegressor`` asks.
    rng_state : torch.Tensor, default=None
        torch's CPU random state to start from (a refit reproducing an earlier
        fit's initialisation and batch order); None fits from the current
        state, as ``net.fit`` would, and records it.

    Returns
    -------
    net : the fitted clone
    adapter : SkorchAdapter
        With ``n_features_in_`` and ``init_rng_state`` set.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skorch import NeuralNetRegressor
    >>> from sklearn_unlearn.adapters._skorch_fit import fit_skorch_net
    >>> X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    >>> net = NeuralNetRegressor(torch.nn.Linear(3, 1), max_epochs=2,
    ...                          train_split=None, verbose=0)
    >>> fitted, adapter = fit_skorch_net(net, X, X[:, 0], regressor=True)
    >>> adapter.n_params, adapter.n_features_in_
    (4, 3)
    """
    if sample_weight is not None and not np.all(np.asarray(sample_weight) == 1):
        raise ValueError(
            "skorch nets train without row weights: sample_weight is not "
            "supported for nets (pass None)."
        )
    check_skorch_net(template)
    net = clone(template)
    y_fit = _net_targets(net, y, regressor)
    if rng_state is None:
        rng_state = torch.random.get_rng_state()
        net.fit(X, y_fit)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.random.set_rng_state(rng_state)
            net.fit(X, y_fit)
    adapter = SkorchAdapter(net)
    adapter.n_features_in_ = int(X.shape[1])
    adapter.init_rng_state = rng_state
    return net, adapter
