"""Recording the parameter updates of sensitive batches (Amnesiac unlearning).

Graves, Nagisetty & Ganesh (2021), "Amnesiac Machine Learning": while a net
trains, keep the parameter change of every batch that holds a row flagged as
sensitive; to forget such a row, subtract the changes of the batches that
held it (:class:`~sklearn_unlearn.methods.Amnesiac`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from skorch.callbacks import Callback

from .._fingerprint import fingerprint_array
from .._fingerprint_key import FingerprintKey

__all__ = ["AmnesiacLog", "AmnesiacRecorder"]


def _as_numpy(a, what: str) -> np.ndarray:
    if torch.is_tensor(a):
        return a.detach().cpu().numpy()
    if isinstance(a, dict | torch.utils.data.Dataset) or a is None:
        raise TypeError(
            f"AmnesiacRecorder fingerprints rows: it needs {what} as an array or a "
            f"tensor, got {type(a).__name__}."
        )
    return np.asarray(a)


def training_keys(X, y, key: bytes) -> np.ndarray:
    """Keyed fingerprints ``(n, 2)`` of rows as the net trains on them."""
    X = _as_numpy(X, "X")
    y = _as_numpy(y, "y")
    return fingerprint_array(X.reshape(len(X), -1), y.reshape(len(y), -1), key)


def _flat_params(net) -> torch.Tensor:
    params = [p for p in net.module_.parameters() if p.requires_grad]
    return torch.cat([p.detach().reshape(-1) for p in params]).clone()


def _key_bytes(keys: np.ndarray) -> list[bytes]:
    keys = np.ascontiguousarray(keys, dtype=np.uint64)
    return [k.tobytes() for k in keys]


class AmnesiacLog:
    """What :class:`AmnesiacRecorder` recorded: fingerprints and batch updates.

    Immutable: :meth:`forget` returns a new log. Holds no row, only
    fingerprints of the sensitive rows, and for each recorded batch the
    fingerprints of its sensitive rows and its parameter change.

    Parameters
    ----------
    sensitive : set of bytes
        Fingerprints of the sensitive rows not yet forgotten.
    batches : list of (set of bytes, torch.Tensor)
        Each recorded batch: its sensitive rows' fingerprints and the change
        ``theta_after - theta_before`` of its optimizer step.
    key : FingerprintKey, default=None
        The key of the fingerprints (see :class:`~sklearn_unlearn.FingerprintKey`).

    Examples
    --------
    >>> from sklearn_unlearn.callbacks import AmnesiacLog
    >>> log = AmnesiacLog(frozenset({b"row-1", b"row-2"}), [])
    >>> len(log), log.n_batches
    (2, 0)
    """

    def __init__(self, sensitive: frozenset, batches: list, key=None):
        self.sensitive = frozenset(sensitive)
        self.batches = list(batches)
        self.key = key

    @property
    def n_batches(self) -> int:
        """Batches whose update is recorded."""
        return len(self.batches)

    def __len__(self) -> int:
        return len(self.sensitive)

    def unflagged(self, keys) -> np.ndarray:
        """Positions of ``keys`` that are not (or no longer) flagged sensitive."""
        return np.flatnonzero([k not in self.sensitive for k in _key_bytes(keys)])

    def forget(self, keys) -> tuple[AmnesiacLog, torch.Tensor | None]:
        """The log without ``keys``, and the sum of the updates of their batches.

        Every batch that held one of ``keys`` leaves the log, with its update.

        Returns
        -------
        log : AmnesiacLog
        total : torch.Tensor or None
            Sum of the removed batches' updates (None when there is none).
        """
        gone = set(_key_bytes(keys))
        kept, total = [], None
        for batch_keys, delta in self.batches:
            if batch_keys & gone:
                total = delta.clone() if total is None else total + delta
            else:
                kept.append((batch_keys, delta))
        return AmnesiacLog(self.sensitive - gone, kept, self.key), total


class AmnesiacRecorder(Callback):
    """skorch callback: record the updates of batches holding sensitive rows.

    Before every training batch the rows are fingerprinted; if one is
    flagged sensitive the trainable parameters are copied, and after the
    optimizer step their change is kept with the fingerprints of the batch's
    sensitive rows (never the rows). :class:`~sklearn_unlearn.methods.Amnesiac`
    takes the records over at fit, and an unlearn subtracts the updates of the
    batches that held the forgotten rows and drops them. Batches without a
    sensitive row cost one fingerprint pass and nothing else.

    Parameters
    ----------
    sensitive : array-like of bool or callable
        A mask over the rows passed to the net's ``fit``, or ``sensitive(X,
        y) -> mask`` called with them (``y`` as the net trains on it).
    fingerprint_key : FingerprintKey, default=None
        The secret keying the fingerprints of the sensitive rows; ``None``
        draws a random key when training starts, kept with the records (see
        :class:`~sklearn_unlearn.FingerprintKey` for a key held elsewhere).

    Attributes
    ----------
    sensitive_keys_ : set of bytes
        Fingerprints of the sensitive rows seen in ``fit``.
    records_ : list of (frozenset of bytes, torch.Tensor) or None
        The recorded batches; None once handed over by :meth:`take_log`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skorch import NeuralNetClassifier
    >>> from sklearn_unlearn.callbacks import AmnesiacRecorder
    >>> X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(np.int64)
    >>> mask = np.zeros(40, dtype=bool)
    >>> mask[:2] = True
    >>> net = NeuralNetClassifier(torch.nn.Linear(3, 2), max_epochs=3, batch_size=10,
    ...                           criterion=torch.nn.CrossEntropyLoss, train_split=None,
    ...                           callbacks=[AmnesiacRecorder(mask)], verbose=0)
    >>> recorder = dict(net.fit(X, y).callbacks_)["AmnesiacRecorder"]
    >>> log = recorder.take_log()
    >>> len(log), 1 <= log.n_batches <= 6, recorder.records_
    (2, True, None)
    """

    def __init__(self, sensitive: np.ndarray | Callable, fingerprint_key=None):
        self.sensitive = sensitive
        self.fingerprint_key = fingerprint_key

    def initialize(self):
        self.sensitive_keys_ = set()
        self.fingerprint_key_ = self.fingerprint_key or FingerprintKey.generate()
        self.records_ = []
        self.before_ = None
        self.batch_keys_ = None
        return self

    def _mask(self, X, y) -> np.ndarray:
        n = len(X)
        s = self.sensitive
        mask = np.asarray(s(X, y) if callable(s) else s)
        if mask.dtype != bool or mask.shape != (n,):
            raise ValueError(
                f"sensitive must be a boolean mask over the {n} training rows (or a "
                f"callable returning one); got dtype {mask.dtype}, shape {mask.shape}."
            )
        return mask

    def _check_not_taken(self):
        if self.records_ is None:
            raise RuntimeError(
                "this AmnesiacRecorder's records were handed over (take_log); "
                "re-initialise the net to record again."
            )

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self._check_not_taken()
        mask = self._mask(X, y)
        X, y = _as_numpy(X, "X"), _as_numpy(y, "y")
        secret = self.fingerprint_key_.secret()
        self.sensitive_keys_.update(_key_bytes(training_keys(X[mask], y[mask], secret)))

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        self.before_ = self.batch_keys_ = None
        if not training or not self.sensitive_keys_:
            return
        keys = _key_bytes(
            training_keys(batch[0], batch[1], self.fingerprint_key_.secret())
        )
        flagged = frozenset(k for k in keys if k in self.sensitive_keys_)
        if flagged:
            self.before_ = _flat_params(net)
            self.batch_keys_ = flagged

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if self.before_ is None:
            return
        self.records_.append((self.batch_keys_, _flat_params(net) - self.before_))
        self.before_ = self.batch_keys_ = None

    def take_log(self) -> AmnesiacLog:
        """Hand the records over as an :class:`AmnesiacLog` and keep none.

        The estimator's state owns them from then on, so that an unlearn can
        drop the updates of forgotten batches everywhere at once.
        """
        self._check_not_taken()
        log = AmnesiacLog(
            frozenset(self.sensitive_keys_), self.records_, self.fingerprint_key_
        )
        self.sensitive_keys_, self.records_ = set(), None
        return log
