"""Every public object has a numpydoc docstring with an ``Examples`` section.

The public API is what the package and its public subpackages export in
``__all__``. The examples themselves run as doctests (``--doctest-modules``
in ``pyproject.toml``); this test checks that they exist, and names every
object that has none. Exceptions and warnings (a docstring saying when they
are raised is their documentation), module constants and ``__version__`` are
exempt.
"""

from __future__ import annotations

import importlib
import inspect
import re


def _public_module_names() -> list[str]:
    """The package and every module under it with no ``_``-prefixed part."""
    import pkgutil

    import sklearn_unlearn

    names = ["sklearn_unlearn"]
    for info in pkgutil.walk_packages(sklearn_unlearn.__path__, "sklearn_unlearn."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


PUBLIC_MODULES = _public_module_names()
OPTIONAL = {"torch", "skorch", "matplotlib"}


def public_objects():
    """``(module, name, object)`` for every name in a public ``__all__``."""
    found = []
    for modname in PUBLIC_MODULES:
        try:
            module = importlib.import_module(modname)
        except ModuleNotFoundError as err:  # a module still to land, or optional
            if err.name in OPTIONAL or err.name == modname:
                continue
            raise
        for name in getattr(module, "__all__", []):
            try:
                obj = getattr(module, name)
            except ImportError as err:  # lazily exported, needs torch
                if getattr(err, "name", None) in OPTIONAL:
                    continue
                raise
            found.append((modname, name, obj))
    return found


def is_exempt(name, obj) -> bool:
    if name.startswith("__"):
        return True
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return True
    return not (inspect.isclass(obj) or inspect.isfunction(obj) or callable(obj))


def _has_examples(obj) -> bool:
    """A numpydoc ``Examples`` section holding at least one doctest line."""
    doc = inspect.getdoc(obj) or ""
    m = re.search(r"^Examples\n-{8,}\n(.*?)(?=^\w[^\n]*\n-{3,}\n|\Z)", doc, re.M | re.S)
    return bool(m) and ">>>" in m.group(1)


def test_public_api_is_found():
    names = {name for _, name, _ in public_objects()}
    assert {"UnlearningClassifier", "Newton", "klom", "ForgetSplit"} <= names


def test_every_public_object_has_a_running_example():
    missing = sorted(
        f"{mod}.{name}"
        for mod, name, obj in public_objects()
        if not is_exempt(name, obj) and not _has_examples(obj)
    )
    assert not missing, (
        "public objects without a numpydoc 'Examples' section with doctest "
        "lines: " + ", ".join(missing)
    )
