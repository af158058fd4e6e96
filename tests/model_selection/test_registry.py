"""The split registry: weak in the process that splits, bounded in workers."""

import gc

import numpy as np
import pytest

from sklearn_unlearn.model_selection import ForgetSplit, clear_split_registry
from sklearn_unlearn.model_selection import _registry as reg


@pytest.fixture(autouse=True)
def empty_registry():
    clear_split_registry()
    yield
    clear_split_registry()


def _split(seed=0, n=40):
    rng = np.random.RandomState(seed)
    X, y = rng.normal(size=(n, 3)), np.arange(n) % 2
    forget = np.arange(n) < 4
    folds = list(ForgetSplit(2, random_state=0).split(X, y, forget=forget))
    return X, y, forget, folds


def _as_worker(monkeypatch):
    """Pretend to be another process: the snapshot's origin differs."""
    monkeypatch.setattr(reg, "process_token", lambda: "a worker")


def test_snapshot_holds_the_live_splits_and_dies_with_the_data():
    X, y, forget, folds = _split()
    snap = reg.snapshot_splits()
    assert len(snap["entries"]) == 2
    assert all(e[1] is X for e in snap["entries"])  # one object, not copies
    train, test = folds[0]
    assert reg.lookup_split(X[test], y[test], forget[test]).train.tolist() == (
        train.tolist()
    )
    del X, snap
    gc.collect()
    # the registry kept no strong reference to the rows
    assert reg.snapshot_splits()["entries"] == []


def test_the_splitting_process_never_merges(monkeypatch):
    X, y, forget, folds = _split()
    snap = reg.snapshot_splits()
    clear_split_registry()
    reg.merge_splits(snap)  # same process: a deliberate clear stays cleared
    assert len(reg._REGISTRY) == 0
    _as_worker(monkeypatch)
    reg.merge_splits(snap)
    train, test = folds[1]
    ctx = reg.lookup_split(X[test], y[test], forget[test])
    assert ctx is not None and ctx.X is X
    # the worker's entries are strong: they outlive the sender's references
    del snap
    gc.collect()
    assert reg.lookup_split(X[test], y[test], forget[test]) is not None


def test_a_worker_keeps_one_copy_and_at_most_max_entries(monkeypatch):
    X, y, forget, folds = _split()
    first = reg.snapshot_splits()
    again = {
        "origin": first["origin"],
        "entries": [(k, X.copy(), *rest) for k, _, *rest in first["entries"]],
    }
    clear_split_registry()
    _as_worker(monkeypatch)
    reg.merge_splits(first)
    reg.merge_splits(again)  # the same splits, brought by another task
    train, test = folds[0]
    assert reg.lookup_split(X[test], y[test], forget[test]).X is X
    monkeypatch.setattr(reg, "_MAX_ENTRIES", 3)
    key, _, *rest = first["entries"][0]
    many = [(f"{key}-{i}", X.copy(), *rest) for i in range(10)]
    reg.merge_splits({"origin": first["origin"], "entries": many})
    assert list(reg._REGISTRY) == [f"{key}-{i}" for i in (7, 8, 9)]
