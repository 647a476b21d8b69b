"""The documents point only at things that exist, and the two equation tables agree.

* Every reference to a file of the repository (``adaptive_lr/...``, ``tests/...``, ``docs/...``,
  ``benchmarks/...``, ``tutorials/...``, the top-level ``*.md``), every relative
  Markdown link and every dotted name ``adaptive_lr.x.y`` in the documents, the notebooks, the
  package's docstrings and the command line's help texts resolves.
* Every test named in EQUATIONS.md exists; every function it names for an equation cites that
  equation in its docstring; README's table puts each equation in the module EQUATIONS.md names.
"""

import ast
import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / name for name in ("README.md", "REPRODUCTION.md", "EQUATIONS.md")]
DOCS += sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "adaptive_lr" / "data").glob("*.md"))
NOTEBOOKS = sorted((ROOT / "tutorials").glob("*.ipynb"))
SOURCES = sorted((ROOT / "adaptive_lr").rglob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))

PATH = re.compile(
    r"(?<![\w/.-])((?:adaptive_lr|tests|docs|benchmarks|tutorials|data)/[\w./-]*\w/?)")
TOP_MD = re.compile(r"(?<![\w/.-])([A-Z][A-Z_]+\.md)\b")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
DOTTED = re.compile(r"(?<![\w.])(adaptive_lr(?:\.\w+)+)")
FORBIDDEN = ("DESIGN.md", "../shared", "shared/data")
#: What the documented commands write (git-ignored): named by the docs, absent from a fresh clone.
BUILD_OUTPUTS = ("docs/_build",)


def _notebook_text(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])


def _help_texts() -> str:
    from adaptive_lr.cli import build_parser

    parser = build_parser()
    texts = [parser.format_help()]
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    texts += [p.format_help() for p in sub.choices.values()]
    return "\n".join(texts)


def _texts():
    """(where, text, folder of its relative links or None for text without Markdown links)."""
    for path in DOCS:
        yield path.relative_to(ROOT).as_posix(), path.read_text(), path.parent
    for path in NOTEBOOKS:
        yield path.relative_to(ROOT).as_posix(), _notebook_text(path), path.parent
    for path in SOURCES:
        yield path.relative_to(ROOT).as_posix(), path.read_text(), None
    yield "adaptive-lr --help", _help_texts(), None


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for name in parts[i:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("where, text, base", list(_texts()), ids=lambda v: v
                         if isinstance(v, str) and len(v) < 60 else "")
def test_every_reference_resolves(where, text, base):
    missing = []
    for ref in PATH.findall(text):
        target = ref.rstrip("/.")
        if "*" in target or "<" in target or target.startswith(BUILD_OUTPUTS):
            continue
        if not (ROOT / target).exists():
            missing.append(ref)
    for ref in TOP_MD.findall(text):
        if not ((ROOT / ref).exists() or (ROOT / "docs" / ref).exists()):
            missing.append(ref)
    for ref in LINK.findall(text) if base is not None else ():
        if not ref.startswith(("http://", "https://", "mailto:")) and not (base / ref).exists():
            missing.append(ref)
    for ref in DOTTED.findall(text):
        if not _resolves(ref.rstrip(".")):
            missing.append(ref)
    for bad in FORBIDDEN:
        if bad in text:
            missing.append(bad)
    assert not missing, f"{where}: dangling references {sorted(set(missing))}"


def _table(path: Path):
    """The rows of the first Markdown table of ``path`` after its header, as lists of cells."""
    rows = [line.strip().strip("|").split("|") for line in path.read_text().splitlines()
            if line.startswith("|")]
    return [[c.strip() for c in row] for row in rows[2:]]


def _equations(cell: str) -> set[int]:
    out = set()
    for a, b in re.findall(r"(\d+)(?:-(\d+))?", cell):
        out |= set(range(int(a), int(b or a) + 1))
    return out


def _module_file(name: str) -> Path | None:
    """The source file of ``adaptive_lr.<name>`` or of its longest module prefix."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        path = ROOT / "adaptive_lr" / Path(*parts[:i])
        if path.with_suffix(".py").exists():
            return path.with_suffix(".py")
    return None


EQUATION_ROWS = _table(ROOT / "EQUATIONS.md")


@pytest.mark.parametrize("row", EQUATION_ROWS, ids=[r[0] for r in EQUATION_ROWS])
def test_equations_table_rows(row):
    numbers, _, code, tests = row
    test_names = re.findall(r"`(test_\w+)", tests)
    all_tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    for name in test_names:
        assert f"def {name}(" in all_tests, f"EQUATIONS.md names a missing test {name}"
    # the first function named in the row cites the equation in its docstring
    named = re.findall(r"`([\w.]+)`", code)
    first = named[0] if named else ""
    module_path = _module_file(first) if first else None
    if module_path is not None:
        module = ".".join(module_path.relative_to(ROOT).with_suffix("").parts)
        obj = importlib.import_module(module)
        rest = first.split(".")[len(module.split(".")) - 1:]
        for name in rest:
            obj = getattr(obj, name)
        doc = obj.__doc__ or ""
        cited = _equations(" ".join(re.findall(r"Eq\. ([\d, -]+)", doc)))
        assert cited & _equations(numbers), f"{first} does not cite Eq. {numbers}"


def test_readme_table_agrees_with_equations_md():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Reading the code next to the paper"):]
    files_for, text_for = {}, {}
    for row in _table_from_text(section):
        files = set(re.findall(r"`(adaptive_lr/[\w/]+\.py)`", row[1]))
        files |= {f"adaptive_lr/{p}" for p in re.findall(r"`((?:controllers|models)/\w+\.py)`",
                                                       row[1])}
        for k in _equations(re.sub(r"Sec\. [\d.]+", "", row[0])):
            files_for.setdefault(k, set()).update(files)
            text_for[k] = text_for.get(k, "") + row[1]
    for numbers, _, code, _ in EQUATION_ROWS:
        named = re.findall(r"`([\w.]+)`", code)
        module_path = _module_file(named[0]) if named else None
        paths = re.findall(r"`([\w/]+\.py)`", code)
        if module_path is None and paths:  # ``controller.step(...)``: the row names the file
            module_path = ROOT / "adaptive_lr" / paths[0]
        for k in _equations(numbers):
            if module_path is None:  # a method of the models: README must name it for Eq. k
                assert named[0] in text_for.get(k, ""), f"README does not name {named[0]}"
                continue
            rel = module_path.relative_to(ROOT).as_posix()
            assert rel in files_for.get(k, set()), f"README puts Eq. {k} elsewhere than {rel}"


def _table_from_text(text: str):
    rows = [line.strip().strip("|").split("|") for line in text.splitlines()
            if line.startswith("|")]
    return [[c.strip() for c in row] for row in rows[2:]]


def test_the_package_parses():  # the reference scan above reads the sources as text
    for path in SOURCES:
        ast.parse(path.read_text())


def test_readme_library_example_prints_what_readme_says(capsys):
    """The README's Python example runs, learns, and prints the numbers the text quotes."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The library in ten lines"):]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})
    printed = [float(v) for v in capsys.readouterr().out.split()]
    quoted = section.split("```", 2)[2].lstrip().split("\n\n", 1)[0]  # the paragraph after it
    numbers = [float(v) for v in re.findall(r"\d+\.\d+", quoted)]
    assert len(printed) == 4 and len(numbers) == 5 and numbers[1] == 0.01  # "(0.034, from 0.01)"
    rate, before, after, acc = printed
    # the text rounds to 2 significant digits
    for value, text in zip((rate, before, after, acc), numbers[:1] + numbers[2:], strict=True):
        assert f"{value:.2g}" == f"{text:.2g}", (value, text)
    assert after < 0.7 * before and acc > 0.8  # it learns


#: Modules of the command line's own plumbing, documented by ``adaptive-lr --help`` instead.
NOT_IN_API = {"adaptive_lr.cli", "adaptive_lr.cli_options", "adaptive_lr.commands"}


def test_every_module_has_an_api_page():
    documented = set()
    for page in (ROOT / "docs" / "api").glob("*.md"):
        documented |= set(re.findall(r"automodule:: ([\w.]+)", page.read_text()))
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts)
               for p in (ROOT / "adaptive_lr").rglob("*.py") if not p.name.startswith("__")}
    missing = sorted(modules - documented - NOT_IN_API)
    assert not missing, f"modules without a section in docs/api/: {missing}"
