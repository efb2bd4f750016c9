"""Package database files: which paths hold one, and the packages each lists (dpkg, apk, rpm, pip, npm)."""

from __future__ import annotations

import contextlib
import sqlite3
import struct
import sys

import pytest

from imageforensics.model import Package
from imageforensics.parse._packages import database_manager, read_database


@pytest.mark.parametrize("path, manager", [
    ("var/lib/dpkg/status", "dpkg"),
    ("var/lib/dpkg/status.d/base-files", "dpkg"),
    ("var/lib/dpkg/status.d/base-files.md5sums", ""),
    ("var/lib/dpkg/status-old", ""),
    ("lib/apk/db/installed", "apk"),
    ("var/lib/rpm/rpmdb.sqlite", "rpm"),
    ("var/lib/rpm/Packages", "rpm"),
    ("usr/lib/python3/dist-packages/requests-2.28.1.dist-info/METADATA", "pip"),
    ("usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO", "pip"),
    ("usr/lib/python3/dist-packages/x/METADATA", ""),
    ("usr/lib/node_modules/npm/package.json", "npm"),
    ("app/node_modules/@types/node/package.json", "npm"),
    ("app/node_modules/x/node_modules/y/package.json", "npm"),
    ("app/node_modules/x/test/package.json", ""),
    ("app/package.json", ""),
    ("etc/status", ""),
])
def test_database_paths(path: str, manager: str) -> None:
    assert database_manager(path) == manager


def test_dpkg_status_lists_installed_packages_only() -> None:
    status = (b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\n"
              b"Description: GNU C Library\n continuation: not a field\n\n"
              b"Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n"
              b"Package: half\nStatus: install reinstreq half-installed\nVersion: 2\n")
    db = read_database("var/lib/dpkg/status", status)
    assert db.problem == "" and db.packages == (
        Package(manager="dpkg", name="libc6", version="2.36-9+deb12u4", arch="amd64"),)


def test_distroless_status_d_is_one_package_per_file() -> None:
    db = read_database("var/lib/dpkg/status.d/tzdata", b"Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n")
    assert db.packages == (Package(manager="dpkg", name="tzdata", version="2024a-0+deb12u1", arch="all"),)


def test_apk_installed() -> None:
    data = (b"C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nS:383152\nF:lib\nR:ld-musl-x86_64.so.1\n\n"
            b"C:Q1def=\nP:nginx\nV:1.24.0-r7\nA:x86_64\n\n")
    assert read_database("lib/apk/db/installed", data).packages == (
        Package(manager="apk", name="musl", version="1.2.4-r2", arch="x86_64"),
        Package(manager="apk", name="nginx", version="1.24.0-r7", arch="x86_64"))


def test_python_and_npm_metadata() -> None:
    meta = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nSummary: x\n\nName: not-a-header\n"
    assert read_database("a/requests-2.31.0.dist-info/METADATA", meta).packages == (
        Package(manager="pip", name="requests", version="2.31.0"),)
    assert read_database("node_modules/left-pad/package.json", b'{"name": "left-pad", "version": "1.3.0"}').packages == (
        Package(manager="npm", name="left-pad", version="1.3.0"),)


@pytest.mark.parametrize("path, data, problem", [
    ("node_modules/x/package.json", b"{not json", "not JSON (JSONDecodeError)"),
    ("node_modules/x/package.json", b'{"version": "1"}', 'no "name" string'),
    ("a/x-1.dist-info/METADATA", b"Version: 1\n", "no Name header"),
    ("var/lib/dpkg/status", b"Package: caf\xe9\n", "not UTF-8 (byte 12)"),
    ("var/lib/rpm/Packages", b"\x00\x06\x15\x61", "a Berkeley DB rpm database (rpm < 4.16): not read"),
])
def test_unreadable_files_say_why_in_one_line(path: str, data: bytes, problem: str) -> None:
    db = read_database(path, data)
    assert (db.problem, db.packages) == (problem, ())


def rpm_header(**tags: object) -> bytes:
    """An rpm header blob as rpmdb.sqlite stores it: index count, store size, 16-byte entries, the data store."""
    numbers = {"name": (1000, 6), "version": (1001, 6), "release": (1002, 6), "epoch": (1003, 4), "arch": (1022, 6)}
    index, store = b"", b""
    for name, value in tags.items():
        tag, kind = numbers[name]
        if kind == 4:
            store += b"\x00" * (-len(store) % 4)
            data = struct.pack(">I", value)
        else:
            data = str(value).encode() + b"\x00"
        index += struct.pack(">IIII", tag, kind, len(store), 1)
        store += data
    return struct.pack(">II", len(tags), len(store)) + index + store


def rpmdb(*headers: bytes) -> bytes:
    """An rpmdb.sqlite image with the Packages table rpm 4.16+ writes."""
    with contextlib.closing(sqlite3.connect(":memory:")) as connection:
        connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
        connection.executemany("INSERT INTO Packages (blob) VALUES (?)", [(h,) for h in headers])
        connection.commit()
        return bytes(connection.serialize())  # type: ignore[attr-defined]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="sqlite3 serialize/deserialize need Python 3.11")
def test_rpm_sqlite_headers() -> None:
    data = rpmdb(rpm_header(name="bash", version="5.1.8", release="6.el9", arch="x86_64"),
                 rpm_header(name="tzdata", epoch=1, version="2024a", release="1.el9", arch="noarch"))
    assert read_database("var/lib/rpm/rpmdb.sqlite", data).packages == (
        Package(manager="rpm", name="bash", version="5.1.8-6.el9", arch="x86_64"),
        Package(manager="rpm", name="tzdata", version="1:2024a-1.el9", arch="noarch"))
    assert read_database("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\x00" + b"\x00" * 100).problem.startswith(
        "not an rpm SQLite database")
    # rpm keeps its database in WAL mode (header bytes 18 and 19 are 2): read all the same.
    wal = data[:18] + b"\x02\x02" + data[20:]
    assert read_database("var/lib/rpm/rpmdb.sqlite", wal).packages == read_database("var/lib/rpm/rpmdb.sqlite", data).packages


@pytest.mark.skipif(sys.version_info < (3, 11), reason="sqlite3 serialize/deserialize need Python 3.11")
def test_rpm_sqlite_reads_only_rpms_own_table() -> None:
    # A view could compute forever (a recursive CTE): a database whose Packages is not a table is not read.
    with contextlib.closing(sqlite3.connect(":memory:")) as connection:
        connection.execute("CREATE VIEW Packages AS WITH RECURSIVE n(blob) AS (SELECT 1 UNION ALL SELECT blob + 1 FROM n) "
                           "SELECT blob, blob AS hnum FROM n")
        data = bytes(connection.serialize())  # type: ignore[attr-defined]
    assert read_database("var/lib/rpm/rpmdb.sqlite", data).problem == "an SQLite database without rpm's Packages table"


@pytest.mark.skipif(sys.version_info >= (3, 11), reason="only a Python without sqlite3 deserialize")
def test_rpm_sqlite_on_an_older_python_says_so() -> None:
    assert read_database("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\x00").problem == (
        "this Python's sqlite3 cannot open a database image in memory (deserialize needs Python 3.11+): not read")
