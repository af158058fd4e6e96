"""Amnesiac unlearning (Graves, Nagisetty & Ganesh, 2021)."""

from __future__ import annotations

import numpy as np

from ._base import UnlearningMethod
from ._gradient_ascent import _refuse_additions

__all__ = ["Amnesiac"]


def _training_targets(adapter, y) -> np.ndarray:
    """Encoded targets back to what skorch trained on (class labels, values)."""
    if adapter.criterion in ("ce", "nll") and adapter.classes_ is not None:
        return np.asarray(adapter.classes_)[np.asarray(y)]
    return np.asarray(y)


class Amnesiac(UnlearningMethod):
    """Undo the recorded updates of the batches that held the forgotten rows.

    Amnesiac unlearning (Graves et al., 2021, Sec. 4.2): the net is trained
    with an :class:`~sklearn_unlearn.callbacks.AmnesiacRecorder` among its
    callbacks, which keeps the parameter change ``Delta_b`` of every batch
    ``b`` that held a row flagged sensitive. Forgetting rows ``S`` is then

        theta' = theta - sum_{b : b holds a row of S} Delta_b

    and those batches leave the record, so no update of a forgotten batch is
    kept. The records move from the callback into the estimator's state at
    fit. Only rows flagged sensitive can be forgotten; a request with any
    other row is refused (the model is left as it was). Forgetting one of
    several identical sensitive rows removes every batch that held any of
    them. For skorch nets only; needs no retained rows.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skorch import NeuralNetClassifier
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.callbacks import AmnesiacRecorder
    >>> from sklearn_unlearn.methods import Amnesiac
    >>> X = np.random.default_rng(0).normal(size=(60, 3))
    >>> y = (X[:, 0] > 0).astype(np.int64)
    >>> flagged = np.arange(60) < 5
    >>> net = NeuralNetClassifier(torch.nn.Linear(3, 2), max_epochs=2, batch_size=20,
    ...                           criterion=torch.nn.CrossEntropyLoss, train_split=None,
    ...                           callbacks=[AmnesiacRecorder(flagged)], verbose=0)
    >>> clf = UnlearningClassifier(net, method=Amnesiac()).fit(X, y)
    >>> len(clf.state_.curvature)  # sensitive rows that can be forgotten
    5
    >>> len(clf.unlearn(X[:2], y[:2]).state_.curvature)
    3
    """

    def __init__(self):
        pass

    def prepare(self, adapter, theta, rows, hessian=None):
        from ..callbacks import AmnesiacRecorder
        from ._net_finetune import refuse_linear

        refuse_linear(self, adapter)
        recorders = [
            cb
            for _, cb in getattr(adapter._net, "callbacks_", [])
            if isinstance(cb, AmnesiacRecorder)
        ]
        if len(recorders) != 1:
            raise ValueError(
                "Amnesiac needs exactly one AmnesiacRecorder among the net's "
                f"callbacks (found {len(recorders)}): e.g. NeuralNetClassifier(..., "
                "callbacks=[AmnesiacRecorder(sensitive=mask)])."
            )
        log = recorders[0].take_log()
        for _, delta in log.batches:
            if delta.numel() != adapter.n_params:
                raise ValueError(
                    "the recorded updates do not match the net's trainable "
                    "parameters; was the module changed after training?"
                )
        return log

    def step(self, adapter, state, request):
        from ..callbacks._amnesiac import training_keys
        from ._net_finetune import evolved

        _refuse_additions(self, request)
        log = state.curvature
        if log.key is None:  # pragma: no cover - a log recorded without a key
            raise ValueError("this Amnesiac log has no fingerprint key; retrain.")
        keys = training_keys(
            np.asarray(request.remove.X),
            _training_targets(adapter, request.remove.y),
            log.key.secret(),
        )
        bad = log.unflagged(keys)
        if len(bad):
            raise ValueError(
                f"{len(bad)} of the {len(keys)} rows to forget were not flagged "
                "sensitive by the AmnesiacRecorder (or were forgotten already), so "
                "no update of theirs was recorded; Amnesiac cannot forget them. Use "
                "another method (e.g. Newton, SSSE, Retrain)."
            )
        log, total = log.forget(keys)
        theta = state.theta
        if total is not None:
            theta = theta - total.to(dtype=theta.dtype, device=theta.device)
        w_new = state.total_weight - request.remove.weight
        return evolved(state, theta, curvature=log, total_weight=w_new)
