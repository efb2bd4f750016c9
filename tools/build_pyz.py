#!/usr/bin/env python3
"""Build dist/imageforensics-<version>.pyz: the whole tool as one file, byte-reproducible.

    python3 tools/build_pyz.py [--out-dir dist] [--commit HASH]

The runtime is the standard library alone, so the package travels as one
zipapp. Built twice from the same commit it is byte-identical: members are
staged with fixed timestamps and modes and added in sorted order. The sha256
is written beside it in the format ``sha256sum -c`` reads.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipapp
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "imageforensics"
FIXED_TIME = 315532800 + 86400  # 1980-01-02: the zip format cannot store earlier dates
SHIPPED_SUFFIXES = (".py", ".json", ".typed")
# Checked before anything of the package is imported: an older Python would fail on its
# syntax or its dataclasses with a traceback. Written for any Python (no f-string).
MAIN_PY = '''"""Run imageforensics from its .pyz."""

import sys

if sys.version_info < (3, 10):
    sys.stderr.write("imageforensics needs Python 3.10+ (this is %d.%d.%d)\\n" % tuple(sys.version_info[:3]))
    sys.exit(2)

from imageforensics.cli import main

sys.exit(main())
'''


def package_version() -> str:
    """The version string from imageforensics/_version.py, read without importing it."""
    for line in (PACKAGE / "_version.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise SystemExit("build_pyz: no __version__ in imageforensics/_version.py")


def head_commit() -> str:
    """The checkout's HEAD commit, or "" outside a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return out.stdout.strip()


def _stage(stage: Path, commit: str) -> None:
    target = stage / "imageforensics"
    for source in sorted(PACKAGE.rglob("*")):
        if "__pycache__" in source.parts or not source.is_file() or not source.name.endswith(SHIPPED_SUFFIXES):
            continue
        if source.name == "_build.py":
            continue
        dest = target / source.relative_to(PACKAGE)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
    (stage / "__main__.py").write_text(MAIN_PY, encoding="utf-8")
    (target / "_build.py").write_text(f'"""Written by tools/build_pyz.py."""\n\nCOMMIT = "{commit}"\n', encoding="utf-8")
    for path in sorted(stage.rglob("*"), reverse=True):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
        os.utime(path, (FIXED_TIME, FIXED_TIME))


def build(out_dir: Path, commit: str) -> Path:
    """Build the .pyz and its .sha256 into ``out_dir``; returns the .pyz path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"imageforensics-{package_version()}.pyz"
    with tempfile.TemporaryDirectory(prefix="imageforensics-pyz-") as tmp:
        stage = Path(tmp) / "app"
        stage.mkdir()
        _stage(stage, commit)
        partial = out_dir / (target.name + ".partial")
        zipapp.create_archive(stage, partial, interpreter="/usr/bin/env python3", compressed=True)
        _normalise(partial)
        os.replace(partial, target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    (out_dir / (target.name + ".sha256")).write_text(f"{digest}  {target.name}\n", encoding="ascii")
    return target


def _normalise(path: Path) -> None:
    """Rewrite the zip in sorted member order with fixed times and modes.

    zipapp on Python 3.10-3.12 adds members in directory-listing order, which
    differs between file systems; sorting makes the build reproducible anywhere.
    """

    data = path.read_bytes()
    shebang_end = data.index(b"\n") + 1 if data.startswith(b"#!") else 0
    with tempfile.SpooledTemporaryFile() as out:
        out.write(data[:shebang_end])
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
            for info in sorted(src.infolist(), key=lambda i: i.filename):
                fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 2, 0, 0, 0))
                fixed.compress_type = zipfile.ZIP_DEFLATED
                fixed.external_attr = (0o644 << 16)
                dst.writestr(fixed, src.read(info.filename))
        out.seek(0)
        rebuilt = out.read()
    path.write_bytes(rebuilt)
    os.chmod(path, 0o755)


def main(argv: list[str] | None = None) -> int:
    """Command line of the builder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(ROOT / "dist"), help="where to write the .pyz (default dist/)")
    parser.add_argument("--commit", default=None, help="commit to record (default: the checkout's HEAD)")
    args = parser.parse_args(argv)
    commit = head_commit() if args.commit is None else args.commit
    target = build(Path(args.out_dir), commit)
    print(f"{target} ({target.stat().st_size} bytes, commit {commit[:12] or 'unknown'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
