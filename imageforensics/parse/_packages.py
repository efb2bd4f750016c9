"""Package databases found in a layer: which paths hold one, and the packages each lists. Pure.

The reader keeps these small files' bytes as the layer streams past
(``database_manager`` says which paths) and hands them here:

- dpkg: ``var/lib/dpkg/status``, deb822 stanzas; a package counts when its
  ``Status`` says ``installed`` (dpkg-query's ``db:Status-Status``). The
  distroless ``var/lib/dpkg/status.d/NAME`` holds one stanza per file (its
  ``NAME.md5sums`` beside it are not stanzas).
- apk: ``lib/apk/db/installed``, stanzas of ``X:value`` lines (``P`` name,
  ``V`` version, ``A`` architecture), as apk-tools writes them.
- rpm: ``var/lib/rpm/rpmdb.sqlite``, rpm ≥ 4.16's SQLite database: each row
  of ``Packages`` is an rpm header blob (index entries, then the data store;
  NAME 1000, VERSION 1001, RELEASE 1002, EPOCH 1003, ARCH 1022), opened in
  memory with ``sqlite3``'s ``deserialize`` (never written to disk). A
  Berkeley DB ``var/lib/rpm/Packages`` is named, not read.
- pip: ``*.dist-info/METADATA`` and ``*.egg-info/PKG-INFO`` (email headers
  ``Name`` and ``Version``).
- npm: ``node_modules/NAME/package.json`` and ``node_modules/@SCOPE/NAME/package.json``
  (``name`` and ``version``).

A file that cannot be read becomes a ``PackageDatabase`` whose ``problem``
says why in one line, never an error: it is evidence.
"""

from __future__ import annotations

import json
import re
import sqlite3
import struct
from collections.abc import Callable

from imageforensics.model import Package, PackageDatabase

DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_D = "var/lib/dpkg/status.d/"
APK_INSTALLED = "lib/apk/db/installed"
RPM_SQLITE = "var/lib/rpm/rpmdb.sqlite"
RPM_BDB = "var/lib/rpm/Packages"
# The cheap first test on every entry's path: what a database path can end with.
_ENDINGS = ("/status", "/installed", "/rpmdb.sqlite", "/Packages", "/METADATA", "/PKG-INFO", "/package.json")
_NPM = re.compile(r"(?:.*/)?node_modules/(?:@[^/]+/)?[^/@][^/]*/package\.json")
_PIP = re.compile(r"(?:.*/)?[^/]+\.(?:dist-info/METADATA|egg-info/PKG-INFO)")


def database_manager(path: str) -> str:
    """The package manager whose database file ``path`` (a model path) is, or ""."""
    if not path.endswith(_ENDINGS) and not path.startswith(DPKG_STATUS_D):
        return ""
    if path == DPKG_STATUS or (path.startswith(DPKG_STATUS_D) and "/" not in path[len(DPKG_STATUS_D):]
                               and not path.endswith(".md5sums") and len(path) > len(DPKG_STATUS_D)):
        return "dpkg"
    if path == APK_INSTALLED:
        return "apk"
    if path in (RPM_SQLITE, RPM_BDB):
        return "rpm"
    if path.endswith(("/METADATA", "/PKG-INFO")) and _PIP.fullmatch(path):
        return "pip"
    if path.endswith("/package.json") and _NPM.fullmatch(path):
        return "npm"
    return ""


def read_database(path: str, data: bytes) -> PackageDatabase:
    """The packages the database file at ``path`` lists (``problem`` set when it cannot be read)."""
    manager = database_manager(path)
    if path == RPM_BDB:
        return PackageDatabase(path=path, manager="rpm", problem="a Berkeley DB rpm database (rpm < 4.16): not read")
    try:
        packages = _READERS[manager](data)
    except _Unreadable as e:
        return PackageDatabase(path=path, manager=manager, problem=str(e))
    except (ValueError, struct.error, sqlite3.Error, OverflowError, MemoryError) as e:
        # Hostile bytes are evidence too: whatever the parsers did not foresee is one line, never a crash.
        return PackageDatabase(path=path, manager=manager, problem=f"unreadable ({type(e).__name__})")
    return PackageDatabase(path=path, manager=manager, packages=tuple(sorted(packages, key=_order)))


def too_large(path: str, size: int, limit: int) -> PackageDatabase:
    """A database file over the size limit: named, not read."""
    return PackageDatabase(path=path, manager=database_manager(path),
                           problem=f"{size} bytes, over the {limit}-byte limit for a package database: not read")


def _order(p: Package) -> tuple[str, str, str]:
    return (p.name, p.arch, p.version)


class _Unreadable(ValueError):
    """A database file that cannot be read; the message says why, in one line."""


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _Unreadable(f"not UTF-8 (byte {e.start})") from None


def _stanzas(text: str) -> list[dict[str, str]]:
    """deb822 paragraphs: ``Field: value`` lines, continuation lines start with white space."""
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                out.append(current)
            current, last = {}, ""
        elif line[0] in " \t":
            if last:
                current[last] += "\n" + line
        else:
            name, sep, value = line.partition(":")
            if sep:
                last = name.strip()
                current[last] = value.strip()
    if current:
        out.append(current)
    return out


def _dpkg(data: bytes) -> list[Package]:
    out = []
    for stanza in _stanzas(_text(data)):
        name = stanza.get("Package")
        if not name:
            continue
        status = stanza.get("Status", "install ok installed").split()
        # dpkg-query's db:Status-Status is the third word: only "installed" is installed.
        if status[-1:] != ["installed"]:
            continue
        out.append(Package(manager="dpkg", name=name, version=stanza.get("Version", ""),
                           arch=stanza.get("Architecture", "")))
    return out


def _apk(data: bytes) -> list[Package]:
    out = []
    fields: dict[str, str] = {}
    for line in _text(data).splitlines() + [""]:
        if not line:
            if fields.get("P"):
                out.append(Package(manager="apk", name=fields["P"], version=fields.get("V", ""),
                                   arch=fields.get("A", "")))
            fields = {}
            continue
        key, sep, value = line.partition(":")
        if sep and len(key) == 1 and key not in fields:
            fields[key] = value
    return out


def _email_headers(data: bytes) -> dict[str, str]:
    """The first header block of a METADATA / PKG-INFO file (core metadata: RFC 822 headers)."""
    headers: dict[str, str] = {}
    for line in _text(data).splitlines():
        if not line.strip():
            break
        name, sep, value = line.partition(":")
        if sep and line[0] not in " \t":
            headers.setdefault(name.strip().lower(), value.strip())
    return headers


def _pip(data: bytes) -> list[Package]:
    headers = _email_headers(data)
    if not headers.get("name"):
        raise _Unreadable("no Name header")
    return [Package(manager="pip", name=headers["name"], version=headers.get("version", ""))]


def _npm(data: bytes) -> list[Package]:
    try:
        doc = json.loads(_text(data))
    except (ValueError, RecursionError) as e:
        raise _Unreadable(f"not JSON ({type(e).__name__})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        raise _Unreadable("no \"name\" string")
    version = doc.get("version")
    return [Package(manager="npm", name=doc["name"], version=version if isinstance(version, str) else "")]


# rpm header tags and the one type read here (RPM_STRING_TYPE 6, RPM_INT32_TYPE 4).
_NAME, _VERSION, _RELEASE, _EPOCH, _ARCH = 1000, 1001, 1002, 1003, 1022
_STRING, _INT32, _I18NSTRING = 6, 4, 9


def _rpm_header(blob: bytes) -> Package:
    """NAME, EPOCH:VERSION-RELEASE and ARCH of one rpm header blob (without its magic, as rpmdb stores it)."""
    if len(blob) < 8:
        raise _Unreadable("an rpm header shorter than 8 bytes")
    count, store = struct.unpack(">II", blob[:8])
    start = 8 + 16 * count
    if start + store > len(blob):
        raise _Unreadable("an rpm header whose index runs past its end")
    values: dict[int, str | int] = {}
    for i in range(count):
        tag, kind, offset, n = struct.unpack(">IIII", blob[8 + 16 * i: 24 + 16 * i])
        if tag not in (_NAME, _VERSION, _RELEASE, _EPOCH, _ARCH) or offset >= store:
            continue
        at = start + offset
        if kind in (_STRING, _I18NSTRING):
            end = blob.find(b"\x00", at, start + store)
            if end < 0:
                raise _Unreadable("an rpm header string without its end")
            values[tag] = blob[at:end].decode("utf-8", "surrogateescape")
        elif kind == _INT32 and n >= 1 and at + 4 <= start + store:
            values[tag] = struct.unpack(">I", blob[at:at + 4])[0]
    name = values.get(_NAME)
    if not isinstance(name, str):
        raise _Unreadable("an rpm header without NAME")
    epoch = values.get(_EPOCH)
    version = f"{values.get(_VERSION, '')}-{values.get(_RELEASE, '')}"
    if epoch is not None:
        version = f"{epoch}:{version}"
    arch = values.get(_ARCH, "")
    return Package(manager="rpm", name=name, version=version, arch=str(arch))


def _rpm(data: bytes) -> list[Package]:
    connection = sqlite3.connect(":memory:")
    try:
        deserialize = getattr(connection, "deserialize", None)
        if deserialize is None:
            raise _Unreadable("this Python's sqlite3 cannot open a database image in memory (deserialize needs "
                              "Python 3.11+): not read")
        if data[:16] == b"SQLite format 3\x00" and data[18:20] == b"\x02\x02":
            # rpm keeps its database in WAL mode, which an in-memory image cannot open: read it as a
            # rollback-journal database (bytes 18 and 19 of the header; the pages are the same).
            data = data[:18] + b"\x01\x01" + data[20:]
        try:
            deserialize(data)
            # A view named Packages could compute forever: only rpm's own table is read.
            kind = connection.execute("SELECT type FROM sqlite_master WHERE name = 'Packages'").fetchone()
            if kind is None or kind[0] != "table":
                raise _Unreadable("an SQLite database without rpm's Packages table")
            rows = connection.execute("SELECT blob FROM Packages ORDER BY hnum").fetchall()
        except sqlite3.Error as e:
            raise _Unreadable(f"not an rpm SQLite database ({e})") from None
        return [_rpm_header(bytes(blob)) for (blob,) in rows if isinstance(blob, (bytes, memoryview))]
    finally:
        connection.close()


_READERS: dict[str, Callable[[bytes], list[Package]]] = {
    "dpkg": _dpkg, "apk": _apk, "rpm": _rpm, "pip": _pip, "npm": _npm,
}
