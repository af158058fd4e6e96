"""Test collection: skip the torch modules' doctests when torch is absent."""

import importlib.util

collect_ignore_glob = []
if (
    importlib.util.find_spec("torch") is None
    or importlib.util.find_spec("skorch") is None
):
    collect_ignore_glob.append("sklearn_unlearn/adapters/_torch*.py")
