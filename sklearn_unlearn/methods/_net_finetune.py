"""Training a net's flat parameter vector without touching the live net.

The training-based methods (:class:`GradientAscent`, :class:`WeightPruning`,
:class:`OracleMatching`) run a few epochs of SGD or Adam on a *copy* of the
parameters: the loss is evaluated with ``torch.func.functional_call`` at a
flat ``theta`` and differentiated with ``torch.func.grad``, so the module's
own parameters (and, in train mode, its buffers) are never written; the
estimator commits the result. Everything stays on the parameters' device and
dtype. Adam and SGD act elementwise, so one flat tensor trains exactly as the
module's separate parameter tensors would.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch.func import grad

__all__ = [
    "epoch_batches",
    "evolved",
    "finetune",
    "minibatches",
    "net_module",
    "refuse_linear",
    "run_optimizer",
    "seed_and_generator",
    "seed_from",
    "seeded",
    "training_objective",
    "weighted_mean",
]

#: the methods that update a linear model, named in the refusals
LINEAR_METHODS = "Newton, FirstOrder, SSSE, PUMA or Retrain"


def refuse_linear(method, adapter) -> None:
    """TypeError unless ``adapter`` is a net's (the training-based methods)."""
    if not adapter.finetunable:
        raise TypeError(
            f"{method.name} trains a neural network and works on skorch nets only; "
            f"{getattr(adapter, 'model_name', 'this model')} is not one. For a "
            f"linear model use {LINEAR_METHODS}."
        )


def evolved(state, theta, **changes):
    """The state at the trained ``theta``, without certificate (cf. ``_evolve``)."""
    moved = float(torch.linalg.vector_norm(theta - state.theta))
    return state.evolve(
        theta=theta,
        residual_bound=None,
        drift_g=np.inf,
        drift_2=state.drift_2 + moved,
        **changes,
    )


def seed_from(random_state) -> int:
    """One integer seed from ``random_state`` (int, RandomState or None)."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def seed_and_generator(random_state) -> tuple[int, torch.Generator]:
    """:func:`seed_from` ``random_state``, and a CPU generator seeded with it."""
    seed = seed_from(random_state)
    return seed, torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def seeded(seed: int, device):
    """torch's global RNG (CPU, and ``device`` if CUDA) seeded, then restored.

    Dropout draws from the global generator; forking keeps the caller's
    random stream untouched.
    """
    device = torch.device(device)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def net_module(adapter, train_mode: bool = False):
    """The module to call with ``adapter._scores``, in the requested mode.

    ``train_mode=False`` evaluates the live module in eval mode (no dropout,
    batch-norm running statistics used, not updated), restoring its modes
    after. ``train_mode=True`` calls a deep copy in train mode, so that
    dropout is active and batch-norm uses batch statistics while the live
    module's buffers stay untouched (their updates are discarded).
    """
    if not train_mode:
        with adapter._eval_mode() as module:
            yield module
        return
    module = copy.deepcopy(adapter._check_module())
    module.train()
    yield module


def weighted_mean(values, c):
    """``sum c_i v_i / sum c_i``: skorch's batch mean, with row weights."""
    return (c * values).sum() / c.sum()


def training_objective(adapter) -> Callable:
    """skorch's objective as ``f(module, theta, X, y, c)``: mean loss + weight decay.

    The ``c``-weighted mean of the rows' losses plus ``weight_decay / 2``
    times the squared norm of ``theta`` (each entry scaled by the adapter's
    ``penalty_mask``, read once here).
    """
    wd, mask = adapter.weight_decay, adapter.penalty_mask

    def objective(module, theta, X, y, c):
        losses = adapter._row_losses(adapter._scores(module, theta, X), y)
        return weighted_mean(losses, c) + 0.5 * wd * (mask * theta * theta).sum()

    return objective


def minibatches(
    n: int, batch_size: int | None, generator: torch.Generator, device
) -> Iterator[torch.Tensor]:
    """Index tensors of one shuffled pass over ``n`` rows (the last may be short)."""
    size = n if batch_size is None else int(batch_size)
    perm = torch.randperm(n, generator=generator).to(device)
    for start in range(0, n, max(size, 1)):
        yield perm[start : start + size]


def epoch_batches(
    n: int, epochs: int, batch_size: int | None, generator: torch.Generator, device
) -> Iterator[torch.Tensor]:
    """Index tensors of ``epochs`` passes of :func:`minibatches` over ``n`` rows."""
    for _ in range(epochs):
        yield from minibatches(n, batch_size, generator, device)


def run_optimizer(
    theta: torch.Tensor,
    loss: Callable,
    batches,
    *,
    lr: float,
    optimizer: str = "sgd",
) -> torch.Tensor:
    """Minimise ``loss(theta, *batch)`` over ``batches``; return the new theta.

    Parameters
    ----------
    theta : torch.Tensor of shape (n_params,)
        The start; never modified.
    loss : callable
        ``loss(theta, *batch) -> 0-d tensor``, differentiable by torch.func.
    batches : iterable of tuples
        One optimizer step per item.
    lr : float
    optimizer : {"sgd", "adam"}
        Plain SGD (``theta -= lr * grad``) or Adam with torch's defaults.

    Returns
    -------
    theta : torch.Tensor of shape (n_params,)
    """
    p = theta.detach().clone().requires_grad_(True)
    if optimizer == "sgd":
        opt = torch.optim.SGD([p], lr=lr)
    elif optimizer == "adam":
        opt = torch.optim.Adam([p], lr=lr)
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}.")
    dloss = grad(loss)
    for batch in batches:
        p.grad = dloss(p.detach(), *batch).detach()
        opt.step()
    return p.detach()


def finetune(
    adapter,
    theta: torch.Tensor,
    batch_loss: Callable,
    batches,
    *,
    seed: int,
    lr: float,
    optimizer: str,
    train_mode: bool,
) -> torch.Tensor:
    """:func:`run_optimizer` with the loss evaluated on the net's module.

    Parameters
    ----------
    adapter : TorchAdapter
        The net; its module is used through :func:`net_module`.
    theta : torch.Tensor of shape (n_params,)
        The start; never modified.
    batch_loss : callable
        ``batch_loss(module, theta, *batch) -> 0-d tensor``.
    batches : iterable of tuples
        One optimizer step per item, consumed inside the seeded context.
    seed : int
        Seeds torch's global RNG (dropout) for the run, see :func:`seeded`.
    lr : float
    optimizer : {"sgd", "adam"}
    train_mode : bool
        Passed to :func:`net_module`.

    Returns
    -------
    theta : torch.Tensor of shape (n_params,)
    """
    with seeded(seed, adapter.device), net_module(adapter, train_mode) as module:

        def loss(t, *batch):
            return batch_loss(module, t, *batch)

        return run_optimizer(theta, loss, batches, lr=lr, optimizer=optimizer)
