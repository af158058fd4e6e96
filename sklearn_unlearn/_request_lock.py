"""One request at a time per fitted estimator.

Two threads calling ``unlearn`` on one estimator would both check their
request against the same state before either commits, and the second commit
would overwrite the first. Each estimator therefore applies requests under
its own re-entrant lock (a pipeline's request reaches its last step while
holding the pipeline's). The lock is kept beside the estimator, not in its
``__dict__``: pickles, ``copy.deepcopy`` and ``clone`` never carry it, and a
copy gets a lock of its own the first time it serves a request.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager

__all__ = ["request_lock"]

_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def _lock_of(estimator) -> threading.RLock:
    with _GUARD:
        lock = _LOCKS.get(estimator)
        if lock is None:
            lock = _LOCKS[estimator] = threading.RLock()
        return lock


@contextmanager
def request_lock(estimator):
    """Hold ``estimator``'s request lock (waiting for a request in progress).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn._request_lock import request_lock
    >>> model = LogisticRegression()
    >>> with request_lock(model):
    ...     with request_lock(model):  # re-entrant in one thread
    ...         pass
    """
    lock = _lock_of(estimator)
    with lock:
        yield
