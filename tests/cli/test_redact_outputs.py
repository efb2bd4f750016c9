"""``snapshot --redact env,labels`` hides the values everywhere, history included: no output holds a planted secret."""

from __future__ import annotations

import gzip

import pytest

from imageforensics.cli import _main as cli
from imageforensics.redact import redact_created_by
from tests.archivekit import Img, layer_tar, legacy, tar_of

SECRETS = ("s3cretApiKey", "hushLabelValue", "buildNumber7777", "argToken4242")


def planted(seed: str) -> Img:
    """An image whose config and history (BuildKit and classic spellings) repeat the secrets."""
    key, label, build_no, token = SECRETS
    layers = [layer_tar({"etc/base": b"base\n"}, dirs=("etc",)), layer_tar({"app/a.txt": seed.encode()}),
              layer_tar({"app/b.txt": seed.encode()})]
    t = "2024-01-01T00:00:00Z"
    return Img(layers=layers, tags=["local/app:1"], created=t, extra={"config": {
        "Env": ["PATH=/usr/bin", f"API_KEY={key}"], "Cmd": ["sh"], "Labels": {"owner": label}}}, history=[
        {"created": t, "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
        {"created": t, "created_by": f"/bin/sh -c #(nop)  ENV API_KEY={key}", "empty_layer": True},
        {"created": t, "created_by": f"/bin/sh -c #(nop)  LABEL owner={label}", "empty_layer": True},
        {"created": t, "created_by": f"/bin/sh -c #(nop)  ARG BUILD_NO={build_no}", "empty_layer": True},
        {"created": t, "created_by": f"|1 BUILD_NO={build_no} /bin/sh -c make"},
        {"created": t, "created_by": f"ENV API_KEY={key} MODE=prod", "comment": "buildkit.dockerfile.v0", "empty_layer": True},
        {"created": t, "created_by": f"LABEL owner={label}", "comment": "buildkit.dockerfile.v0", "empty_layer": True},
        {"created": t, "created_by": f"ARG TOKEN={token}", "comment": "buildkit.dockerfile.v0", "empty_layer": True},
        {"created": t, "created_by": f"RUN |2 BUILD_NO={build_no} TOKEN={token} /bin/sh -c make # buildkit",
         "comment": "buildkit.dockerfile.v0"},
    ])


def run(capsysbinary, *args: str) -> bytes:
    status = cli.main(list(args))
    out = capsysbinary.readouterr()
    assert status in (0, 1), out.err
    return out.out


def test_no_output_made_from_a_redacted_snapshot_holds_a_secret(tmp_path, capsysbinary):
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    a.write_bytes(tar_of(legacy([planted("one")])))
    b.write_bytes(tar_of(legacy([planted("two")])))
    assert all(s.encode() in a.read_bytes() for s in SECRETS)  # the secrets are there to find
    outputs: dict[str, bytes] = {}
    for name, source in (("a", a), ("b", b)):
        snap = tmp_path / f"{name}.json.gz"
        run(capsysbinary, "snapshot", str(source), "-o", str(snap), "--redact", "env,labels", "-q")
        outputs[f"snapshot {name}"] = gzip.decompress(snap.read_bytes())
    sa, sb = str(tmp_path / "a.json.gz"), str(tmp_path / "b.json.gz")
    for fmt in ("text", "json"):
        outputs[f"inspect {fmt}"] = run(capsysbinary, "inspect", sa, "--format", fmt, "-q")
    for fmt in ("text", "json", "markdown", "html"):
        outputs[f"diff {fmt}"] = run(capsysbinary, "diff", sa, sb, "--format", fmt, "-q", "--max-paths", "1000")
    for what, data in outputs.items():
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret} in {what}"
    # The diff still finds the real difference (the files), and the history text matches.
    assert b"app/a.txt" in outputs["diff text"]
    assert b"created-by-spelling" not in outputs["diff text"]


def test_a_redacted_snapshot_diffs_like_its_archive_with_history(tmp_path, capsysbinary):
    a = tmp_path / "a.tar"
    a.write_bytes(tar_of(legacy([planted("one")])))
    snap = tmp_path / "a.json"
    run(capsysbinary, "snapshot", str(a), "-o", str(snap), "--redact", "env,labels", "-q")
    assert cli.main(["diff", str(a), str(snap), "-q"]) == 0
    assert cli.main(["diff", str(snap), str(a), "-q"]) == 0


@pytest.mark.parametrize("created_by, part, kept", [
    ("/bin/sh -c #(nop)  ENV API_KEY=v1 B=two words", "env", "/bin/sh -c #(nop)  ENV API_KEY="),
    ("ENV API_KEY v1", "env", "ENV API_KEY "),
    ("LABEL a=v1 \"b c\"=\"v 2\"", "labels", "LABEL a="),
    ("RUN |1 BUILD_NO=v1 /bin/sh -c make # buildkit", "env", "RUN |1 BUILD_NO="),
    ("ARG BUILD_NO=v1", "env", "ARG BUILD_NO="),
])
def test_created_by_values_are_redacted_and_the_rest_stays(created_by, part, kept):
    redacted = redact_created_by(created_by, frozenset({part}))
    assert "v1" not in redacted and redacted.startswith(kept + "redacted:sha256:")
    assert redact_created_by(redacted, frozenset({part})) == redacted  # idempotent
    other = "labels" if part == "env" else "env"
    assert redact_created_by(created_by, frozenset({other})) == created_by
    if "make" in created_by:
        assert redacted.endswith(" /bin/sh -c make # buildkit")
