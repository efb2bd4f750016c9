"""The direction of imports (STYLE.md): data flows reader → model → diff → report → render.

The diff engine never imports the reader; renderers never import the diff
engine; the model imports nothing that does I/O; only the allowed modules
touch files, and nothing in the package imports a network module.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "imageforensics"
READER_SIDE = {
    "reader", "inputs", "select", "compress", "layer", "layerstream", "layerentry", "tarheader",
    "parse", "parse_config", "parse_docker", "parse_oci", "archive_audit", "outerstream", "filestate", "forwardview",
}
DIFF_SIDE = {"align", "fsmerge", "fsdiff", "configdiff", "diff", "stepdiff", "sidefindings", "verdict", "contentneed"}
PURE = {"model", "findings", "timestamp", "report", "limits", "errors", "untrusted", "createdby", "units", "redact", "configshape"}
NETWORK = {"socket", "ssl", "http", "urllib", "ftplib", "smtplib", "xmlrpc", "asyncio"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "imageforensics":
                found.update(f"imageforensics.{alias.name}" for alias in node.names)
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
    return {i.split(".", 1)[1] for i in imports if i.startswith("imageforensics.")}


def test_package_imports_only_the_standard_library_and_no_network():
    stdlib = set(sys.stdlib_module_names)
    for name, imports in _modules().items():
        for imported in imports:
            top = imported.split(".")[0]
            if top == "imageforensics":
                continue
            assert top in stdlib, f"{name} imports {imported}, not in the standard library"
            assert top not in NETWORK, f"{name} imports {imported}: the tool never touches the network"


def test_diff_engine_never_imports_the_reader():
    for name, imports in _modules().items():
        if name in DIFF_SIDE:
            assert not (_internal(imports) & READER_SIDE), f"{name} imports the reader side: {_internal(imports) & READER_SIDE}"


def test_renderers_never_import_the_diff_engine_or_the_reader():
    for name, imports in _modules().items():
        if name.startswith("render."):
            bad = {m.split(".")[0] for m in _internal(imports)} & (DIFF_SIDE | READER_SIDE)
            assert not bad, f"{name} imports {bad}"


def test_every_module_has_a_place():
    placed = READER_SIDE | DIFF_SIDE | PURE | {
        "__init__", "__main__", "cli", "build_info", "progress", "audit", "jsoncheck", "modeljson", "snapshot", "_build",
    }
    unplaced = {name for name in _modules() if not name.startswith("render.") and name not in placed}
    assert not unplaced, f"new modules need a place in the import rules: {sorted(unplaced)}"


def test_pure_modules_stay_pure():
    for name, imports in _modules().items():
        if name in PURE:
            internal = {m.split(".")[0] for m in _internal(imports)}
            assert internal <= PURE, f"{name} imports {internal - PURE}"
            assert not ({i.split(".")[0] for i in imports} & {"os", "io", "tarfile", "subprocess", "shutil"}), f"{name} does I/O"


@pytest.mark.parametrize("forbidden", ["extract", "extractall"])
def test_nothing_extracts_archive_members(forbidden):
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == forbidden]
        assert not calls, f"{path.name} calls .{forbidden}()"
