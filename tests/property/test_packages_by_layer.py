"""Packages after each layer are those of the database files the merged filesystem then holds.

``packages.package_states`` tracks database files through whiteouts, opaque
directories and replacements itself; the merged filesystem
(``diff._merged_fs``) is a second implementation of those rules. Random
layers of database writes, other files at database paths, whiteouts and
opaque directories must give the same answer both ways.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from imageforensics.diff._merged_fs import merge_layers
from imageforensics.model import Digest, FileEntry, HistoryStep, Image, Layer, Package, PackageDatabase, Platform, RunConfig
from imageforensics.packages import key_of, package_states

DB_PATHS = ("var/lib/dpkg/status", "var/lib/dpkg/status.d/a", "var/lib/dpkg/status.d/b", "lib/apk/db/installed",
            "app/node_modules/x/package.json")
DIRS = ("var", "var/lib", "var/lib/dpkg", "var/lib/dpkg/status.d", "lib/apk", "app/node_modules", "")
DIGEST = Digest.sha256("0" * 64)


def _database(path: str, version: int) -> PackageDatabase:
    manager = "npm" if "node_modules" in path else "apk" if path.startswith("lib/apk") else "dpkg"
    # Each file names its own package (and a shared one, whose later writer wins).
    own = Package(manager=manager, name=path.replace("/", "-"), version=str(version))
    return PackageDatabase(path=path, manager=manager, packages=(own,))


op = st.one_of(
    st.tuples(st.just("db"), st.sampled_from(DB_PATHS), st.integers(0, 3)),
    st.tuples(st.just("symlink"), st.sampled_from(DB_PATHS), st.just(0)),
    st.tuples(st.just("whiteout"), st.sampled_from(DB_PATHS + DIRS[:-1]), st.just(0)),
    st.tuples(st.just("opaque"), st.sampled_from(DIRS), st.just(0)),
    # A file where a directory was replaces the whole subtree.
    st.tuples(st.just("file"), st.sampled_from(DIRS[:-1]), st.just(0)),
)


def _layer(ops: list[tuple[str, str, int]]) -> tuple[Layer, dict[str, PackageDatabase]]:
    entries: list[FileEntry] = []
    databases: dict[str, PackageDatabase] = {}
    for kind, path, version in ops:
        if kind == "db":
            entries.append(FileEntry(path=path, kind="file", size=1, content_digest=f"sha256:{version}"))
            databases[path] = _database(path, version)
        elif kind == "file":
            entries.append(FileEntry(path=path, kind="file", size=1))
            databases = {p: d for p, d in databases.items() if not p.startswith(path + "/")}
        elif kind == "symlink":
            entries.append(FileEntry(path=path, kind="symlink", linkname="elsewhere"))
            databases.pop(path, None)
        else:
            entries.append(FileEntry(path=path, kind=kind))
    layer = Layer(member="m", blob_digest=DIGEST, diff_id=DIGEST, compression="none", size=0, uncompressed_size=0,
                  entries=tuple(entries), package_databases=tuple(databases.values()))
    return layer, databases


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(op, max_size=6), min_size=1, max_size=5))
def test_packages_follow_the_merged_filesystem(layers_ops: list[list[tuple[str, str, int]]]) -> None:
    layers, written = zip(*(_layer(ops) for ops in layers_ops))
    image = Image(image_id=DIGEST, config_member="c", manifest_digest=None, references=(), platform=Platform(),
                  created=None, author="", history=tuple(HistoryStep(index=i, created=None, layer_index=i)
                                                          for i in range(len(layers))),
                  diff_ids=(DIGEST,) * len(layers), layers=layers, layer_refs=("m",) * len(layers), run_config=RunConfig())
    states = package_states(image)
    for i in range(len(layers)):
        fs = merge_layers([layer.entries for layer in layers[: i + 1]])
        expected = {}
        for path in sorted(p for p in fs.entries if p in DB_PATHS and fs.entries[p].kind == "file"):
            db = written[fs.writer[path]][path]
            for p in db.packages:
                expected[key_of(p)] = p
        assert states.after[i] == expected, f"after layer {i}"
