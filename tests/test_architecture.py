"""The direction of imports (STYLE.md), checked by folder: read → parse → model → diff → report.

A module's stage is its folder (``read/``, ``parse/``, ``diff/``, ``report/``,
``cli/``); the modules at the top of the package are the values every stage
shares (model, findings, options, errors, …), apart from the named few below.
So a new module needs no registration: where it lives says what it may import.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "imageforensics"
FOLDERS = {"read", "parse", "diff", "report", "cli"}
# Top-level modules that are a stage of their own rather than shared values.
TOP_STAGES = {"__init__": "api", "__main__": "entry", "audit": "audit", "snapshot": "snapshot", "_build": "values"}
ALLOWED = {
    "values": {"values"},
    "audit": {"values"},
    "parse": {"values", "parse"},
    # Reading a snapshot file is reading an input.
    "read": {"values", "parse", "read", "snapshot"},
    # The diff engine builds the report's values (report/_values), never a rendering.
    "diff": {"values", "audit", "diff", "report._values"},
    "report": {"values", "report"},
    "snapshot": {"values"},
    "cli": {"values", "audit", "parse", "read", "diff", "report", "snapshot", "cli", "api"},
    "api": {"values", "audit", "parse", "read", "diff", "report", "snapshot", "cli", "api"},
    "entry": {"cli"},
}
# Known edges that break the rules, each with the reason it is still there.
EXCEPTIONS: dict[str, set[str]] = {}
NETWORK = {"socket", "ssl", "http", "urllib", "ftplib", "smtplib", "xmlrpc", "asyncio"}
IO_MODULES = {"os", "io", "tarfile", "subprocess", "shutil", "tempfile"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("imageforensics"):
                # `from imageforensics.read import _sources` imports the module imageforensics.read._sources.
                for alias in node.names:
                    candidate = PACKAGE.joinpath(*node.module.split(".")[1:], alias.name)
                    is_module = candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file()
                    found.add(f"{node.module}.{alias.name}" if is_module else node.module)
            else:
                found.add(node.module)
    return found


def _modules() -> dict[str, set[str]]:
    result = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        result[name] = _imports(path)
    return result


def _internal(imports: set[str]) -> set[str]:
    return {i.split(".", 1)[1] for i in imports if i.startswith("imageforensics.")} | (
        {"__init__"} if "imageforensics" in imports else set())


def stage_of(module: str) -> str:
    """The stage a module (dotted, relative to the package) belongs to."""
    top = module.split(".")[0]
    if top in FOLDERS:
        return top
    return TOP_STAGES.get(top, "values")


def _allowed(importer: str, imported: str) -> bool:
    allowed = ALLOWED[stage_of(importer)]
    stage = stage_of(imported)
    if stage in allowed:
        return True
    # A finer grant: one module of another stage (report._values for the diff).
    return any(imported == grant or imported.startswith(grant + ".") for grant in allowed if "." in grant)


def test_package_imports_only_the_standard_library_and_no_network():
    stdlib = set(sys.stdlib_module_names)
    for name, imports in _modules().items():
        for imported in imports:
            top = imported.split(".")[0]
            if top == "imageforensics":
                continue
            assert top in stdlib, f"{name} imports {imported}, not in the standard library"
            assert top not in NETWORK, f"{name} imports {imported}: the tool never touches the network"


def test_every_import_follows_the_direction_of_the_pipeline():
    broken = []
    for name, imports in _modules().items():
        for imported in sorted(_internal(imports)):
            if not _allowed(name, imported) and imported not in EXCEPTIONS.get(name, set()):
                broken.append(f"{name} ({stage_of(name)}) imports {imported} ({stage_of(imported)})")
    assert not broken, "imports against the pipeline:\n" + "\n".join(broken)


def test_the_rules_know_every_stage():
    for name in _modules():
        assert stage_of(name) in ALLOWED, f"{name} has no stage"


def test_the_rules_catch_a_wrong_edge():
    # The checker itself: a renderer importing the diff engine, or parse importing the reader, is refused.
    assert not _allowed("report._text", "diff._engine")
    assert not _allowed("diff._engine", "read._archive")
    assert not _allowed("parse._layouts", "read._layer_blob")
    assert not _allowed("model", "report._values")
    assert _allowed("diff._engine", "report._values")
    assert not _allowed("diff._engine", "report._text")


def test_no_import_cycles():
    graph = {name: {i for i in _internal(imports) if i != name} for name, imports in _modules().items()}
    # A package's __init__ re-exports its modules; an edge into a package is an edge into its __init__.
    graph = {name: {i if i in graph else f"{i}.__init__" if f"{i}.__init__" in graph else i for i in edges}
             for name, edges in graph.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_values_do_no_io():
    for name, imports in _modules().items():
        if stage_of(name) in ("values", "audit", "parse", "diff", "report", "snapshot") and name != "_build":
            io_used = {i.split(".")[0] for i in imports} & IO_MODULES
            # io.BytesIO / io.StringIO build text in memory; os is the one that reaches files.
            io_used -= {"io"}
            assert not io_used, f"{name} ({stage_of(name)}) imports {io_used}: only read/ and cli/ do I/O"


@pytest.mark.parametrize("forbidden", ["extract", "extractall"])
def test_nothing_extracts_archive_members(forbidden):
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == forbidden]
        assert not calls, f"{path.name} calls .{forbidden}()"
