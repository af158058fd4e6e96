"""The deletion ledger: one auditable record per fit or update."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from ._fingerprint import to_hex

__all__ = ["Ledger", "LedgerEntry"]


@dataclass(frozen=True)
class LedgerEntry:
    """One update of a fitted model.

    Attributes
    ----------
    operation : str
        ``"fit"``, ``"unlearn"``, ``"relabel"``, ``"update"`` or ``"retrain"``.
    method : str
        The unlearning method's name.
    timestamp : str
        UTC time, ISO 8601.
    duration_s : float
        Wall-clock seconds the update took.
    n_removed, n_added, n_remaining : int
        Rows taken out, put in, and trained on afterwards.
    removed, added : sequence of str
        Keyed hex fingerprints of the rows (never the rows themselves); check
        rows against them with :func:`sklearn_unlearn.audit_rows`.
    step_norm : float
        Euclidean norm of the parameter change.
    grad_residual_bound : float or None
        Upper bound on the norm of the gradient of the remaining objective at
        the new parameters (Guo et al., 2020), accumulated since the last exact
        solve; ``None`` when no certificate exists for the model or method.
    param_error_bound : float or None
        ``grad_residual_bound`` divided by the smallest eigenvalue of the
        curvature: a bound on the distance to the exact minimiser.
    param_error_estimate : float or None
        Estimated distance to the exact minimiser (the third-order term of
        each Newton step since the last exact solve; see the user guide's
        error estimate); ``None`` when the model or method has none.
    notes : tuple of str
        Anything an auditor should know (e.g. preprocessing that still holds
        statistics of removed rows, a retrain triggered by the error budget).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_unlearn import UnlearningClassifier
    >>> X, y = np.random.RandomState(0).randn(30, 2), np.arange(30) % 2
    >>> clf = UnlearningClassifier(LogisticRegression()).fit(X, y)
    >>> entry = clf.unlearn(X[:2], y[:2]).ledger_[-1]
    >>> entry.operation, entry.n_removed, len(entry.removed[0])
    ('unlearn', 2, 32)
    """

    operation: str
    method: str
    timestamp: str
    duration_s: float
    n_removed: int
    n_added: int
    n_remaining: int
    removed: Sequence[str] = ()
    added: Sequence[str] = ()
    step_norm: float = 0.0
    grad_residual_bound: float | None = None
    param_error_bound: float | None = None
    param_error_estimate: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


class HexFingerprints(Sequence):
    """Fingerprint words ``(n, 2)`` read as hex strings, converted on first use.

    An update records thousands of fingerprints; writing them as text only
    when someone reads them keeps that cost out of the update.
    """

    def __init__(self, words: np.ndarray):
        self._words = np.array(words, dtype=np.uint64).reshape(-1, 2)
        self._words.setflags(write=False)
        self._hex: tuple[str, ...] | None = None

    def _strings(self) -> tuple[str, ...]:
        if self._hex is None:
            self._hex = tuple(to_hex(self._words))
        return self._hex

    def __len__(self) -> int:
        return len(self._words)

    def __getitem__(self, i):
        return self._strings()[i]

    def __eq__(self, other) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return self._strings() == tuple(other)
        return NotImplemented

    __hash__ = None  # mutable-looking container semantics, like list

    def __repr__(self) -> str:
        return f"HexFingerprints({len(self)} rows)"


def _fingerprints(value) -> Sequence[str]:
    if isinstance(value, np.ndarray) and value.dtype == np.uint64:
        return HexFingerprints(value)
    return tuple(value)


def _as_dict(entry: LedgerEntry) -> dict:
    d = {f.name: getattr(entry, f.name) for f in dataclass_fields(entry)}
    for key in ("removed", "added", "notes"):
        d[key] = list(d[key])
    return d


class Ledger:
    """Append-only list of :class:`LedgerEntry`, exportable for an audit.

    Examples
    --------
    >>> from sklearn_unlearn._ledger import Ledger
    >>> ledger = Ledger()
    >>> ledger.record(operation="fit", method="newton", duration_s=0.1,
    ...               n_removed=0, n_added=10, n_remaining=10)
    >>> len(ledger), ledger[-1].n_remaining
    (1, 10)
    """

    def __init__(self):
        self._entries: list[LedgerEntry] = []

    def record(self, **fields) -> None:
        """Append an entry, stamping it with the current UTC time."""
        fields.setdefault("timestamp", datetime.now(UTC).isoformat())
        for key in ("removed", "added"):
            fields[key] = _fingerprints(fields.get(key, ()))
        fields["notes"] = tuple(fields.get("notes", ()))
        self._entries.append(LedgerEntry(**fields))

    def _revise_last_notes(self, notes) -> None:
        """Replace the notes of the last entry (the request that just ran).

        Only for the code that ran that request, to say what it did after
        the entry was written (e.g. a pipeline that dropped a column no
        remaining row uses, once the model's update was recorded).
        """
        if not self._entries:
            raise IndexError("the ledger has no entry")
        self._entries[-1] = replace(self._entries[-1], notes=tuple(notes))

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, i):
        return self._entries[i]

    def __iter__(self):
        return iter(self._entries)

    def __repr__(self) -> str:
        return f"Ledger({len(self)} entries)"

    def to_frame(self) -> pd.DataFrame:
        """The ledger as a DataFrame, one row per entry (fingerprints as counts)."""
        rows = []
        for e in self._entries:
            d = _as_dict(e)
            d["removed"] = len(e.removed)
            d["added"] = len(e.added)
            d["notes"] = "; ".join(e.notes)
            rows.append(d)
        return pd.DataFrame(rows)

    def to_json(self) -> str:
        """The full ledger, fingerprints included, as a JSON string."""
        return json.dumps([_as_dict(e) for e in self._entries], indent=1)
