"""The integrity audit of archives the real tools wrote: every warning must be true of the image.

These archives are healthy by construction, but real: some of them do carry
something odd on purpose (a file name with a tab, a umoci history step dated
before the one below it). Each WARNING or ERROR finding must be backed by the
tool's own report of the image; anything else is a false alarm.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.interop.interop_truth import ConfigTruth, config_truth, load_manifest, read_report, rfc3339_ns, skip_reason

from imageforensics.audit import image_findings
from imageforensics.findings import Finding, Severity
from imageforensics.model import Image

BUILDKIT_COMMENT = "buildkit.dockerfile.v0"


def _params() -> list[Any]:
    manifest = load_manifest()
    if manifest is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=skip_reason()), id="no-real-archives")]
    out = []
    for entry in manifest["archives"]:
        for image in entry["images"]:
            if "skopeo_config_raw" not in image["reports"]:
                continue
            out.append(pytest.param((entry, image, manifest.get("rootfs", {}).get(image["lineage"])),
                                    id=f"{entry['path']}[{image['name']}]"))
    return out


def _justified(f: Finding, image: Image, truth: ConfigTruth, rootfs: dict[str, Any] | None) -> str | None:
    """Why the tools' reports show the finding is true, or None when they do not."""
    history = truth.history
    if f.code == "time-backwards" and f.step_a is not None:
        times = [rfc3339_ns(h["created"]) for h in history[: f.step_a + 1] if h.get("created")]
        mine = history[f.step_a].get("created")
        if mine and max(times[:-1], default=rfc3339_ns(mine)) > rfc3339_ns(mine):
            return "the config's history really goes back in time here"
    if f.code == "fs-step-marked-empty" and f.step_a is not None:
        step = history[f.step_a]
        if step.get("empty_layer") and step.get("comment") == BUILDKIT_COMMENT:
            return "a BuildKit Dockerfile step marked empty_layer"
    if f.code == "layer-anomaly" and f.evidence_value("anomaly") == "control-char-name":
        name = f.evidence_value("first") or ""
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
            if rootfs is None:
                return "the name has a control character"
            listed = {row["path"] for row in read_report("rootfs", rootfs["path"])["entries"]}
            if name in listed:
                return "umoci unpacked a file with this control character in its name"
    if f.code == "layer-anomaly" and f.evidence_value("anomaly") == "device-node":
        # Evidence: "path (char|block major:minor)"; umoci must have made that very node.
        m = re.fullmatch(r"(.+) \((char|block) (\d+):(\d+)\)", f.evidence_value("first") or "")
        if m and rootfs is not None:
            rows = {row["path"]: row for row in read_report("rootfs", rootfs["path"])["entries"]}
            row = rows.get(m.group(1))
            if row and (row["type"], row.get("devmajor"), row.get("devminor")) == (m.group(2), int(m.group(3)), int(m.group(4))):
                return "umoci unpacked this device node"
    return None


@pytest.mark.parametrize("case", _params())
def test_every_warning_is_true_of_the_image(case: Any, read: Any) -> None:
    """No ERROR finding on a real tool's archive; each WARNING is backed by the tool's report."""
    entry, image, rootfs = case
    truth = config_truth(image["reports"]["skopeo_config_raw"])
    arc = read(entry["path"])
    model = next(i for i in arc.images if str(i.image_id) == truth.image_id)
    errors = [f for f in (*arc.findings, *image_findings(model)) if f.severity >= Severity.ERROR]
    assert errors == [], "; ".join(f"{f.code}: {f.summary}" for f in errors)
    unjustified = [f for f in (*arc.findings, *image_findings(model))
                   if f.severity == Severity.WARNING and _justified(f, model, truth, rootfs) is None]
    assert unjustified == [], "; ".join(f"{f.code}: {f.summary}" for f in unjustified)
