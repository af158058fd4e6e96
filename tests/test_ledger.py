"""The deletion ledger: append-only, frozen entries, exports."""

import dataclasses
import json
from datetime import datetime

import pandas as pd
import pytest

from sklearn_unlearn._ledger import Ledger, LedgerEntry


def _ledger():
    ledger = Ledger()
    ledger.record(
        operation="fit",
        method="Newton",
        duration_s=0.5,
        n_removed=0,
        n_added=10,
        n_remaining=10,
        grad_residual_bound=1e-14,
        param_error_bound=1e-13,
    )
    ledger.record(
        operation="unlearn",
        method="Newton",
        duration_s=0.01,
        n_removed=2,
        n_added=0,
        n_remaining=8,
        removed=["k1", "k2"],
        step_norm=0.3,
        notes=["first note", "second note"],
    )
    return ledger


def test_record_stamps_time_and_freezes_tuples():
    ledger = _ledger()
    assert len(ledger) == 2
    entry = ledger[-1]
    assert isinstance(entry, LedgerEntry)
    assert entry.removed == ("k1", "k2")
    assert entry.added == ()
    assert entry.notes == ("first note", "second note")
    stamp = datetime.fromisoformat(entry.timestamp)
    assert stamp.tzinfo is not None and stamp.utcoffset().total_seconds() == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.n_removed = 0


def test_iteration_and_indexing():
    ledger = _ledger()
    assert [e.operation for e in ledger] == ["fit", "unlearn"]
    assert ledger[0].n_added == 10
    assert repr(ledger) == "Ledger(2 entries)"


def test_to_frame_counts_fingerprints():
    frame = _ledger().to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert frame.shape[0] == 2
    assert frame["removed"].tolist() == [0, 2]
    assert frame["added"].tolist() == [0, 0]
    assert frame["notes"].tolist() == ["", "first note; second note"]
    assert frame["n_remaining"].tolist() == [10, 8]
    assert set(f.name for f in dataclasses.fields(LedgerEntry)) == set(frame.columns)


def test_empty_ledger_exports():
    ledger = Ledger()
    assert len(ledger) == 0
    assert ledger.to_frame().empty
    assert json.loads(ledger.to_json()) == []


def test_to_json_keeps_fingerprints():
    data = json.loads(_ledger().to_json())
    assert data[1]["removed"] == ["k1", "k2"]
    assert data[0]["param_error_bound"] == 1e-13
    assert data[1]["grad_residual_bound"] is None


def test_unknown_field_is_refused():
    with pytest.raises(TypeError):
        Ledger().record(
            operation="fit",
            method="Newton",
            duration_s=0.0,
            n_removed=0,
            n_added=1,
            n_remaining=1,
            secret_row=[1.0, 2.0],
        )
