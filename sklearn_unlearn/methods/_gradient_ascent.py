"""Gradient ascent on the forget set (and descent on the rest): the baselines."""

from __future__ import annotations

from numbers import Integral, Real

from ..utils._compat import Interval, StrOptions
from ._base import UnlearningMethod

__all__ = ["GradientAscent"]


def _refuse_additions(method, request) -> None:
    if request.add.n:
        raise ValueError(
            f"{method.name} can only forget rows; adding or relabelling rows is "
            "not supported (use Newton, SSSE or Retrain)."
        )


class GradientAscent(UnlearningMethod):
    """Fine-tune a net *up* the loss of the rows to forget.

    The baselines of the data-attribution unlearning paper (Sec. 1.2):
    ``retain_weight=0`` is gradient ascent on the forget set, each step

        theta <- theta + lr * grad mean_{i in B_F} l_i(theta)

    over shuffled batches ``B_F`` of the forgotten rows, ``epochs`` passes.
    With ``retain_weight > 0`` every step also descends on a batch ``B_R``
    of the retained rows (cycled through in shuffled order), minimising

        - mean_{B_F} l + retain_weight * (mean_{B_R} l + wd/2 ||theta||^2)

    with ``wd`` the net's weight decay ("GD + GA"); each request then needs
    the rows that remain (``X_retain``, ``y_retain``). One epoch is one pass
    over the forget set. The parameters are trained as a copy (through
    ``torch.func.functional_call``); the net changes only when the estimator
    commits the result. For skorch nets only.

    Parameters
    ----------
    lr : float, default=0.01
        Step size.
    epochs : int, default=1
        Passes over the forget set.
    batch_size : int or None, default=128
        Rows per batch (forget and retained batches alike); None takes the
        whole forget set as one batch.
    retain_weight : float, default=0.0
        Weight of the descent on the retained rows; 0 is pure ascent.
    optimizer : {"sgd", "adam"}, default="sgd"
    train_mode : bool, default=False
        Run the module in train mode (dropout active, batch-norm on batch
        statistics, its running statistics not updated). Off by default:
        the unlearning update then sees the function that predicts.
    random_state : int, RandomState instance or None, default=None
        Seeds the batch order (and dropout); an int makes the step
        deterministic.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skorch import NeuralNetClassifier
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> from sklearn_unlearn.methods import GradientAscent
    >>> X = np.random.default_rng(0).normal(size=(60, 3))
    >>> y = (X[:, 0] > 0).astype(np.int64)
    >>> _ = torch.manual_seed(0)
    >>> net = NeuralNetClassifier(torch.nn.Linear(3, 2), max_epochs=2,
    ...                           criterion=torch.nn.CrossEntropyLoss,
    ...                           train_split=None, verbose=0)
    >>> clf = UnlearningClassifier(net, method=GradientAscent(lr=0.1, random_state=0))
    >>> clf.fit(X, y).unlearn(X[:3], y[:3]).ledger_[-1].n_remaining
    57
    """

    _parameter_constraints = {
        "lr": [Interval(Real, 0, None, closed="neither")],
        "epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "retain_weight": [Interval(Real, 0, None, closed="left")],
        "optimizer": [StrOptions({"sgd", "adam"})],
        "train_mode": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        lr: float = 0.01,
        epochs: int = 1,
        batch_size: int | None = 128,
        retain_weight: float = 0.0,
        optimizer: str = "sgd",
        *,
        train_mode: bool = False,
        random_state=None,
    ):
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.retain_weight = retain_weight
        self.optimizer = optimizer
        self.train_mode = train_mode
        self.random_state = random_state

    @property
    def requires_retained_data(self) -> bool:
        """True with ``retain_weight > 0`` (the descent needs the retained rows)."""
        return self.retain_weight > 0

    def prepare(self, adapter, theta, rows, hessian=None):
        from ._net_finetune import refuse_linear

        refuse_linear(self, adapter)
        return None

    def step(self, adapter, state, request):
        from ._net_finetune import (
            epoch_batches,
            evolved,
            finetune,
            seed_and_generator,
            training_objective,
            weighted_mean,
        )

        _refuse_additions(self, request)
        use_retain = self.retain_weight > 0
        if use_retain and (request.retain is None or request.retain.n == 0):
            raise ValueError(
                f"GradientAscent(retain_weight={self.retain_weight}) descends on the "
                "rows that remain: pass X_retain and y_retain."
            )
        seed, gen = seed_and_generator(self.random_state)
        dev = adapter.device
        Xf, yf, cf = adapter.as_tensors(*_xyc(request.remove))
        if use_retain:
            Xr, yr, cr = adapter.as_tensors(*_xyc(request.retain))
            retain_batches = _cycle(Xr.shape[0], self.batch_size, gen, dev)
        objective, rw = training_objective(adapter), self.retain_weight

        def loss(module, theta, fi, ri=None):
            scores = adapter._scores(module, theta, Xf[fi])
            value = -weighted_mean(adapter._row_losses(scores, yf[fi]), cf[fi])
            if ri is not None:
                value = value + rw * objective(module, theta, Xr[ri], yr[ri], cr[ri])
            return value

        forget_batches = epoch_batches(
            Xf.shape[0], self.epochs, self.batch_size, gen, dev
        )
        # retain_batches is endless: the passes over the forget rows set the steps
        batches = (
            zip(forget_batches, retain_batches, strict=False)
            if use_retain
            else zip(forget_batches)
        )

        theta = finetune(
            adapter,
            state.theta,
            loss,
            batches,
            seed=seed,
            lr=self.lr,
            optimizer=self.optimizer,
            train_mode=self.train_mode,
        )
        w_new = state.total_weight - request.remove.weight
        return evolved(state, theta, total_weight=w_new)


def _xyc(rows):
    return rows.X, rows.y, rows.c


def _cycle(n, batch_size, gen, device):
    """Endless shuffled batches of ``n`` rows, a fresh order each pass."""
    from ._net_finetune import minibatches

    while True:
        yield from minibatches(n, batch_size, gen, device)
