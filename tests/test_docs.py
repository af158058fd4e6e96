"""The documentation builds without warnings and its API reference is complete.

``test_api_reference_lists_every_public_object`` needs no Sphinx: it reads
``docs/api.rst``. ``test_sphinx_build`` builds the HTML with warnings as
errors and without running the gallery (``-D plot_gallery=0``); it is
skipped, with the reason, when the ``docs`` extra is not installed
(``pip install ".[docs]"``). The build runs on a copy of ``docs/`` and
``examples/`` so that nothing is written into the repository.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOCS_EXTRA = (
    "sphinx",
    "numpydoc",
    "sphinx_gallery",
    "pydata_sphinx_theme",
    "myst_parser",
)
GENERATED = {"_build", "generated", "gen_modules", "auto_examples"}
OPTIONAL = {"torch", "skorch", "matplotlib"}


def _public_modules():
    import sklearn_unlearn

    names = ["sklearn_unlearn"]
    for info in pkgutil.walk_packages(sklearn_unlearn.__path__, "sklearn_unlearn."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    for name in sorted(names):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name in OPTIONAL:
                continue
            raise
        if hasattr(module, "__all__"):
            yield name, module


def _documented() -> set[str]:
    """``module.name`` for every entry of an autosummary in ``docs/api.rst``."""
    documented, module = set(), None
    in_autosummary = False
    for line in (DOCS / "api.rst").read_text().splitlines():
        m = re.match(r"\.\. currentmodule:: (\S+)", line)
        if m:
            module = m.group(1)
            continue
        if line.startswith(".. autosummary::"):
            in_autosummary = True
            continue
        if in_autosummary:
            if line and not line.startswith(" "):
                in_autosummary = False
                continue
            entry = line.strip()
            if entry and not entry.startswith(":"):
                documented.add(f"{module}.{entry}")
    return documented


def _resolve(entry):
    modname, _, name = entry.rpartition(".")
    return getattr(importlib.import_module(modname), name, None)


def test_api_reference_lists_every_public_object():
    """Each public object has a page (a re-export may share its page)."""
    documented = _documented()
    pages = set()
    for entry in documented:
        try:
            pages.add(id(_resolve(entry)))
        except ImportError:
            pass
    text = (DOCS / "api.rst").read_text()
    missing = []
    for modname, module in _public_modules():
        for name in module.__all__:
            if name.startswith("__"):
                continue
            obj = getattr(module, name, None)
            if not callable(obj) and f"``{name}``" in text:
                continue  # a constant, described in the text
            if f"{modname}.{name}" not in documented and id(obj) not in pages:
                missing.append(f"{modname}.{name}")
    assert not missing, "add to docs/api.rst: " + ", ".join(sorted(missing))


def test_api_reference_lists_only_existing_objects():
    stale = []
    for entry in sorted(_documented()):
        modname, _, name = entry.rpartition(".")
        try:
            module = importlib.import_module(modname)
            getattr(module, name)
        except ModuleNotFoundError as err:
            if err.name in OPTIONAL:
                continue
            stale.append(entry)
        except AttributeError:
            stale.append(entry)
    assert not stale, "in docs/api.rst but not importable: " + ", ".join(stale)


def test_user_guide_pages_exist():
    pages = [
        "why",
        "one_operation",
        "choosing",
        "measuring",
        "nets",
        "debugging",
        "scaling",
    ]
    for page in pages:
        assert (DOCS / "user_guide" / f"{page}.rst").is_file(), page


def test_sphinx_build(tmp_path):
    absent = [m for m in DOCS_EXTRA if importlib.util.find_spec(m) is None]
    if absent:
        pytest.skip(
            "the docs extra is not installed (missing: "
            + ", ".join(absent)
            + '); pip install ".[docs]" to build the documentation'
        )
    ignore = shutil.ignore_patterns(*GENERATED, "sg_execution_times.rst")
    shutil.copytree(DOCS, tmp_path / "docs", ignore=ignore)
    shutil.copytree(
        ROOT / "examples",
        tmp_path / "examples",
        ignore=shutil.ignore_patterns("*.ipynb"),
    )
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    env["OPENBLAS_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    env.pop("SKLEARN_UNLEARN_DOCS_INTERSPHINX", None)  # no network
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-D",
            "plot_gallery=0",
            str(tmp_path / "docs"),
            str(tmp_path / "html"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-6000:]
    html = tmp_path / "html"
    assert (html / "index.html").is_file()
    assert (html / "generated" / "sklearn_unlearn.UnlearningClassifier.html").is_file()
    assert (html / "auto_examples" / "index.html").is_file()
    for page in ("why", "one_operation", "choosing", "scaling"):
        assert (html / "user_guide" / f"{page}.html").is_file()
    assert (html / "architecture.html").is_file()
