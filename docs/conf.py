"""Sphinx configuration of maskbench's documentation (``make docs``).

The guides are Markdown (MyST); the API reference is generated from the docstrings
(numpydoc) by ``sphinx.ext.autosummary``, recursively over the ``maskbench`` and ``flow``
packages, so it follows whatever modules exist. Stubs go to ``docs/api/generated``
(ignored by git) and are made afresh on every build, so a renamed module leaves no page behind.
"""

from __future__ import annotations

import shutil
import sys
import types
import typing
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # the packages of this checkout, installed or not

# Stubs of the API reference: made afresh each build (a module renamed or removed by a
# restructuring must not leave a stale page that fails to import).
shutil.rmtree(DOCS / "api" / "generated", ignore_errors=True)

import maskbench  # after sys.path: this checkout's package

project = "maskbench"
author = "maskbench developers"
copyright = "maskbench developers, MIT licence"
release = maskbench.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",  # the guides are Markdown
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",  # Parameters / Returns / Raises sections, as scikit-image
    "sphinx.ext.mathjax",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_templates", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# Unresolved cross-references (e.g. a type hint such as ``np.ndarray``) are not errors:
# there is no intersphinx (the build must work offline).
nitpicky = False

# --- API reference ---------------------------------------------------------------------
autosummary_generate = True
# Document an object once, in the module that defines it.
autosummary_imported_members = False
autosummary_ignore_module_all = True
# ``python -m maskbench`` is maskbench/__main__.py: importing it would run the command line,
# and autosummary imports every submodule it finds. Mocked, it is skipped.
autosummary_mock_imports = ["maskbench.__main__"]
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_class_signature = "mixed"

# autodoc lists the members; numpydoc listing them too would duplicate objects.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# --- Markdown --------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links to headings

# --- HTML ------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"maskbench {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_show_sourcelink = False


_TYPE_ALIASES = tuple(
    kind
    for kind in (
        types.GenericAlias,  # tuple[int, str]
        types.UnionType,  # int | None
        typing._GenericAlias,  # Literal["a", "b"], Callable[..., int]
        getattr(typing, "TypeAliasType", None),  # `type X = ...` (Python 3.12)
    )
    if kind is not None
)


def _skip_type_aliases(app, what, name, obj, skip, options):
    """Leave type aliases (``Chunk = tuple[...]``, ``Kind = Literal[...]``) out of the API lists.

    ``inspect`` takes a subscripted generic for a class, so autosummary would list it under
    Classes and ``autoclass`` would then fail on it. An alias is documented where it is used.
    """
    if isinstance(obj, _TYPE_ALIASES):
        return True
    return None


def setup(app):
    """Sphinx's hook: connect the handler above."""
    app.connect("autodoc-skip-member", _skip_type_aliases)
