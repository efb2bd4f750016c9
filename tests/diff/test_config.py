"""Config comparison: real differences are found, equivalent spellings are not differences."""

from __future__ import annotations

from dataclasses import replace

from imageforensics.diff._config import compare_config, env_mapping, normalise_port
from imageforensics.diff._engine import diff_images
from imageforensics.findings import Severity
from imageforensics.model import Platform, RunConfig
from tests.modelfactory import archive, build, file, spec, step

BASE = spec(step("ADD file:x in /", file("bin/sh")), step('CMD ["sh"]'))


def compare(ca: RunConfig, cb: RunConfig):
    return compare_config(build(replace(BASE, run_config=ca)), build(replace(BASE, run_config=cb)))


def test_equivalent_spellings_are_not_differences():
    a = RunConfig(env=("A=1", "B=2"), exposed_ports=("8080/tcp", "53/udp"), volumes=("/data", "/logs"),
                  labels=(("a", "1"), ("b", "2")), cmd=None, entrypoint=(),
                  healthcheck='{"Test":["CMD","true"],"Interval":30}')
    b = RunConfig(env=("B=2", "A=0", "A=1"), exposed_ports=("53/UDP", "8080", "8080/tcp"), volumes=("/logs", "/data"),
                  labels=(("b", "2"), ("a", "1")), cmd=(), entrypoint=None,
                  healthcheck='{"Interval": 30, "Test": ["CMD", "true"]}')
    assert compare(a, b) == []


def test_each_field_difference_is_one_finding_with_exact_values():
    a = RunConfig(env=("PATH=/bin", "MODE=prod"), cmd=("serve",), working_dir="/app", user="app",
                  exposed_ports=("8080/tcp",), stop_signal="SIGTERM", labels=(("v", "1"),))
    b = RunConfig(env=("PATH=/bin", "DEBUG=1"), cmd=("serve", "--debug"), working_dir="/app", user="root",
                  exposed_ports=("8080/tcp", "9090/tcp"), stop_signal="SIGQUIT", labels=(("v", "2"),))
    found = {f.path: f for f in compare(a, b)}
    assert sorted(found) == ["cmd", "env", "exposed_ports", "labels", "stop_signal", "user"]
    assert all(f.code == "config-differs" and f.severity is Severity.WARNING for f in found.values())
    env = found["env"]
    assert (env.evidence_value("only_in_a"), env.evidence_value("only_in_b"), env.evidence_value("changed")) == \
        ("MODE", "DEBUG", "")
    assert found["cmd"].evidence_value("a") == '["serve"]' and found["cmd"].evidence_value("b") == '["serve", "--debug"]'
    assert found["exposed_ports"].evidence_value("b") == '["8080/tcp", "9090/tcp"]'
    assert found["labels"].evidence_value("changed") == "v"


def test_platform_and_names():
    ia = build(BASE)
    ib = build(replace(BASE, platform=Platform(os="linux", architecture="arm64", variant="v8"),
                       references=("app:arm",)))
    codes = {(f.code, f.severity) for f in compare_config(ia, ib)}
    assert codes == {("platform-differs", Severity.WARNING), ("references-differ", Severity.INFO)}


def test_helpers():
    assert normalise_port("8080") == "8080/tcp" and normalise_port("53/UDP") == "53/udp"
    assert env_mapping(["A=1", "B", "A=2", "C=x=y"]) == (("A", "2"), ("B", ""), ("C", "x=y"))


def test_a_config_only_difference_is_a_metadata_verdict():
    ia = build(BASE)
    ib = build(replace(BASE, run_config=RunConfig(user="nobody")))
    report = diff_images(archive(ia), ia, archive(ib), ib)
    assert report.verdict_kind == "metadata" and report.exit_status == 1
    assert report.verdict == "same content with metadata differences: config user differs."
    assert [f.code for f in report.findings] == ["config-differs"]


def test_docker_only_fields_dropped_by_oci_conversion_are_named_as_such():
    a = RunConfig(healthcheck='{"Test":["CMD","true"]}', shell=("/bin/sh", "-e", "-c"))
    found = {f.path: f for f in compare(a, RunConfig())}
    assert sorted(found) == ["healthcheck", "shell"]
    assert all(f.summary.endswith("(a Docker-only field: converting the config to OCI drops it)") for f in found.values())
    assert compare(RunConfig(user="a"), RunConfig(user="b"))[0].summary == 'config user differs: A "a", B "b"'
