"""Target outputs for :class:`OracleMatching` and the losses that match them.

Outputs live in the adapter's *score* space: the module's output for
``CrossEntropyLoss``, ``BCEWithLogitsLoss`` and ``MSELoss``; its log for a
``NeuralNetClassifier`` with ``NLLLoss`` (whose module returns probabilities).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..adapters._torch import jvp

__all__ = ["check_oracle", "linearized_scores", "match_losses", "oracle_scores"]


def _is_skorch(oracle) -> bool:
    return hasattr(oracle, "module_") and hasattr(oracle, "forward")


def check_oracle(oracle) -> None:
    """TypeError for an oracle of no supported kind."""
    if (
        _is_skorch(oracle)
        or isinstance(oracle, nn.Module | np.ndarray | torch.Tensor)
        or hasattr(oracle, "predict_proba")
        or hasattr(oracle, "predict")
        or callable(oracle)
    ):
        return
    raise TypeError(
        f"oracle must be a fitted skorch net, a torch.nn.Module, an estimator with "
        f"predict_proba/predict, a callable or an array of outputs; got "
        f"{type(oracle).__name__}."
    )


def _module_space(adapter, out) -> torch.Tensor:
    """A module's outputs as the adapter's scores (cf. ``SkorchAdapter._scores``)."""
    if isinstance(out, tuple):
        out = out[0]
    out = torch.as_tensor(out).to(dtype=adapter.dtype, device=adapter.device)
    out = out.reshape(out.shape[0], -1)
    if adapter._log_output:
        out = torch.log(out + torch.finfo(out.dtype).eps)
    return out


def _probability_space(adapter, P) -> torch.Tensor:
    """Class probabilities as scores: log-probabilities, or a binary logit."""
    P = torch.as_tensor(np.asarray(P), dtype=torch.float64)
    logp = torch.log(P.clamp_min(torch.finfo(torch.float64).tiny))
    if adapter.criterion == "bce":
        logp = (logp[:, 1] - logp[:, 0]).unsqueeze(1)
    return logp.to(dtype=adapter.dtype, device=adapter.device)


def oracle_scores(adapter, oracle, X, rows, n_rows: int) -> torch.Tensor:
    """The oracle's outputs on ``X`` in score space, shape (m, K).

    Parameters
    ----------
    adapter : SkorchAdapter
    oracle : see :class:`OracleMatching`
    X : ndarray of shape (m, d)
        The rows (forgotten first, then the sampled retained rows).
    rows : ndarray of int, shape (m,)
        Their positions among the request's ``n_rows`` rows (for an array
        oracle, which holds outputs for all of them).
    n_rows : int
    """
    if isinstance(oracle, np.ndarray | torch.Tensor):
        out = torch.as_tensor(oracle)
        if out.shape[0] != n_rows:
            raise ValueError(
                f"an array oracle holds one output per row of the request "
                f"(forgotten, then retained: {n_rows}); got {out.shape[0]}."
            )
        out = out[torch.as_tensor(rows)]
        return _module_space(adapter, out.reshape(out.shape[0], -1))
    if _is_skorch(oracle):
        with torch.no_grad():
            out = oracle.forward(X, training=False, device=adapter.device)
        return _module_space(adapter, out)
    if isinstance(oracle, nn.Module):
        modes = [(m, m.training) for m in oracle.modules()]
        oracle.eval()
        try:
            with torch.no_grad():
                Xt = torch.as_tensor(X).to(adapter.device)
                out = oracle(Xt.to(next(oracle.parameters()).dtype))
        finally:
            for m, mode in modes:
                m.training = mode
        return _module_space(adapter, out)
    if adapter.criterion != "mse" and hasattr(oracle, "predict_proba"):
        return _probability_space(adapter, oracle.predict_proba(X))
    if adapter.criterion == "mse" and hasattr(oracle, "predict"):
        return _module_space(adapter, np.asarray(oracle.predict(X)))
    if callable(oracle):
        return _module_space(adapter, oracle(X))
    check_oracle(oracle)
    raise TypeError(
        f"oracle {type(oracle).__name__} has no predict_proba for a classifier."
    )


def linearized_scores(adapter, module, theta, delta, X) -> torch.Tensor:
    """``s(x; theta) + J(x) delta`` for each row, by forward-mode products.

    The first-order prediction of the outputs at ``theta + delta`` (the
    "Datamodel-Direct" estimate when ``delta`` is the influence estimate of
    retraining). ``module`` must be in eval mode.

    Examples
    --------
    >>> import torch
    >>> from skorch import NeuralNetRegressor
    >>> from sklearn_unlearn.adapters._torch import SkorchAdapter
    >>> from sklearn_unlearn.methods._net_oracle import linearized_scores
    >>> net = NeuralNetRegressor(torch.nn.Linear(2, 1), max_epochs=0).initialize()
    >>> adapter = SkorchAdapter(net)
    >>> theta, X = adapter.get_theta(net), torch.randn(4, 2)
    >>> with adapter._eval_mode() as m:  # linear in theta: exact
    ...     t = linearized_scores(adapter, m, theta, torch.ones(3), X)
    ...     s = adapter._scores(m, theta + 1, X)
    >>> bool(torch.allclose(t, s, atol=1e-6))
    True
    """
    delta = delta.to(dtype=theta.dtype, device=theta.device)
    out = []
    for start in range(0, X.shape[0], adapter.chunk_size):
        Xc = X[start : start + adapter.chunk_size]

        def scores(t, Xc=Xc):
            return adapter._scores(module, t, Xc)

        s, js = jvp(scores, (theta,), (delta,))
        out.append((s + js).detach())
    if not out:
        return torch.zeros((0, 1), dtype=theta.dtype, device=theta.device)
    return torch.cat(out)


def match_losses(s, t, kind: str, criterion: str) -> torch.Tensor:
    """Per-row matching loss of scores ``s`` to targets ``t``, shape (m,).

    ``"mse"``: ``mean_k (s_k - t_k)^2``, with ``s`` centred for a softmax
    classifier (``t`` is centred by the caller). ``"kl"``: ``KL(p_t || p_s)``
    of the softmax (or sigmoid) probabilities.
    """
    if kind == "mse":
        if criterion in ("ce", "nll"):
            s = s - s.mean(dim=1, keepdim=True)
        return ((s - t) ** 2).mean(dim=1)
    F = nn.functional
    if criterion == "bce":
        s, t = s[:, 0], t[:, 0]
        p = torch.sigmoid(t)
        return p * (F.logsigmoid(t) - F.logsigmoid(s)) + (1 - p) * (
            F.logsigmoid(-t) - F.logsigmoid(-s)
        )
    log_t, log_s = F.log_softmax(t, dim=1), F.log_softmax(s, dim=1)
    return (log_t.exp() * (log_t - log_s)).sum(dim=1)
