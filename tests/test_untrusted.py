"""One rule for showing untrusted text, the same in every text output.

A table of tricky names, each with the exact text it must be shown as, is
checked in the rule itself and then through every path a name takes to a
reader: an error message printed by the command line, the text diff report,
``inspect`` and the progress line. Properties: shown text holds no control or
format character, and it reads back to the very string it shows.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.archivekit import layer_tar, legacy, simple_image, tar_of
from imageforensics.cli import _main as cli
from imageforensics.errors import InputError
from imageforensics.read._progress import Progress
from imageforensics.untrusted import escape, show, show_prose

_UNSAFE = {"Cc", "Cf", "Cs", "Zl", "Zp"}

# (name as written in the archive, the text every text output shows for it)
TRICKY = [
    ("esc\x1b[31mred", "esc\\x1b[31mred"),  # a terminal escape sequence
    ("esc\\x1b[31mred", "esc\\\\x1b[31mred"),  # the same letters typed: the backslash is doubled
    ("zero\u200bwidth", "zero\\u200bwidth"),
    ("invoice\u202etxt.exe", "invoice\\u202etxt.exe"),  # right-to-left override
    ("line\u2028sep", "line\\u2028sep"),
    ("caf\udce9", "caf\\xe9"),  # the undecodable byte 0xE9, as surrogateescape holds it
    ("tab\tcr\rlf\nend", "tab\\tcr\\rlf\\nend"),
    ("bel\x07del\x7f", "bel\\x07del\\x7f"),
    ("csi\x9b31m", "csi\\u009b31m"),  # a C1 control is a code point, never the byte \x9b
    ("bom\ufeff", "bom\\ufeff"),
    ("tag\U000e0041", "tag\\U000e0041"),  # a Unicode tag character (Cf) beyond the BMP
    ("café", "café"),
    ("漢字", "漢字"),
    # Names that differ from another only by Unicode normalisation show the difference: the
    # decomposed café (e and a combining acute) and the OHM SIGN that NFC makes an omega.
    ("cafe\u0301", "cafe\\u0301"),
    ("caf\u00e9", "caf\u00e9"),
    ("\u2126m", "\\u2126m"),
    ("\u03a9m", "\u03a9m"),
    ("e\u0301\u0301", "e\\u0301\\u0301"),
]
_IDS = [repr(raw) for raw, _ in TRICKY]


def read_back(shown: str) -> str:
    """The string ``shown`` shows: every escape undone (\\xNN above 0x7F is an undecodable byte)."""

    def one(m: re.Match[str]) -> str:
        e = m.group(1)
        if e in "\\ntr":
            return {"\\": "\\", "n": "\n", "t": "\t", "r": "\r"}[e]
        code = int(e[1:], 16)
        return chr(0xDC00 + code) if e[0] == "x" and code >= 0x80 else chr(code)

    return re.sub(r"\\(\\|[ntr]|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})", one, shown)


def _is_inert(text: str) -> bool:
    return not any(unicodedata.category(ch) in _UNSAFE for ch in text)


# --- the rule --------------------------------------------------------------


@pytest.mark.parametrize(("raw", "shown"), TRICKY, ids=_IDS)
def test_each_tricky_name_is_shown_exactly(raw: str, shown: str) -> None:
    assert escape(raw) == shown
    assert show(raw) == shown
    assert read_back(shown) == raw


def test_names_no_tar_can_hold_are_shown_too() -> None:
    # A tar name ends at NUL, but a JSON string (a tag, a label) may hold one.
    assert escape("nul\x00") == "nul\\x00"
    # JSON may also spell "\ud800"; only U+DC80-U+DCFF come from undecodable bytes.
    assert escape("x\ud800y\udc7f") == "x\\ud800y\\udc7f"


def test_show_cuts_at_the_limit_before_escaping() -> None:
    assert show("\x1b" * 5, 3) == "\\x1b\\x1b\\x1b…"
    assert show("abc", 3) == "abc"


def test_show_prose_escapes_what_the_rule_escapes_but_keeps_backslashes() -> None:
    # A sentence of ours quotes names already shown: their escapes stay single.
    name = "a\\b"
    sentence = f"member {show(name)} is odd"
    assert sentence == "member a\\\\b is odd"
    assert show_prose(sentence) == sentence
    # What a stranger could slip into a sentence (a snapshot's summary) is still escaped.
    for raw, shown in TRICKY:
        if "\\" not in raw:
            assert show_prose(raw) == shown


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(exclude_categories=())))
def test_shown_text_is_inert_and_reads_back(value: str) -> None:
    shown = escape(value)
    assert _is_inert(shown)
    shown.encode("utf-8")  # no lone surrogate survives
    assert read_back(shown) == value


# Pieces that a careless rule would show alike: an escape and its spelling, a
# byte and a code point, a backslash before either.
_LOOKALIKES = st.lists(st.sampled_from(["\\", "x1b", "\x1b", "u009b", "\x9b", "\udc9b", "x9b", "n", "\n",
                                        "u200b", "\u200b", "\\\\", "a"]), max_size=6).map("".join)


@settings(max_examples=500, deadline=None)
@given(_LOOKALIKES, _LOOKALIKES)
def test_two_different_names_never_show_alike(a: str, b: str) -> None:
    assert (escape(a) == escape(b)) == (a == b)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(st.characters(exclude_categories=())).map(escape),
                          st.sampled_from([" ", "step 3 `", "`: ", "e.g. /", ", "])), max_size=8).map("".join),
       st.text(st.characters(exclude_categories=())))
def test_show_prose_keeps_our_sentences_and_makes_any_text_inert(sentence: str, anything: str) -> None:
    assert show_prose(sentence) == sentence
    assert _is_inert(show_prose(anything))


# --- every text output -----------------------------------------------------


def _archive_with(tmp_path: Path, raw: str, *, name: str = "a.tar") -> Path:
    """An archive whose image is tagged with ``raw`` and whose top layer holds a file named ``raw``."""
    img = simple_image(f"local/{raw}:1")
    img.layers[1] = layer_tar({"app/a.txt": b"hello a", f"app/{raw}": b"x"})
    path = tmp_path / name
    path.write_bytes(tar_of(legacy([img])))
    return path


@pytest.mark.parametrize(("raw", "shown"), TRICKY, ids=_IDS)
def test_an_error_message_shows_the_name(raw: str, shown: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    members = legacy([simple_image()])
    for i, (member, content) in enumerate(members):
        if member == "manifest.json" and isinstance(content, bytes):
            # manifest.json names a config member that the archive does not hold.
            manifest = json.loads(content)
            manifest[0]["Config"] = raw
            members[i] = (member, json.dumps(manifest).encode())
    path = tmp_path / "e.tar"
    path.write_bytes(tar_of(members))
    assert cli.main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and _is_inert(err.rstrip("\n"))
    assert err == f"imageforensics: {path}: {shown}: absent: manifest.json[0] names it as the image config\n"


@pytest.mark.parametrize(("raw", "shown"), TRICKY, ids=_IDS)
def test_an_input_error_shows_the_input_as_given(raw: str, shown: str) -> None:
    assert str(InputError(f"{raw}.tar", None, "empty input")) == f"{shown}.tar: empty input"


def test_the_command_line_lets_no_control_character_of_a_message_through(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # This message quotes the argument as given, unshown: the guard at the command line escapes it.
    assert cli.main(["snapshot", "--redact", "env,x\x1b[2J", str(tmp_path / "a.tar"), "-o", str(tmp_path / "s")]) == 2
    assert capsys.readouterr().err == "imageforensics: --redact takes env and/or labels, not x\\x1b[2J\n"


@pytest.mark.parametrize(("raw", "shown"), TRICKY, ids=_IDS)
def test_the_text_report_shows_the_name(raw: str, shown: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _archive_with(tmp_path, raw)
    b = tmp_path / "b.tar"
    b.write_bytes(tar_of(legacy([simple_image()])))
    assert cli.main(["diff", "--color", "never", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert _is_inert(out.replace("\n", ""))
    lines = [line.strip() for line in out.splitlines()]
    assert f"/app/{shown}" in lines  # the finding's list of paths
    assert f"e.g. /app/{shown}" in " ".join(lines)  # its summary (wrapped at spaces)
    assert any(line.startswith(f"local/{shown}:1  ") for line in lines)  # A's reference in the header


@pytest.mark.parametrize(("raw", "shown"), TRICKY, ids=_IDS)
def test_inspect_shows_the_name(raw: str, shown: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["inspect", str(_archive_with(tmp_path, raw))]) == 0
    out = capsys.readouterr().out
    assert _is_inert(out.replace("\n", ""))
    assert f"references  local/{shown}:1\n" in out


@pytest.mark.parametrize(("raw", "shown"), TRICKY, ids=_IDS)
def test_the_progress_line_shows_the_name(raw: str, shown: str) -> None:
    out = io.StringIO()
    progress = Progress(out, clock=lambda: 100.0)
    progress.start("a.tar", 1000)
    progress.member("a.tar", raw)
    progress.advance("a.tar", 10)
    assert out.getvalue().endswith(f" [{shown}]")
