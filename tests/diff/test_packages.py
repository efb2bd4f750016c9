"""Packages per step: read from the layers in the reading pass, listed by ``inspect``, compared by ``diff``."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from imageforensics.cli import _main as cli
from imageforensics.diff import diff_images
from imageforensics.diff._packages import package_findings
from imageforensics.options import DiffOptions
from imageforensics.packages import package_states, step_changes
from imageforensics.read import read_input
from imageforensics.snapshot import load_snapshot, write_snapshot
from tests.archivekit import Img, legacy, tar_of
from tests.cli.test_inside import _layer

HISTORY = [{"created": "2021-01-01T00:00:00Z", "created_by": "ADD base /"},
           {"created": "2021-01-01T00:00:01Z", "created_by": "RUN apk-install.sh nginx"},
           {"created": "2021-01-01T00:00:02Z", "created_by": "RUN pip install requests"}]


def _status(*packages: tuple[str, str]) -> bytes:
    return "".join(f"Package: {n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {v}\n\n"
                   for n, v in packages).encode()


def _apk(*packages: tuple[str, str]) -> bytes:
    return "".join(f"C:Q1abc=\nP:{n}\nV:{v}\nA:x86_64\nF:usr/bin\n\n" for n, v in packages).encode()


def image(nginx: str, requests: str) -> Img:
    base = _layer(("file", "var/lib/dpkg/status", _status(("base-files", "12.4"), ("libc6", "2.36-9"))))
    apk = _layer(("file", "lib/apk/db/installed", _apk(("musl", "1.2.2-r0"), ("nginx", nginx))),
                 ("file", "usr/sbin/nginx", nginx.encode()))
    pip = _layer(("file", f"usr/lib/python3/site-packages/requests-{requests}.dist-info/METADATA",
                  f"Metadata-Version: 2.1\nName: requests\nVersion: {requests}\n\n".encode()),
                 ("file", "usr/lib/node_modules/left-pad/package.json", b'{"name":"left-pad","version":"1.3.0"}'),
                 ("whiteout", "var/lib/dpkg", None))
    return Img(layers=[base, apk, pip], history=HISTORY, tags=["local/p:1"])


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("packages")
    a, b = folder / "a.tar", folder / "b.tar"
    a.write_bytes(tar_of(legacy([image("1.18.0-r1", "2.25.0")])))
    b.write_bytes(tar_of(legacy([image("1.20.1-r3", "2.25.0")])))
    return a, b


def test_each_step_installed_upgraded_or_removed(pair: tuple[Path, Path]) -> None:
    img = read_input(str(pair[0])).images[0]
    changes = {layer: [c.describe() for c in cs] for layer, cs in step_changes(img).items()}
    assert changes == {
        0: ["installed base-files 12.4", "installed libc6 2.36-9"],
        1: ["installed musl 1.2.2-r0", "installed nginx 1.18.0-r1"],
        # The whiteout of var/lib/dpkg removes its status file, and with it dpkg's packages.
        2: ["removed base-files 12.4", "removed libc6 2.36-9", "installed left-pad 1.3.0", "installed requests 2.25.0"],
    }


def test_a_later_database_file_replaces_the_earlier_one() -> None:
    upgraded = Img(layers=[_layer(("file", "lib/apk/db/installed", _apk(("nginx", "1.18.0-r1"), ("zlib", "1.2")))),
                           _layer(("file", "lib/apk/db/installed", _apk(("nginx", "1.20.1-r3"))))],
                   history=HISTORY[:2], tags=["local/u:1"])
    from imageforensics.read import read_stream
    import io
    img = read_stream(io.BytesIO(tar_of(legacy([upgraded]))), "u.tar").images[0]  # type: ignore[arg-type]
    assert [c.describe() for c in step_changes(img)[1]] == ["upgraded nginx 1.18.0-r1 -> 1.20.1-r3", "removed zlib 1.2"]


def test_diff_names_the_step_that_brought_each_version(pair: tuple[Path, Path]) -> None:
    a, b = (read_input(str(p)) for p in pair)
    (finding,) = package_findings(a.images[0], b.images[0])
    assert finding.summary == "step 1 `RUN apk-install.sh nginx` installed nginx 1.18.0-r1 in A, 1.20.1-r3 in B"
    assert (finding.step_a, finding.step_b, finding.evidence_value("count")) == (1, 1, 1)
    assert finding.evidence_value("change_001") == "nginx:x86_64 (apk): 1.18.0-r1 in A, 1.20.1-r3 in B"
    # Either order gives the same diagnosis, mirrored.
    (back,) = package_findings(b.images[0], a.images[0])
    assert back.summary == "step 1 `RUN apk-install.sh nginx` installed nginx 1.20.1-r3 in A, 1.18.0-r1 in B"
    report = diff_images(a, a.images[0], b, b.images[0])
    codes = [f.code for f in report.findings if f.step_a == 1]
    # The package change reads before the raw entries of its step.
    assert codes.index("packages-differ") < codes.index("layer-content-differs")
    assert package_findings(a.images[0], a.images[0]) == []


@pytest.mark.parametrize("options", [DiffOptions(ignore_packages=("ngin*",)), DiffOptions(package_types=("dpkg", "pip"))])
def test_packages_left_out_are_not_compared(pair: tuple[Path, Path], options: DiffOptions) -> None:
    a, b = (read_input(str(p)) for p in pair)
    assert package_findings(a.images[0], b.images[0], options) == []
    assert package_findings(a.images[0], b.images[0], DiffOptions(package_types=("apk",))) != []


def test_the_command_line_options(pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = pair
    cli.main(["diff", str(a), str(b), "--format", "json"])
    assert [f["summary"] for f in json.loads(capsys.readouterr().out)["findings"] if f["code"] == "packages-differ"] == [
        "step 1 `RUN apk-install.sh nginx` installed nginx 1.18.0-r1 in A, 1.20.1-r3 in B"]
    cli.main(["diff", str(a), str(b), "--format", "json", "--type", "apt,python", "--ignore-packages", "x",
              "--ignore-packages", "lib*"])
    filtered = json.loads(capsys.readouterr().out)
    assert not [f for f in filtered["findings"] if f["code"] == "packages-differ"]
    # The report says which packages it left out, as it does for every other filter.
    assert filtered["options"] == [["ignore_packages", "x lib*"], ["package_types", "dpkg pip"]]
    assert cli.main(["diff", str(a), str(b), "--type", "gem"]) == 2
    assert "--type 'gem': expected one of dpkg, apk, rpm, pip, npm" in capsys.readouterr().err


def test_inspect_lists_packages_by_step(pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["inspect", str(pair[0])])
    text = capsys.readouterr().out
    start = text.index("packages    ")
    assert text[start:].split("\n\n")[0].splitlines() == [
        "packages    4 installed (apk 2, npm 1, pip 1); by step:",
        "  step 0 (layer 0) ADD base /:",
        "    installed base-files 12.4 (dpkg, amd64)",
        "    installed libc6 2.36-9 (dpkg, amd64)",
        "  step 1 (layer 1) RUN apk-install.sh nginx:",
        "    installed musl 1.2.2-r0 (apk, x86_64)",
        "    installed nginx 1.18.0-r1 (apk, x86_64)",
        "  step 2 (layer 2) RUN pip install requests:",
        "    removed base-files 12.4 (dpkg, amd64)",
        "    removed libc6 2.36-9 (dpkg, amd64)",
        "    installed left-pad 1.3.0 (npm)",
        "    installed requests 2.25.0 (pip)",
    ]


def test_a_snapshot_carries_the_packages_and_diffs_like_its_archive(pair: tuple[Path, Path]) -> None:
    a, b = (read_input(str(p)) for p in pair)
    snap = load_snapshot(write_snapshot(a), source="a.json")
    assert snap.images[0].layers == a.images[0].layers
    assert package_findings(snap.images[0], b.images[0]) == package_findings(a.images[0], b.images[0])


def test_a_version_1_snapshot_knows_no_packages_and_reports_none(pair: tuple[Path, Path]) -> None:
    a, b = (read_input(str(p)) for p in pair)
    doc = json.loads(write_snapshot(a))
    doc["format_version"] = 1
    for layer in doc["archive"]["images"][0]["layers"]:
        del layer["package_databases"]
    old = load_snapshot(gzip.compress(json.dumps(doc).encode(), mtime=0), source="old.json.gz")
    assert all(layer is not None and layer.package_databases is None for layer in old.images[0].layers)
    assert not package_states(old.images[0]).known
    assert package_findings(old.images[0], b.images[0]) == []
