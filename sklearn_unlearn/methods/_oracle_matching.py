"""Oracle matching: fine-tune toward the outputs of a model that never saw the rows."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import clone

from ..utils._compat import Interval, StrOptions
from ._base import UnlearningMethod
from ._newton import Newton

__all__ = ["OracleMatching"]


class OracleMatching(UnlearningMethod):
    """Fine-tune a net so its outputs match those of a retrained model.

    Oracle Matching of the data-attribution unlearning paper (Sec. 2): the
    net is fine-tuned, from its current parameters, on the forgotten rows
    *and* the retained rows (the paper's Sec. 2.1 shows that the forget rows
    are what makes it converge fast) toward target outputs ``t(x)`` of a
    model that never saw the forgotten rows, minimising the mean over
    shuffled batches of

    * ``loss="mse"``: the squared error of the outputs, ``mean_k (s_k -
      t_k)^2`` (the paper's objective); for a classifier the logits are
      centred first (``s - mean_k s_k``), which makes them comparable with
      log-probabilities, for which they are defined up to a constant;
    * ``loss="kl"`` (classifiers): ``KL(softmax(t) || softmax(s))``, or the
      Bernoulli KL for a binary net.

    The targets come from

    * ``oracle``: a fitted skorch net, a ``torch.nn.Module``, an estimator
      with ``predict_proba`` (classifiers) or ``predict`` (regressors), a
      callable returning what the net's module returns, or an array of
      outputs for the rows of the request, the forgotten rows first and
      then the retained rows, in the order given;
    * ``oracle=None`` (the paper's "Datamodel-Direct" estimate, with
      influence functions as the attribution method): the linearised
      outputs of the Newton-step estimate of the retrained model,
      ``t(x) = s(x; theta) + J(x) Delta``, ``Delta = (H' + damping I)^{-1}
      sum_forget grad l`` from the cached curvature of ``attribution`` (a
      :class:`Newton`), so that no retrained model is needed. ``J(x) Delta``
      is one forward-mode product per chunk of rows (``torch.func.jvp``).

    No weight decay is added: a net that already matches the oracle does not
    move. Every request needs the retained rows (``X_retain``,
    ``y_retain``); the net changes only when the estimator commits. For
    skorch nets only.

    Parameters
    ----------
    epochs : int, default=5
        Passes over the forgotten and (sampled) retained rows.
    lr : float, default=0.01
    oracle : object, callable, array-like or None, default=None
        See above. A fitted model is kept as it is by ``clone`` (not refitted).
    loss : {"mse", "kl"}, default="mse"
    batch_size : int or None, default=128
        None is full batch.
    optimizer : {"sgd", "adam"}, default="sgd"
    max_retain : int or None, default=None
        Retained rows used per request, a random sample (None: all). The
        paper fine-tunes on a subset of the retain set.
    attribution : Newton or None, default=None
        The curvature of the Datamodel-Direct estimate (``oracle=None``);
        None is ``Newton()``: the damped influence step, its damping matched
        to the training run. Its ``curvature`` and ``matrix`` choose the
        cached form or an iterative solve.
    train_mode : bool, default=False
        Fine-tune in train mode (dropout on).
    random_state : int, RandomState instance or None, default=None
        Seeds the sample of retained rows, the batch order and dropout.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skorch import NeuralNetClassifier
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.methods import OracleMatching
    >>> X = np.random.default_rng(0).normal(size=(60, 3))
    >>> y = (X[:, 0] > 0).astype(np.int64)
    >>> _ = torch.manual_seed(0)
    >>> net = NeuralNetClassifier(torch.nn.Linear(3, 2), max_epochs=2,
    ...                           criterion=torch.nn.CrossEntropyLoss,
    ...                           train_split=None, verbose=0)
    >>> clf = UnlearningClassifier(net, method=OracleMatching(random_state=0))
    >>> clf = clf.fit(X, y).unlearn(X[:3], y[:3], X_retain=X[3:], y_retain=y[3:])
    >>> clf.ledger_[-1].n_remaining
    57
    """

    requires_retained_data = True

    _parameter_constraints = {
        "epochs": [Interval(Integral, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "oracle": "no_validation",
        "loss": [StrOptions({"mse", "kl"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "optimizer": [StrOptions({"sgd", "adam"})],
        "max_retain": [Interval(Integral, 0, None, closed="left"), None],
        "attribution": [Newton, None],
        "train_mode": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        epochs: int = 5,
        lr: float = 0.01,
        oracle=None,
        *,
        loss: str = "mse",
        batch_size: int | None = 128,
        optimizer: str = "sgd",
        max_retain: int | None = None,
        attribution: Newton | None = None,
        train_mode: bool = False,
        random_state=None,
    ):
        self.epochs = epochs
        self.lr = lr
        self.oracle = oracle
        self.loss = loss
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.max_retain = max_retain
        self.attribution = attribution
        self.train_mode = train_mode
        self.random_state = random_state

    def __sklearn_clone__(self):
        """A clone that keeps ``oracle`` as it is: a fitted oracle stays fitted."""
        params = self.get_params(deep=False)
        oracle = params.pop("oracle")
        params = {k: clone(v, safe=False) for k, v in params.items()}
        return type(self)(oracle=oracle, **params)

    def prepare(self, adapter, theta, rows, hessian=None):
        from ._net_finetune import refuse_linear
        from ._net_oracle import check_oracle

        refuse_linear(self, adapter)
        if self.loss == "kl" and adapter.criterion == "mse":
            raise ValueError(
                "OracleMatching(loss='kl') matches class probabilities; a "
                "regression net needs loss='mse'."
            )
        if self.oracle is not None:
            check_oracle(self.oracle)
            return None
        attribution = self.attribution
        self.attribution_ = Newton() if attribution is None else clone(attribution)
        return self.attribution_.prepare(adapter, theta, rows)

    def step(self, adapter, state, request):
        import torch

        from ._net_finetune import (
            epoch_batches,
            evolved,
            finetune,
            seed_and_generator,
            weighted_mean,
        )
        from ._net_oracle import linearized_scores, match_losses, oracle_scores

        retain = request.retain
        if retain is None:
            raise ValueError(
                "OracleMatching fine-tunes on the rows that remain: pass X_retain "
                "and y_retain."
            )
        seed, gen = seed_and_generator(self.random_state)
        n_f, n_r = request.remove.n, retain.n
        keep = np.arange(n_r)
        if self.max_retain is not None and self.max_retain < n_r:
            keep = torch.randperm(n_r, generator=gen)[: self.max_retain]
            keep = np.sort(keep.numpy())
        X = np.concatenate([np.asarray(request.remove.X), np.asarray(retain.X)[keep]])
        y = np.concatenate([request.remove.y, retain.y[keep]])
        c = np.concatenate([request.remove.c, retain.c[keep]])
        Xt, _, ct = adapter.as_tensors(X, y, c)
        theta, curvature = state.theta, state.curvature
        if self.oracle is None:
            estimate = self.attribution_.step(adapter, state, request)
            curvature = estimate.curvature
            delta = estimate.theta - theta
            with adapter._eval_mode() as module:
                targets = linearized_scores(adapter, module, theta, delta, Xt)
        else:
            rows = np.concatenate([np.arange(n_f), n_f + keep])
            targets = oracle_scores(adapter, self.oracle, X, rows, n_f + n_r)
        kind, criterion = self.loss, adapter.criterion
        if kind == "mse" and criterion in ("ce", "nll"):
            targets = targets - targets.mean(dim=1, keepdim=True)

        def loss(module, t, idx):
            s = adapter._scores(module, t, Xt[idx])
            values = match_losses(s, targets[idx], kind, criterion)
            return weighted_mean(values, ct[idx])

        dev = adapter.device
        batch_rows = epoch_batches(Xt.shape[0], self.epochs, self.batch_size, gen, dev)
        new = finetune(
            adapter,
            theta,
            loss,
            zip(batch_rows),  # one-tuples: loss(module, t, idx)
            seed=seed,
            lr=self.lr,
            optimizer=self.optimizer,
            train_mode=self.train_mode,
        )
        w_new = state.total_weight - request.remove.weight + request.add.weight
        return evolved(state, new, total_weight=w_new, curvature=curvature)
