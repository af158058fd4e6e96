"""Test collection and process settings shared by the whole suite.

* Without torch/skorch (a linear-only install), the modules that import them
  at the top are not collected for doctests.
* torch gets one thread: the test nets are tiny, and its thread pool only
  adds contention (10-15x slower on a busy 2-core machine).
* Under pytest-xdist each worker also gets one BLAS thread: two workers on
  two cores with two threads each oversubscribe the machine.
"""

import importlib.util
import os

_TORCH_MODULES = [
    "sklearn_unlearn/adapters/_torch*.py",
    "sklearn_unlearn/adapters/_skorch_fit.py",
    "sklearn_unlearn/callbacks/*.py",
    "sklearn_unlearn/curvature/_net_operators.py",
    "sklearn_unlearn/curvature/_torch_cholesky.py",
    "sklearn_unlearn/methods/_net_*.py",
]

collect_ignore_glob = []
if (
    importlib.util.find_spec("torch") is None
    or importlib.util.find_spec("skorch") is None
):
    collect_ignore_glob.extend(_TORCH_MODULES)


def pytest_configure(config):
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(1)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
