"""The damping that matches how a skorch net was trained, read from its fit.

A net trained for ``T`` steps of a first-order optimizer from its
initialisation is not at a minimum of its objective: in every direction
where the data curvature is small, the parameters moved only as far as ``T``
steps of rate ``lr`` allowed. On a quadratic model, ``T`` steps of gradient
descent on the mean loss act like a ridge penalty of ``1 / (lr T)`` around the
initialisation (early stopping as regularisation); in the objective's sum
scaling (``sum_i c_i l_i``) that is

    damping = W / (lr_eff T),                 W = total row weight,

with ``lr_eff = lr / (1 - momentum)`` for SGD. Adam divides each step by
``sqrt(v_hat) + eps``, so its ridge is that per coordinate; its mean is used:

    damping = W * mean(sqrt(v_hat) + eps) / (lr T),
    v_hat = exp_avg_sq / (1 - beta2^T)  (read from the fitted optimizer).

A Newton step damped this way moves the parameters only as far as the
training run itself could have moved them: an undamped step divides by the
bare penalty floor in the directions the data do not reach and overshoots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["TrainingDamping", "training_damping"]

#: mean-loss gradient norm below which a net counts as at a minimum
AT_MINIMUM_GRADIENT = 1e-6


@dataclass(frozen=True)
class TrainingDamping:
    """The damping read from a training run, and how it was found.

    Attributes
    ----------
    value : float
        The damping in the objective's sum scaling (0 for a net at a minimum).
    rule : str
        A one-line description for the ledger.
    """

    value: float
    rule: str


def _train_steps(net) -> int:
    """Optimizer steps taken in training, from skorch's history."""
    steps = 0
    for epoch in net.history:
        count = epoch.get("train_batch_count")
        if count is None:
            count = sum("train_loss" in b for b in epoch.get("batches", ()))
        steps += int(count)
    return steps


def _adam_preconditioner(opt) -> float | None:
    """``mean(sqrt(v_hat) + eps)`` over every parameter with Adam state."""
    total, count = 0.0, 0
    for group in opt.param_groups:
        beta2, eps = group["betas"][1], group["eps"]
        for p in group["params"]:
            state = opt.state.get(p, {})
            if "exp_avg_sq" not in state:
                continue
            step = float(state.get("step", 0))
            if step <= 0:
                continue
            v_hat = state["exp_avg_sq"].detach().double() / (1.0 - beta2**step)
            total += float((v_hat.sqrt() + eps).sum())
            count += v_hat.numel()
    return total / count if count else None


def training_damping(net, total_weight: float, gradient_norm: float) -> TrainingDamping:
    """The damping of a fitted skorch net's second-order steps.

    Parameters
    ----------
    net : skorch net
        Fitted, with its ``history`` and ``optimizer_`` from that fit.
    total_weight : float
        ``W``, the total weight of the training rows.
    gradient_norm : float
        Norm of the training objective's gradient at the fitted parameters
        (sum scaling); a net whose mean-loss gradient is below 1e-6 is at a
        minimum and gets no damping (the exact Newton step).

    Returns
    -------
    TrainingDamping

    Raises
    ------
    ValueError
        When the optimizer is none of SGD and the Adam family (Adam, AdamW,
        NAdam, RAdam, Adamax), or the net took no training step: pass a
        numeric ``damping`` then.
    """
    W = float(total_weight)
    if gradient_norm <= AT_MINIMUM_GRADIENT * max(W, 1.0):
        return TrainingDamping(
            0.0,
            f"no damping: the net is at a minimum (gradient norm {gradient_norm:.2g})",
        )
    opt = getattr(net, "optimizer_", None)
    name = type(opt).__name__
    steps = _train_steps(net)
    groups = getattr(opt, "param_groups", [])
    if steps < 1 or not groups:
        raise ValueError(
            "damping='auto' reads the training run (optimizer, learning rate, "
            "steps), but this net took no training step; pass a numeric damping."
        )
    lr = sum(float(g["lr"]) * sum(p.numel() for p in g["params"]) for g in groups)
    lr /= max(1, sum(p.numel() for g in groups for p in g["params"]))
    if isinstance(opt, torch.optim.SGD):
        momentum = float(groups[0].get("momentum", 0.0) or 0.0)
        value = W * (1.0 - momentum) / (lr * steps)
        rule = (
            f"damping {value:.4g} from the training run: SGD, lr {lr:g}, "
            f"momentum {momentum:g}, {steps} steps (W (1 - momentum) / (lr T))"
        )
        return TrainingDamping(value, rule)
    pre = _adam_preconditioner(opt) if "betas" in groups[0] else None
    if pre is None or not math.isfinite(pre):
        raise ValueError(
            f"damping='auto' knows how SGD and the Adam family train, not {name}; "
            "pass a numeric damping (e.g. one found by a search on a retrain)."
        )
    value = W * pre / (lr * steps)
    rule = (
        f"damping {value:.4g} from the training run: {name}, lr {lr:g}, {steps} "
        f"steps, mean(sqrt(v_hat) + eps) {pre:.3g} (W mean(sqrt(v_hat)+eps) / (lr T))"
    )
    return TrainingDamping(value, rule)
