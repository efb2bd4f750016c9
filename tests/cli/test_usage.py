"""What users type and trip on: --fail-on, help and -V, a mistyped command, --color, --max-paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imageforensics import __version__
from imageforensics.cli import _main as cli
from tests.archivekit import legacy, simple_image, tar_of

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PULLED = str(SAMPLES / "tomcat-pulled.tar")  # its audit finds an ERROR: a poisoned inline cache
CACHE_FROM = str(SAMPLES / "tomcat-cache-from.tar")
TIMES_A, TIMES_B = str(SAMPLES / "timestamps-a.tar"), str(SAMPLES / "timestamps-b.tar")

needs_samples = pytest.mark.skipif(not Path(PULLED).is_file(), reason="samples not generated")


def status(capsys, *argv: str) -> int:
    code = cli.main([*argv, "-q"])
    capsys.readouterr()
    return code


@pytest.fixture
def healthy(tmp_path) -> str:
    path = tmp_path / "healthy.tar"
    path.write_bytes(tar_of(legacy([simple_image()])))
    return str(path)


@needs_samples
def test_inspect_fails_on_the_level_asked(capsys, healthy):
    assert status(capsys, "inspect", PULLED) == 0  # as before: the audit alone never fails inspect
    assert status(capsys, "inspect", PULLED, "--fail-on", "error") == 1
    assert status(capsys, "inspect", PULLED, "--fail-on", "warning") == 1
    assert status(capsys, "inspect", healthy, "--fail-on", "error") == 0
    assert status(capsys, "inspect", healthy, "--fail-on", "warning") == 0


@needs_samples
def test_diff_fails_on_the_level_asked_and_keeps_diff1s_default(capsys):
    # Only timestamps differ: the default (diff(1)) says they differ; no finding is an error.
    assert status(capsys, TIMES_A, TIMES_B) == 1
    assert status(capsys, TIMES_A, TIMES_B, "--fail-on", "error") == 0
    assert status(capsys, TIMES_A, TIMES_B, "--fail-on", "warning") == 1
    assert status(capsys, TIMES_A, TIMES_B, "--fail-on", "any") == 1
    assert status(capsys, PULLED, CACHE_FROM, "--fail-on", "error") == 1  # a step lost its content
    assert status(capsys, TIMES_A, TIMES_A, "--fail-on", "any") == 0
    # Identical images: diff(1)'s default is 0, but the side audit's ERROR (the poisoned inline cache),
    # shown in the report, fails the level asked.
    assert status(capsys, PULLED, PULLED) == 0
    assert status(capsys, PULLED, PULLED, "--fail-on", "error") == 1
    assert status(capsys, TIMES_A, TIMES_B, "--ignore-timestamps", "--fail-on", "any") == 0


def test_fail_on_takes_only_its_levels(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["inspect", "x.tar", "--fail-on", "fatal"])
    assert info.value.code == 2


def test_help_and_version_do_what_they_say(capsys):
    assert cli.main(["help"]) == 0
    assert "{diff,inspect,snapshot,ls,stat,cat,help}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        cli.main(["help", "inspect"])
    assert info.value.code == 0
    assert "--fail-on" in capsys.readouterr().out
    assert cli.main(["help", "inspct"]) == 2
    assert "did you mean inspect?" in capsys.readouterr().err
    for flag in ("-V", "--version"):
        with pytest.raises(SystemExit) as info:
            cli.main([flag])
        assert info.value.code == 0
        assert capsys.readouterr().out.startswith(f"imageforensics {__version__}")


@pytest.mark.parametrize("word, meant", [("inspct", "inspect"), ("snapshto", "snapshot"), ("dif", "diff"), ("hlep", "help")])
def test_a_mistyped_command_gets_did_you_mean(word, meant, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main([word, "image.tar"]) == 2
    assert capsys.readouterr().err.strip() == (f"imageforensics: {word} is no command and no file; "
                                               f"did you mean {meant}? (see imageforensics help)")


def test_a_file_named_like_a_command_is_still_an_input(capsys, tmp_path, monkeypatch, healthy):
    monkeypatch.chdir(tmp_path)
    Path("inspct").write_bytes(Path(healthy).read_bytes())
    assert cli.main(["inspct", healthy, "-q"]) == 0  # diff inspct healthy.tar: the same image


@needs_samples
def test_a_bare_color_means_always(capsys):
    cli.main([PULLED, CACHE_FROM, "--color", "-q"])
    assert "\x1b[" in capsys.readouterr().out
    cli.main([PULLED, CACHE_FROM, "--color", "never", "-q"])
    assert "\x1b[" not in capsys.readouterr().out
    cli.main([PULLED, CACHE_FROM, "-q", "--color"])  # last on the line
    assert "\x1b[" in capsys.readouterr().out


@needs_samples
def test_max_paths_takes_0_for_none_and_refuses_negatives(capsys):
    cli.main([PULLED, CACHE_FROM, "--max-paths", "0", "-q"])
    out = capsys.readouterr().out
    assert out.count("paths (12):\n           … 12 more (--max-paths to show)") == 2
    cli.main([PULLED, CACHE_FROM, "--max-paths", "3", "-q"])
    assert "/etc/confd/conf.d/tomcat-users.xml.toml\n" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        cli.main([PULLED, CACHE_FROM, "--max-paths", "-1"])
    assert info.value.code == 2
    assert "expected 0 (none) or more, not -1" in capsys.readouterr().err


@needs_samples
@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "html"])
def test_max_paths_caps_the_lists_of_every_format(capsys, fmt):
    # The seed pair's 12 lost paths, listed under the findings and in the changes of step 6; a summary
    # names only the first, as its example.
    cli.main([PULLED, CACHE_FROM, "--format", "json", "-q"])
    (missing,) = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["code"] == "paths-missing"]
    example, *lost = missing["paths"]
    assert len(lost) == 11
    cli.main([PULLED, CACHE_FROM, "--format", fmt, "--max-paths", "0", "-q"])
    none = capsys.readouterr().out
    assert [p for p in lost if p in none] == []
    assert example in none
    cli.main([PULLED, CACHE_FROM, "--format", fmt, "--max-paths", "1", "-q"])
    one = capsys.readouterr().out
    assert [p for p in lost if p in one] == []
    cli.main([PULLED, CACHE_FROM, "--format", fmt, "--max-paths", "100", "-q"])
    many = capsys.readouterr().out
    assert all(p in many for p in lost)
    if fmt == "json":
        cli.main([PULLED, CACHE_FROM, "--format", fmt, "-q"])
        whole = capsys.readouterr().out
        assert all(p in whole for p in lost) and '"max_paths"' not in whole
