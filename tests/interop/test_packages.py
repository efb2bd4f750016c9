"""Package lists read from images whose databases the real dpkg and rpm wrote, against those tools' own listings.

real-archives.sh's packages stage installs, upgrades and removes .deb files
with Debian's dpkg (into a private --admindir) and rpmbuild's packages with
rpm (--justdb, a private SQLite --dbpath), copies each state into one more
layer (docker's classic builder, BuildKit, buildah), and records what
`dpkg-query -W --admindir` (installed ones) and `rpm -qa --dbpath` list after
each layer. The package state imageforensics reads after each layer must be
exactly that.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from tests.interop.interop_truth import load_manifest, read_report, real_dir, skip_reason

from imageforensics.diff import diff_images
from imageforensics.packages import package_states
from imageforensics.read import read_input


def _params() -> list[Any]:
    manifest = load_manifest()
    if manifest is None or not manifest.get("packages"):
        reason = skip_reason() if manifest is None else "MANIFEST.json has no packages stage (run real-archives.sh again)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-package-images")]
    return [pytest.param(record, id=name) for name, record in sorted(manifest["packages"].items())]


@pytest.mark.parametrize("record", _params())
def test_packages_after_each_layer_are_what_dpkg_and_rpm_list(record: dict[str, Any]) -> None:
    truth = read_report("packages", record["truth"])
    (image,) = read_input(str(real_dir() / record["path"])).images
    states = package_states(image)
    assert states.known
    assert len(states.after) == len(truth["after_layer"])
    for layer, (after, expected) in enumerate(zip(states.after, truth["after_layer"])):
        for manager in ("dpkg", "rpm"):
            if manager == "rpm" and expected["rpm"] and sys.version_info < (3, 11):
                # The one-line problem says why: sqlite3 cannot open a database image in memory before 3.11.
                assert any("deserialize" in d.problem for _, d in states.problems)
                continue
            ours = sorted([p.name, p.version, p.arch] for p in after.values() if p.manager == manager)
            assert ours == sorted(expected[manager]), f"layer {layer} ({expected['context']}): {manager}"
    assert not [d.problem for _, d in states.problems if sys.version_info >= (3, 11)]


def test_the_diff_names_the_steps_that_changed_the_packages() -> None:
    manifest = load_manifest()
    if manifest is None or not {"pkg-a", "pkg-b"} <= set(manifest.get("packages", {})):
        pytest.skip("no package images")
    a, b = (read_input(str(real_dir() / manifest["packages"][n]["path"])) for n in ("pkg-a", "pkg-b"))
    report = diff_images(a, a.images[0], b, b.images[0])
    found = {(f.step_a, f.step_b): f.evidence_value("change_001") for f in report.findings if f.code == "packages-differ"}
    # hello-if upgraded (and libfoo-if removed) by B's step 1, which A lacks; A's base step installed both.
    assert found[(0, 1)] == "hello-if:all (dpkg): 1.0-1 in A, 2.0-1 in B"
    truth = json.loads((real_dir() / manifest["packages"]["pkg-b"]["truth"]).read_text())
    if not any(layer["rpm"] for layer in truth["after_layer"]):
        # The stage records why it made no rpm layers (rpm not installable); the dpkg half stands.
        assert "rpm-if" not in repr(found)
        return
    # The rpmdb is SQLite: read only where sqlite3 can deserialize (3.11+).
    if sys.version_info >= (3, 11):
        assert found[(1, 2)] == "rpm-if:noarch (rpm): 1.2-3 in A, 1.3-1 in B"
        assert found[(None, 2)] == "other-if:noarch (rpm): not installed in A, 0.1-1 in B"
