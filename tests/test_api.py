"""The public API: everything a library user needs, through ``import imageforensics`` alone.

Nothing here imports a stage's private module: if a program needs a name the
package does not export, these tests cannot be written either. The README's
example is run as it stands there.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

import imageforensics

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
PULLED = str(SAMPLES / "tomcat-pulled.tar")
CACHE_FROM = str(SAMPLES / "tomcat-cache-from.tar")
# Names that are values rather than functions or classes: documented in the package's docstring.
DATA = {"RENDERERS", "__version__"}


def _own_docstring(obj: object) -> str:
    """The docstring written for ``obj`` itself (not one inherited, nor the one dataclass makes up)."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    if isinstance(obj, type) and doc and doc.startswith(f"{obj.__name__}("):
        return ""  # dataclass's generated signature, not a description
    return (doc or "").strip()


def test_every_public_name_exists_and_has_a_docstring() -> None:
    names = imageforensics.__all__
    assert len(set(names)) == len(names)
    package_doc = imageforensics.__doc__ or ""
    for name in names:
        obj = getattr(imageforensics, name)
        if name in DATA:
            assert f"``{name}``" in package_doc, f"{name} is not described in the package docstring"
        else:
            assert callable(obj), name
            assert _own_docstring(obj), f"{name} has no docstring"


def test_a_path_findings_details_are_public_typed_changes() -> None:
    report = imageforensics.diff_inputs(str(SAMPLES / "mode-a.tar"), str(SAMPLES / "mode-b.tar"))
    [changed] = [f for f in report.findings if f.code == "paths-changed"]
    assert changed.evidence_value("change_001")[0] == imageforensics.PathChange(
        "/usr/local/bin/tool", "mode", 0o755, 0o700)


def test_dir_shows_the_public_names() -> None:
    assert dir(imageforensics) == sorted(imageforensics.__all__)
    assert "read" not in dir(imageforensics) and "diff_inputs" in dir(imageforensics)


def test_the_value_types_are_those_the_library_returns() -> None:
    archive = imageforensics.read_input(PULLED)
    assert isinstance(archive, imageforensics.Archive)
    image = archive.images[0]
    assert isinstance(image, imageforensics.Image)
    assert isinstance(image.image_id, imageforensics.Digest)
    assert isinstance(image.platform, imageforensics.Platform)
    assert isinstance(image.run_config, imageforensics.RunConfig)
    assert all(isinstance(step, imageforensics.HistoryStep) for step in image.history)
    layer = image.layers[0]
    assert isinstance(layer, imageforensics.Layer)
    assert layer.entries and all(isinstance(e, imageforensics.FileEntry) for e in layer.entries)
    report = imageforensics.diff_inputs(PULLED, CACHE_FROM)
    assert isinstance(report, imageforensics.Report)
    assert isinstance(report.a, imageforensics.InputSide)
    assert all(isinstance(row, imageforensics.StepRow) for row in report.steps)
    assert report.findings and all(isinstance(f, imageforensics.Finding) for f in report.findings)
    assert {f.severity for f in report.findings} <= set(imageforensics.Severity)


def test_read_select_diff_render_and_load_back() -> None:
    pulled = imageforensics.read_input(PULLED)
    image = imageforensics.select_image(pulled, reference="local/tomcat:pulled", platform="linux/amd64")
    assert imageforensics.select_image(pulled, index=0) is image
    chosen = imageforensics.choose(CACHE_FROM + ":local/tomcat:bad")
    assert isinstance(chosen, imageforensics.Chosen)
    report = imageforensics.diff_images(pulled, image, chosen.archive, chosen.image, imageforensics.DiffOptions())
    assert (report.verdict_kind, report.exit_status) == ("missing-content", 1)
    assert [f.code for f in report.by_severity(imageforensics.Severity.ERROR)] == [
        "step-wrongly-empty", "paths-missing", "inline-cache-poisoned", "inline-cache-poison-carried"]
    # Reading and diffing in one call (the CLI's deferred content digests) gives the same report.
    assert imageforensics.diff_inputs(PULLED, CACHE_FROM) == report
    a, b = imageforensics.choose_pair(PULLED, CACHE_FROM + "@0")
    assert imageforensics.diff_images(a.archive, a.image, b.archive, b.image) == report
    for name, renderer in imageforensics.RENDERERS.items():
        out = imageforensics.render(report, name)
        assert out == renderer.render(report) and out.endswith("\n")
        assert "step-wrongly-empty" in out, name
    assert imageforensics.load_report(imageforensics.render(report, "json")) == report


def test_ignoring_timestamps_through_the_options() -> None:
    a = imageforensics.choose(str(SAMPLES / "timestamps-a.tar"))
    b = imageforensics.choose(str(SAMPLES / "timestamps-b.tar"))
    plain = imageforensics.diff_images(a.archive, a.image, b.archive, b.image)
    ignored = imageforensics.diff_images(a.archive, a.image, b.archive, b.image,
                                         imageforensics.DiffOptions(ignore_timestamps=True))
    assert plain.exit_status == 1 and "timestamp-drift" in {f.code for f in plain.findings}
    assert "timestamp-drift" not in {f.code for f in ignored.findings}


def test_a_snapshot_diffs_like_the_archive() -> None:
    pulled = imageforensics.read_input(PULLED)
    snapshot = imageforensics.load_snapshot(imageforensics.write_snapshot(pulled), source="pulled.json")
    assert snapshot.source == "pulled.json" and snapshot.images[0].image_id == pulled.images[0].image_id
    same = imageforensics.diff_images(pulled, pulled.images[0], snapshot, snapshot.images[0])
    assert (same.verdict_kind, same.exit_status) == ("identical", 0)
    redacted = imageforensics.load_snapshot(imageforensics.write_snapshot(pulled, redact=frozenset({"env"})),
                                            source="pulled.json")
    assert redacted.images[0].run_config.env != pulled.images[0].run_config.env
    assert any(note.startswith("redacted: env") for note in redacted.notes)
    cache_from = imageforensics.choose(CACHE_FROM)
    assert imageforensics.diff_images(redacted, redacted.images[0], cache_from.archive,
                                      cache_from.image).verdict_kind == "missing-content"


def test_every_expected_error_is_an_image_forensics_error(tmp_path: Path) -> None:
    pulled = imageforensics.read_input(PULLED)
    with pytest.raises(imageforensics.SelectionError, match="no image for platform linux/s390x"):
        imageforensics.select_image(pulled, platform="linux/s390x")
    with pytest.raises(imageforensics.SelectionError, match="no image has this reference"):
        imageforensics.choose(PULLED + ":local/tomcat:other")
    missing = str(tmp_path / "missing.tar")
    with pytest.raises(imageforensics.InputError, match="cannot open"):
        imageforensics.read_input(missing)
    with pytest.raises(imageforensics.LimitError, match="--max-layers"):
        imageforensics.read_input(PULLED, imageforensics.ReadOptions(limits=imageforensics.Limits(max_layers=1)))
    with pytest.raises(imageforensics.SnapshotError):
        imageforensics.load_snapshot(b"{}", source="empty.json")
    with pytest.raises(imageforensics.InputError, match="not a JSON document"):
        imageforensics.load_report("<html>")
    for error in (imageforensics.InputError, imageforensics.SelectionError, imageforensics.LimitError,
                  imageforensics.SnapshotError, imageforensics.ToolMissingError):
        assert issubclass(error, imageforensics.ImageForensicsError)
    try:
        imageforensics.diff_inputs(PULLED, missing)
    except imageforensics.ImageForensicsError as e:
        assert str(e).startswith(missing + ": ")
    else:
        pytest.fail("diffing against a missing input raised nothing")


def _readme_example() -> str:
    """The first code block of the README's "Library use" section, dedented."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Library use\n", 1)[1].split("\n## ", 1)[0]
    lines: list[str] = []
    for line in section.splitlines():
        if line.startswith("    ") or (lines and not line.strip()):
            lines.append(line[4:])
        elif lines:
            break
    return "\n".join(lines).strip() + "\n"


def test_the_readme_example_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    example = _readme_example()
    assert "imageforensics.diff_inputs(" in example and "sys.exit(report.exit_status)" in example
    # As a user runs it: a fresh interpreter in the checkout.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", example], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert (done.returncode, done.stderr) == (1, "")
    monkeypatch.chdir(ROOT)
    report = imageforensics.diff_inputs("samples/tomcat-pulled.tar", "samples/tomcat-cache-from.tar")
    errors = "".join(f"{f.code} {f.step_a} {f.summary}\n" for f in report.by_severity(imageforensics.Severity.ERROR))
    assert done.stdout == imageforensics.render(report, "text", max_paths=3) + "\n" + errors
    assert "step-wrongly-empty 6 step 6 `COPY rootfs /`" in done.stdout


def test_the_public_functions_take_what_the_readme_says() -> None:
    # The README's prose names these keyword options: they must exist.
    assert {"reference", "index", "platform"} <= set(inspect.signature(imageforensics.select_image).parameters)
    assert "source" in inspect.signature(imageforensics.load_snapshot).parameters
    assert imageforensics.RENDERERS["text"].options == {"max_paths", "color", "width", "full_digests", "all_mtimes"}
    named = {"max_paths", "color", "width", "full_digests", "full_paths", "all_mtimes"}
    assert set().union(*(r.options for r in imageforensics.RENDERERS.values())) == named
