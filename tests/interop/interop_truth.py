"""What the real tools say about an archive, read from the reports real-archives.sh saved.

This is the test oracle, so it shares no code with imageforensics: it parses
RFC 3339 itself, canonicalises the run config itself (from the Docker image
spec's rules), and reads only files written by docker, podman, skopeo and
umoci (plus the index the script wrote, MANIFEST.json).
"""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DIR = "/tmp/imageforensics-real"
ENV = "IMAGEFORENSICS_REAL_ARCHIVES"

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)


def real_dir() -> Path:
    """The folder real-archives.sh wrote (env IMAGEFORENSICS_REAL_ARCHIVES, else the default)."""
    return Path(os.environ.get(ENV) or DEFAULT_DIR)


def load_manifest() -> dict[str, Any] | None:
    """MANIFEST.json of the real archives, or None when they have not been made."""
    path = real_dir() / "MANIFEST.json"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def skip_reason() -> str:
    """Why the interop tests cannot run here."""
    d = real_dir()
    return (f"no archives made by the real tools: {d}/MANIFEST.json is absent "
            f"(make them with `tools/real-archives.sh {d}` as root on Debian, "
            f"or point {ENV} at such a folder)")


def rfc3339_ns(text: str) -> int:
    """Exact epoch nanoseconds of an RFC 3339 string (as Go writes them)."""
    m = _RFC3339.fullmatch(text)
    assert m is not None, f"not RFC 3339: {text!r}"
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    seconds = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    zone = m.group(8)
    if zone != "Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[0] == "+" else -offset
    return seconds * 1_000_000_000 + int((m.group(7) or "0").ljust(9, "0"))


def read_report(name: str, rel: str) -> Any:
    """A JSON report by its path relative to the archives folder."""
    with open(real_dir() / rel, encoding="utf-8") as f:
        return json.load(f)


def read_bytes(rel: str) -> bytes:
    """A report's exact bytes."""
    return (real_dir() / rel).read_bytes()


def member_is_symlink(archive_rel: str, member: str) -> bool:
    """Whether a member of a tar archive (or a file of a directory) is a symlink, read with stdlib tarfile."""
    import io
    import subprocess
    import tarfile

    path = real_dir() / archive_rel
    if path.is_dir():
        return (path / member).is_symlink()
    if path.name.endswith(".zst"):
        data = subprocess.run(["zstd", "-dc", str(path)], check=True, capture_output=True).stdout
        tf = tarfile.open(fileobj=io.BytesIO(data))
    else:
        tf = tarfile.open(path)
    with tf:
        return tf.getmember(member).issym()


def blob_compression(archive_rel: str, digest: str) -> str:
    """none/gzip/zstd of a blob of an OCI layout (or a containers/image dir:), from its magic number."""
    import tarfile

    algorithm, hexdigest = digest.split(":", 1)
    member = f"blobs/{algorithm}/{hexdigest}"
    path = real_dir() / archive_rel
    if path.is_dir():
        # The dir: transport names blobs by their hex alone, beside manifest.json.
        blob = path / member if (path / member).exists() else path / hexdigest
        head = blob.read_bytes()[:4]
    else:
        with tarfile.open(path) as tf:
            f = tf.extractfile(member)
            assert f is not None, member
            head = f.read(4)
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "none"


def sha256(data: bytes) -> str:
    """``sha256:<hex>`` of bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ConfigTruth:
    """An image config exactly as skopeo read it from the archive (`skopeo inspect --raw --config`)."""

    raw: bytes
    doc: dict[str, Any]

    @property
    def image_id(self) -> str:
        """The image ID: sha256 of the config bytes as stored."""
        return sha256(self.raw)

    @property
    def diff_ids(self) -> list[str]:
        return list((self.doc.get("rootfs") or {}).get("diff_ids") or [])

    @property
    def history(self) -> list[dict[str, Any]]:
        return list(self.doc.get("history") or [])

    @property
    def run_config(self) -> dict[str, Any]:
        return canonical_run_config(self.doc.get("config") or {})


def config_truth(rel: str) -> ConfigTruth:
    """Load a saved `skopeo inspect --raw --config` report."""
    raw = read_bytes(rel)
    return ConfigTruth(raw, json.loads(raw))


def _port(p: str) -> str:
    # Docker: "8080" means 8080/tcp (nat.NewPort defaults the protocol).
    number, _, proto = p.partition("/")
    return f"{number}/{(proto or 'tcp').lower()}"


def canonical_run_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The run config as Docker applies it: env as a mapping (last KEY wins), ports/volumes as sets,
    absent and null and empty lists alike, the healthcheck as canonical JSON."""
    env: dict[str, str] = {}
    for item in cfg.get("Env") or []:
        key, _, value = item.partition("=")
        env[key] = value
    health = cfg.get("Healthcheck")
    return {
        "env": tuple(sorted(env.items())),
        "cmd": tuple(cfg.get("Cmd") or ()),
        "entrypoint": tuple(cfg.get("Entrypoint") or ()),
        "working_dir": cfg.get("WorkingDir") or "",
        "user": cfg.get("User") or "",
        "exposed_ports": tuple(sorted({_port(p) for p in (cfg.get("ExposedPorts") or {})})),
        "volumes": tuple(sorted(cfg.get("Volumes") or {})),
        "labels": tuple(sorted((cfg.get("Labels") or {}).items())),
        "stop_signal": cfg.get("StopSignal") or "",
        "healthcheck": json.dumps(health, sort_keys=True, separators=(",", ":")) if health else "",
        "shell": tuple(cfg.get("Shell") or ()),
        "on_build": tuple(cfg.get("OnBuild") or ()),
    }


def model_run_config(rc: Any) -> dict[str, Any]:
    """The model's RunConfig in the same canonical shape (so the two can be compared)."""
    env: dict[str, str] = {}
    for item in rc.env or ():
        key, _, value = item.partition("=")
        env[key] = value
    health = rc.healthcheck
    return {
        "env": tuple(sorted(env.items())),
        "cmd": tuple(rc.cmd or ()),
        "entrypoint": tuple(rc.entrypoint or ()),
        "working_dir": rc.working_dir,
        "user": rc.user,
        "exposed_ports": tuple(sorted({_port(p) for p in rc.exposed_ports})),
        "volumes": tuple(sorted(rc.volumes)),
        "labels": tuple(sorted(rc.labels)),
        "stop_signal": rc.stop_signal,
        "healthcheck": json.dumps(json.loads(health), sort_keys=True, separators=(",", ":")) if health else "",
        "shell": tuple(rc.shell or ()),
        "on_build": tuple(rc.on_build or ()),
    }


def differing_run_config_fields(a: ConfigTruth, b: ConfigTruth) -> set[str]:
    """Names of run-config fields whose canonical values differ between two configs."""
    ra, rb = a.run_config, b.run_config
    return {name for name in ra if ra[name] != rb[name]}


def layer_compression(media_type: str) -> str:
    """none/gzip/zstd from a layer descriptor's media type (OCI and Docker spellings)."""
    if media_type.endswith("+zstd") or media_type.endswith(".zstd"):
        return "zstd"
    if media_type.endswith("+gzip") or media_type.endswith(".gzip"):
        return "gzip"
    return "none"


def docker_history_seconds(created_at: str) -> int:
    """`docker history` CreatedAt (RFC 3339, whole seconds, any zone) as epoch seconds."""
    return rfc3339_ns(created_at) // 1_000_000_000
