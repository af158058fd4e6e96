"""The ``nn.Linear`` layers of a net, their inputs and the pruning rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors
from torch import nn

__all__ = ["LinearLayer", "linear_layers", "pruning_mask"]


@dataclass
class LinearLayer:
    """One ``nn.Linear`` layer: where its parameters sit in ``theta``, its inputs.

    Attributes
    ----------
    name : str
        The layer's name in the module.
    weight : slice
        Entries of ``theta`` holding the weight, row-major ``(out, in)``.
    bias : slice or None
        Entries holding the bias (None if it has none or it is frozen).
    shape : tuple of int
        ``(out_features, in_features)``.
    inputs : torch.Tensor of shape (m, in_features)
        The layer's input for each of the ``m`` rows.
    """

    name: str
    weight: slice
    bias: slice | None
    shape: tuple
    inputs: torch.Tensor


def _offsets(adapter) -> dict[str, slice]:
    out, start = {}, 0
    for name, numel in zip(adapter.param_names, adapter.param_sizes, strict=True):
        out[name] = slice(start, start + numel)
        start += numel
    return out


def linear_layers(adapter, module, theta, X) -> list[LinearLayer]:
    """The ``nn.Linear`` layers with a trainable weight, in calling order.

    Runs the module at ``theta`` on ``X`` (in chunks, without gradients) with
    forward hooks that record each layer's input.

    Raises
    ------
    ValueError
        When the module has no such layer, or a layer is not called exactly
        once per forward pass on 2-d inputs of the rows.
    """
    offsets = _offsets(adapter)
    names = {
        id(m): name
        for name, m in module.named_modules()
        if isinstance(m, nn.Linear) and f"{name}.weight" in offsets
    }
    if not names:
        raise ValueError(
            "WeightPruning needs a module with trainable nn.Linear layers; this "
            "one has none."
        )
    X = torch.as_tensor(X)
    order, inputs = [], {k: [] for k in names}

    def hook(layer, args, output):
        if id(layer) not in names:
            return
        if id(layer) not in order:
            order.append(id(layer))
        inputs[id(layer)].append(args[0].detach())

    handles = [
        m.register_forward_hook(hook) for m in module.modules() if id(m) in names
    ]
    n_calls = 0
    try:
        with torch.no_grad():
            for start in range(0, max(X.shape[0], 1), adapter.chunk_size):
                adapter._scores(module, theta, X[start : start + adapter.chunk_size])
                n_calls += 1
    finally:
        for h in handles:
            h.remove()
    layers = []
    for key in order:
        parts = inputs[key]
        if len(parts) != n_calls or any(a.dim() != 2 for a in parts):
            raise ValueError(
                f"WeightPruning needs each nn.Linear layer called once per forward "
                f"pass on (rows, features) inputs; layer {names[key]!r} is not."
            )
        name = names[key]
        weight = offsets[f"{name}.weight"]
        layers.append(
            LinearLayer(
                name=name,
                weight=weight,
                bias=offsets.get(f"{name}.bias"),
                shape=tuple(module.get_submodule(name).weight.shape),
                inputs=torch.cat(parts),
            )
        )
    if len(layers) != len(names):
        raise ValueError(
            "WeightPruning: some nn.Linear layers were not called in the forward pass."
        )
    return layers


def pruning_mask(W, A_forget, A_retain, n_neighbors: int, threshold: float):
    """Which weights of one layer to zero (weight-pruning paper, Algorithm 1).

    For each forgotten row ``t`` the ``n_neighbors`` nearest retained rows
    ``k`` in the layer's input space give ``Delta_tj = a_j(x_t) - mean_k
    a_j(x_k)``; ``w_ij`` is pruned when ``|Delta_tj w_ij| > threshold`` for
    some ``t``.

    Parameters
    ----------
    W : torch.Tensor of shape (out, in)
    A_forget : torch.Tensor of shape (n_forget, in)
    A_retain : torch.Tensor of shape (n_retain, in)
    n_neighbors : int
    threshold : float

    Returns
    -------
    mask : torch.Tensor of bool, shape (out, in)

    Examples
    --------
    >>> import torch
    >>> from sklearn_unlearn.methods._net_layers import pruning_mask
    >>> W = torch.tensor([[1.0, 2.0], [0.1, 0.5]])
    >>> A_r = torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
    >>> pruning_mask(W, torch.tensor([[1.0, 2.0]]), A_r, 1, 0.4)  # Delta = [0, 1]
    tensor([[False,  True],
            [False,  True]])
    """
    Af = A_forget.detach().to("cpu", torch.float64).numpy()
    Ar = A_retain.detach().to("cpu", torch.float64).numpy()
    nn_ = NearestNeighbors(n_neighbors=n_neighbors).fit(Ar)
    idx = nn_.kneighbors(Af, return_distance=False)  # (n_forget, n_neighbors)
    delta = Af - Ar[idx].mean(axis=1)  # Sec. 2.1, Delta^(l) per forgotten row
    spread = torch.as_tensor(np.abs(delta).max(axis=0), dtype=W.dtype, device=W.device)
    return W.abs() * spread.unsqueeze(0) > threshold
