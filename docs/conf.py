"""Sphinx configuration of the sklearn-unlearn documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (see
``docs/README.md``). The build needs no network: intersphinx links to
scikit-learn, NumPy and skorch are off unless ``SKLEARN_UNLEARN_DOCS_INTERSPHINX=1``
is set. ``-D plot_gallery=0`` skips running the example gallery.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # the package, when it is not installed

import sklearn_unlearn  # noqa: E402

project = "sklearn-unlearn"
author = "sklearn-unlearn developers"
copyright = "sklearn-unlearn developers, BSD-3-Clause"
release = sklearn_unlearn.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]
try:  # the markdown pages (architecture, limitations)
    import myst_parser  # noqa: F401

    extensions.append("myst_parser")
    HAVE_MYST = True
except ImportError:  # pragma: no cover - the docs extra installs it
    HAVE_MYST = False

if os.environ.get("SKLEARN_UNLEARN_DOCS_INTERSPHINX", "0") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "sklearn": ("https://scikit-learn.org/stable/", None),
        "skorch": ("https://skorch.readthedocs.io/en/stable/", None),
        "pandas": ("https://pandas.pydata.org/docs/", None),
    }

source_suffix = {".rst": "restructuredtext"}
if HAVE_MYST:
    source_suffix[".md"] = "markdown"
    myst_heading_anchors = 3

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "README.md",
    "Thumbs.db",
    ".DS_Store",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/**/*.ipynb",
    "auto_examples/**/*.py",
    "sg_execution_times.rst",
]
if not HAVE_MYST:  # pragma: no cover
    exclude_patterns += ["architecture.md", "limitations.md"]

root_doc = "index"
default_role = "literal"
pygments_style = "sphinx"

# -- autodoc / autosummary / numpydoc ----------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- sphinx-gallery ------------------------------------------------------------
QUICK = os.environ.get("SKLEARN_UNLEARN_QUICK", "0") == "1"


def _reset_threads(gallery_conf, fname):  # noqa: ARG001
    """Small problems: one BLAS thread avoids oversubscribing a busy machine."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "examples")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(__init__|conftest|_helpers)\.py|/notebooks/",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("sklearn_unlearn",),
    "reference_url": {"sklearn_unlearn": None},
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "reset_modules": ("matplotlib", "seaborn", _reset_threads),
    "show_memory": False,
    "abort_on_example_error": True,
}

# plot directive (figures in the user guide)
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 90)]
plot_rcparams = {"figure.figsize": (6.0, 3.2), "figure.autolayout": True}
plot_pre_code = "import numpy as np\nimport matplotlib.pyplot as plt\n"

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "sklearn-unlearn"
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "navbar_end": ["navbar-icon-links"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_static_path: list[str] = []
html_show_sourcelink = False

suppress_warnings = [
    # matplotlib's plot directive, examples importing torch lazily, etc.
    "config.cache",
]

warnings.filterwarnings(
    "ignore",
    category=UserWarning,
    message="Matplotlib is currently using agg",
)
