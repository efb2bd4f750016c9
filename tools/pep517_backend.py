"""A PEP 517 / PEP 660 build backend in the standard library alone.

``pip wheel .`` and ``pip install [-e] .`` must work on an offline machine,
where pip cannot download setuptools into an isolated build environment. The
package is pure Python with a few data files, so building it needs nothing
but zipfile: this backend reads the metadata from setup.cfg and writes the
wheel (or the editable wheel, a .pth pointing at the checkout) itself.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import io
import os
import re
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXED_DATE = (1980, 1, 2, 0, 0, 0)
PACKAGE_DATA = (".py", ".json", ".typed")


def _config() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    return cfg


def _version(cfg: configparser.ConfigParser) -> str:
    value = cfg.get("metadata", "version")
    if value.startswith("attr:"):
        module = value.split(":", 1)[1].strip().rsplit(".", 1)[0]
        base = ROOT / Path(*module.split("."))
        source = (base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py").read_text(encoding="utf-8")
        match = re.search(r"^__version__\s*=\s*[\"']([^\"']+)[\"']", source, re.M)
        if match is None:
            raise RuntimeError(f"no __version__ in {module}")
        return match.group(1)
    return value


def _lines(cfg: configparser.ConfigParser, section: str, key: str) -> list[str]:
    return [line.strip() for line in cfg.get(section, key, fallback="").splitlines() if line.strip()]


def _names(cfg: configparser.ConfigParser) -> tuple[str, str, str]:
    name = cfg.get("metadata", "name")
    version = _version(cfg)
    return name, version, f"{name.replace('-', '_')}-{version}"


def _metadata(cfg: configparser.ConfigParser) -> str:
    name, version, _ = _names(cfg)
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {cfg.get('metadata', 'description', fallback='')}",
        f"License: {cfg.get('metadata', 'license', fallback='')}",
        f"Requires-Python: {cfg.get('options', 'python_requires', fallback='')}",
    ]
    lines += [f"Classifier: {c}" for c in _lines(cfg, "metadata", "classifiers")]
    if cfg.has_section("options.extras_require"):
        for extra in cfg.options("options.extras_require"):
            lines.append(f"Provides-Extra: {extra}")
            lines += [f'Requires-Dist: {req}; extra == "{extra}"' for req in _lines(cfg, "options.extras_require", extra)]
    lines.append("Description-Content-Type: text/markdown")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return "\n".join(lines) + "\n\n" + readme


def _entry_points(cfg: configparser.ConfigParser) -> str:
    scripts = _lines(cfg, "options.entry_points", "console_scripts")
    return "[console_scripts]\n" + "".join(f"{s}\n" for s in scripts) if scripts else ""


def _package_files() -> list[Path]:
    files = []
    for path in sorted((ROOT / "imageforensics").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.name.endswith(PACKAGE_DATA) and path.name != "_build.py":
            files.append(path)
    return files


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _write_wheel(directory: str, members: list[tuple[str, bytes]]) -> str:
    cfg = _config()
    _, _, stem = _names(cfg)
    dist_info = f"{stem}.dist-info"
    meta = [
        (f"{dist_info}/METADATA", _metadata(cfg).encode("utf-8")),
        (f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: imageforensics pep517_backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
        (f"{dist_info}/top_level.txt", b"imageforensics\n"),
    ]
    entry_points = _entry_points(cfg)
    if entry_points:
        meta.append((f"{dist_info}/entry_points.txt", entry_points.encode("utf-8")))
    everything = members + meta
    record = "".join(_record_line(name, data) + "\n" for name, data in everything) + f"{dist_info}/RECORD,,\n"
    filename = f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, filename), "w", compression=zipfile.ZIP_DEFLATED) as whl:
        for name, data in everything + [(f"{dist_info}/RECORD", record.encode("utf-8"))]:
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            whl.writestr(info, data)
    return filename


def get_requires_for_build_wheel(config_settings: object = None) -> list[str]:
    """Nothing beyond the standard library."""
    return []


def get_requires_for_build_sdist(config_settings: object = None) -> list[str]:
    """Nothing beyond the standard library."""
    return []


def get_requires_for_build_editable(config_settings: object = None) -> list[str]:
    """Nothing beyond the standard library."""
    return []


def build_wheel(wheel_directory: str, config_settings: object = None, metadata_directory: object = None) -> str:
    """Write the wheel: the package with its data files (JSON Schema, py.typed)."""
    members = [(path.relative_to(ROOT).as_posix(), path.read_bytes()) for path in _package_files()]
    return _write_wheel(wheel_directory, members)


def build_editable(wheel_directory: str, config_settings: object = None, metadata_directory: object = None) -> str:
    """Write an editable wheel: a .pth file that puts the checkout on sys.path."""
    return _write_wheel(wheel_directory, [("imageforensics-editable.pth", f"{ROOT}\n".encode("utf-8"))])


def build_sdist(sdist_directory: str, config_settings: object = None) -> str:
    """Write the source distribution: what a build from source needs, and the tests."""
    cfg = _config()
    _, _, stem = _names(cfg)
    filename = f"{stem}.tar.gz"
    names = ["README.md", "setup.cfg", "pyproject.toml", "tools/__init__.py", "tools/pep517_backend.py"]
    names += [p.relative_to(ROOT).as_posix() for p in _package_files()]
    pkg_info = _metadata(cfg).encode("utf-8")
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [(n, (ROOT / n).read_bytes()) for n in names] + [("PKG-INFO", pkg_info)]:
            info = tarfile.TarInfo(f"{stem}/{name}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 315619200
            tar.addfile(info, io.BytesIO(data))
    return filename
