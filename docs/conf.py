"""Sphinx configuration of the adaptive-lr documentation site.

Build it from the repository root (README.md, "Documentation"):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The course notebooks (``tutorials/``) and the Markdown pages that live outside ``docs/``
(README.md, EQUATIONS.md, REPRODUCTION.md) are copied into ``docs/_generated/`` before the build,
together with ``docs/design.md`` and ``docs/safeguarded.md``, and every relative link between
them is rewritten to the copy's place, so that links that resolve in the repository resolve on
the site too. myst-nb executes the notebooks during the build (``nb_execution_mode``) and fails
the build on any error. A notebook that needs real data (its metadata says which) is executed
only when ``ADAPTIVE_LR_DATA`` holds that data; otherwise the build says so and shows the outputs
committed with the notebook.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
GENERATED = DOCS / "_generated"
sys.path.insert(0, str(ROOT))

import adaptive_lr  # noqa: E402
from tutorials.notebook_data import missing_data, needs_data  # noqa: E402

# repository path -> path of its copy inside docs/
PAGES = {
    "README.md": "_generated/overview.md",
    "EQUATIONS.md": "_generated/equations.md",
    "REPRODUCTION.md": "_generated/reproduction.md",
    "docs/design.md": "_generated/design.md",
    "docs/safeguarded.md": "_generated/safeguarded.md",
    "docs/compare.md": "_generated/compare.md",
}
PAGES.update({f"tutorials/{p.name}": f"_generated/course/{p.name}"
              for p in sorted((ROOT / "tutorials").glob("*.ipynb"))})
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def _rewrite_links(text: str, source: str) -> str:
    """Relative links of ``source`` (a repository path) pointed at the copies in ``PAGES``."""
    here = Path(PAGES[source]).parent

    def fix(match: re.Match) -> str:
        target, anchor = match.group(1), match.group(2) or ""
        if re.match(r"[a-z]+:", target):
            return match.group(0)
        repo_path = os.path.normpath(Path(source).parent / target).replace(os.sep, "/")
        if repo_path.startswith("docs/") and not repo_path.endswith((".md", ".ipynb")):
            # a figure that lives in docs/: linked where it is, relative to the copy
            return f"]({os.path.relpath(repo_path[len('docs/'):], here).replace(os.sep, '/')})"
        if repo_path not in PAGES:
            raise ValueError(f"{source} links to {target}, which is not a page of the site")
        return f"]({os.path.relpath(PAGES[repo_path], here).replace(os.sep, '/')}{anchor})"

    return LINK.sub(fix, text)


def _copy_pages() -> None:
    import json

    shutil.rmtree(GENERATED, ignore_errors=True)
    for source, target in PAGES.items():
        out = DOCS / target
        out.parent.mkdir(parents=True, exist_ok=True)
        text = (ROOT / source).read_text()
        if source.endswith(".ipynb"):
            nb = json.loads(text)
            for cell in nb["cells"]:
                if cell["cell_type"] == "markdown":
                    cell["source"] = _rewrite_links("".join(cell["source"]), source)
            text = json.dumps(nb, indent=1, ensure_ascii=False)
        else:
            text = _rewrite_links(text, source)
        out.write_text(text)


def _not_executable() -> list[str]:
    """The notebooks whose data is missing: shown with their committed outputs."""
    import json

    skipped = []
    for source, target in PAGES.items():
        if source.endswith(".ipynb"):
            reason = missing_data(needs_data(json.loads((ROOT / source).read_text())))
            if reason:
                print(f"docs: {source} is not executed, {reason}; its committed outputs are shown")
                skipped.append(target)
    return skipped


_copy_pages()

project = "adaptive-lr"
author = "adaptive-lr contributors"
release = version = adaptive_lr.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
exclude_patterns = ["_build", "design.md", "safeguarded.md", "compare.md", "**.ipynb_checkpoints",
                    "jupyter_execute"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

# Markdown
myst_heading_anchors = 4          # REPRODUCTION.md#the-delta-rule and the like
myst_enable_extensions = ["dollarmath"]

# Notebooks: executed at build time; any error fails the build
# the kernels inherit the environment: one BLAS thread unless the caller chose otherwise (README,
# Benchmarks: the safer setting when other processes share the cores)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
nb_execution_mode = "cache"
nb_execution_timeout = 300        # seconds per cell
nb_execution_raise_on_error = True
nb_execution_excludepatterns = _not_executable()
nb_execution_show_tb = True
nb_execution_cache_path = str(ROOT / ".jupyter_cache")
nb_merge_streams = True

# API reference from the NumPy docstrings
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True          # a NamedTuple's fields once, not as attributes twice
# a parameter named like a NamedTuple field (``W``) is an ambiguous cross-reference, not an error
suppress_warnings = ["ref.python"]

html_theme = "furo"
html_title = f"adaptive-lr {release}"
