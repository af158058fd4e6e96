"""The German credit demo (``python -m sklearn_unlearn demo``)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklearn_unlearn.__main__ import main
from sklearn_unlearn._demo import _make_model, _prepare, _run, _theta, run_demo

COLUMNS = [
    "method",
    "update_ms",
    "speedup_vs_retrain",
    "param_distance",
    "max_proba_diff",
    "test_accuracy",
]
METHODS = ["newton", "newton, retained rows", "first_order", "ssse", "retrain"]


@pytest.fixture(scope="module")
def table():
    return run_demo(random_state=0, forget_fraction=0.05)


def _do_nothing_distance(encoding, random_state=0, forget_fraction=0.05):
    """Distance of the model fitted on every row to the retrained one."""
    split = _prepare(random_state, forget_fraction, encoding)
    X_forget, y_forget = split.rows(split.forget)
    X_keep, y_keep = split.rows(~split.forget)
    with warnings.catch_warnings():
        # lbfgs may stop at max_iter on the unscaled fixed encoding; fit polishes
        warnings.simplefilter("ignore", ConvergenceWarning)
        untouched = _make_model("newton", split).fit(split.X_train, split.y_train)
        retrained = _make_model("retrain", split).fit(split.X_train, split.y_train)
        retrained.unlearn(X_forget, y_forget, X_retain=X_keep, y_retain=y_keep)
    ref = _theta(retrained)
    return float(np.linalg.norm(_theta(untouched) - ref) / np.linalg.norm(ref))


def _check_table(table):
    assert isinstance(table, pd.DataFrame)
    assert table.shape == (len(METHODS), len(COLUMNS))
    assert list(table.columns) == COLUMNS
    assert table["method"].tolist() == METHODS
    numbers = table[COLUMNS[1:]].to_numpy(dtype=float)
    assert np.all(np.isfinite(numbers))
    assert np.all(table["update_ms"] > 0)
    assert table["test_accuracy"].between(0, 1).all()
    retrain = table.set_index("method").loc["retrain"]
    assert retrain["param_distance"] == 0.0
    assert retrain["max_proba_diff"] == 0.0
    assert retrain["speedup_vs_retrain"] == pytest.approx(1.0)
    assert table.attrs["n_forget"] == round(0.05 * table.attrs["n_train"])


def test_run_demo_table(table):
    _check_table(table)
    assert table.attrs["encoding"] in ("pipeline", "fixed")
    assert table.attrs["n_train"] + table.attrs["n_test"] == 1000


def test_newton_beats_doing_nothing(table):
    by_method = table.set_index("method")
    nothing = _do_nothing_distance(table.attrs["encoding"])
    assert by_method.loc["newton", "param_distance"] < nothing
    # the refined step is closer still
    assert (
        by_method.loc["newton, retained rows", "param_distance"]
        < by_method.loc["newton", "param_distance"]
    )


def test_fixed_encoding_fallback():
    """The data-independent encoding used when the pipeline module is missing."""
    table = _run(random_state=1, forget_fraction=0.05, encoding="fixed")
    _check_table(table)
    assert table.attrs["encoding"] == "fixed"
    newton = table.set_index("method").loc["newton", "param_distance"]
    assert newton < _do_nothing_distance("fixed", random_state=1)


def test_fixed_encoding_is_data_independent():
    split = _prepare(0, 0.05, "fixed")
    # 7 numeric columns and one column per documented category code
    assert split.X_train.shape == (750, 7 + 56)
    one_hot = split.X_train[:, 7:]
    # every row has exactly one code per categorical column (13 of them)
    np.testing.assert_array_equal(one_hot.sum(axis=1), 13)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_bad_forget_fraction(fraction):
    with pytest.raises(ValueError, match="forget_fraction"):
        run_demo(forget_fraction=fraction)


def test_command_line(capsys):
    assert main(["demo", "--forget-fraction", "0.02"]) == 0
    out = capsys.readouterr().out
    assert "German credit" in out
    for method in METHODS:
        assert method in out
