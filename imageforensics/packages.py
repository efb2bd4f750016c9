"""Which packages each step of an image installed, upgraded or removed, from the layers' package databases.

A layer's package database files (``Layer.package_databases``) say what was
installed once that layer was applied; the packages after a layer are those
of every database file the merged filesystem then holds (a later layer's
file at the same path replaces it, a whiteout or opaque directory removes
it). A step's changes are the difference between the packages before and
after its layer. Pure: the model in, values out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from imageforensics.model import Image, Package, PackageDatabase

PackageKey = tuple[str, str, str]  # (manager, name, arch)


def key_of(p: Package) -> PackageKey:
    """What names one package across versions: its manager, name and architecture."""
    return (p.manager, p.name, p.arch)


@dataclass(frozen=True, slots=True)
class PackageChange:
    """One package a layer changed: ``action`` installed, upgraded, downgraded or removed; before and after."""

    action: str
    before: Package | None
    after: Package | None

    @property
    def package(self) -> Package:
        """The package as it is after the change (as it was, for a removal)."""
        out = self.after if self.after is not None else self.before
        assert out is not None
        return out

    def describe(self) -> str:
        """``installed nginx 1.20.1-r3``, ``upgraded nginx 1.18.0-r1 -> 1.20.1-r3``, ``removed nginx 1.18.0-r1``."""
        p = self.package
        if self.before is not None and self.after is not None:
            return f"{self.action} {p.name} {self.before.version} -> {self.after.version}"
        return f"{self.action} {p.name} {p.version}"


@dataclass(frozen=True, slots=True)
class PackageStates:
    """The packages after each layer of an image (``after[i]``: once layer i is applied), and the
    databases that could not be read. ``known`` is False when some layer's databases are unknown
    (a snapshot of a version that did not read them): then nothing is said of packages."""

    after: tuple[dict[PackageKey, Package], ...]
    problems: tuple[tuple[int, PackageDatabase], ...]
    known: bool


def _below(path: str, top: str) -> bool:
    return not top or path.startswith(top + "/")


def _ancestors(paths: Sequence[str]) -> set[str]:
    out = {""}
    for path in paths:
        parts = path.split("/")
        out.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return out


def package_states(image: Image) -> PackageStates:
    """The packages after each layer (absent layers change nothing).

    Within a layer the database files follow the runtime's order (``diff._merged_fs``): opaque
    directories and whiteouts remove lower layers' files, then each entry in turn replaces the
    file at its path, and a non-directory replaces the subtree below its path.
    """
    if any(layer is not None and layer.package_databases is None for layer in image.layers):
        return PackageStates(after=(), problems=(), known=False)
    held: dict[str, PackageDatabase] = {}
    after: list[dict[PackageKey, Package]] = []
    problems: list[tuple[int, PackageDatabase]] = []
    state: dict[PackageKey, Package] = {}
    for index, layer in enumerate(image.layers):
        databases = layer.package_databases if layer is not None else ()
        assert databases is not None
        problems.extend((index, d) for d in databases if d.problem)
        if layer is not None and (held or databases):
            before = dict(held)
            written = {d.path: d for d in databases if d.path}
            for e in layer.entries:
                if e.kind == "opaque" and held:
                    held = {p: d for p, d in held.items() if not _below(p, e.path)}
                elif e.kind == "whiteout" and held:
                    held = {p: d for p, d in held.items() if p != e.path and not _below(p, e.path)}
            ancestors = _ancestors(list(held))
            for e in layer.entries:
                if e.kind in ("opaque", "whiteout"):
                    continue
                path = e.path
                if e.kind != "dir" and path in ancestors:
                    held = {p: d for p, d in held.items() if not _below(p, path)}
                    ancestors = _ancestors(list(held))
                if path in held and not (e.kind == "file" and path in written):
                    del held[path]
                elif e.kind == "file" and path in written:
                    if path not in held:
                        ancestors = _ancestors([*held, path])
                    held[path] = written[path]
            if held != before:
                state = {}
                for path in sorted(held):
                    for p in held[path].packages:
                        state[key_of(p)] = p
        after.append(state)
    return PackageStates(after=tuple(after), problems=tuple(problems), known=True)


def layer_changes(before: dict[PackageKey, Package], after: dict[PackageKey, Package]) -> tuple[PackageChange, ...]:
    """What changed from ``before`` to ``after``, sorted by manager, name and architecture."""
    if before is after:
        return ()
    out = []
    for k in sorted(before.keys() | after.keys()):
        old, new = before.get(k), after.get(k)
        if old == new:
            continue
        if old is None:
            out.append(PackageChange("installed", None, new))
        elif new is None:
            out.append(PackageChange("removed", old, None))
        else:
            action = "downgraded" if compare_versions(new.version, old.version) < 0 else "upgraded"
            out.append(PackageChange(action, old, new))
    return tuple(out)


def step_changes(image: Image, states: PackageStates | None = None) -> dict[int, tuple[PackageChange, ...]]:
    """Each layer's package changes, by layer index (layers that changed none are left out)."""
    states = package_states(image) if states is None else states
    out: dict[int, tuple[PackageChange, ...]] = {}
    before: dict[PackageKey, Package] = {}
    for index, after in enumerate(states.after):
        changes = layer_changes(before, after)
        if changes:
            out[index] = changes
        before = after
    return out


def last_changed_by(states: PackageStates) -> dict[PackageKey, int]:
    """Each package any layer held mapped to the last layer that changed it: brought its present version,
    or removed it."""
    out: dict[PackageKey, int] = {}
    before: dict[PackageKey, Package] = {}
    for index, after in enumerate(states.after):
        if after is not before:
            for k in before.keys() | after.keys():
                if before.get(k) != after.get(k):
                    out[k] = index
        before = after
    return out


_PART = re.compile(r"(\d+)|(\D+)")


def _order_char(c: str) -> int:
    # dpkg's order: ~ before everything, even the end; then the end; then letters; then the rest.
    if c == "~":
        return -1
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _compare_part(a: str, b: str) -> int:
    """dpkg's verrevcmp on one part (upstream version or revision)."""
    i = j = 0
    while i < len(a) or j < len(b):
        first = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order_char(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _order_char(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first:
                first = (a[i] > b[j]) - (a[i] < b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first:
            return first
    return 0


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as version ``a`` is older than, equal to or newer than ``b`` (dpkg's rules, which
    order apk, rpm, pip and npm versions alike for the usual cases: epoch, then version, then release)."""
    def split(v: str) -> tuple[int, str, str]:
        epoch, sep, rest = v.partition(":")
        if not sep or not epoch.isdigit():
            epoch, rest = "0", v
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
        return int(epoch), upstream, revision

    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_part(ua, ub) or _compare_part(ra, rb)


def summary_counts(changes: Sequence[PackageChange]) -> str:
    """``2 installed, 1 upgraded`` for a list of changes."""
    counts: dict[str, int] = {}
    for c in changes:
        counts[c.action] = counts.get(c.action, 0) + 1
    return ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
