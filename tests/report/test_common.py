"""Cut path lists show one path per directory before a second from any."""

from __future__ import annotations

from hypothesis import given, strategies as st

from imageforensics.report._common import sample_paths

PATHS = st.lists(st.from_regex(r"/[a-c]{1,2}(/[a-c]{1,2}){0,2}", fullmatch=True), unique=True).map(lambda p: tuple(sorted(p)))


def test_the_tomcat_list_keeps_the_script_that_matters():
    paths = (
        "/etc/confd/conf.d/tomcat-users.xml.toml", "/etc/confd/templates/tomcat-users.xml.tmpl",
        "/etc/cont-init.d/20-tomcat-setup.sh", "/etc/nginx/conf.d/tomcat.conf", "/etc/services.d/nginx/finish",
        "/etc/services.d/nginx/run", "/etc/services.d/tomcat/finish", "/etc/services.d/tomcat/run",
        "/opt/tomcat/bin/setenv.sh", "/opt/tomcat/conf/logging.properties",
        "/usr/local/bin/install-war-into-tomcat.sh", "/usr/local/bin/wait-for-tomcat.sh",
    )
    shown = sample_paths(paths, 10)
    assert len(shown) == 10 and "/usr/local/bin/install-war-into-tomcat.sh" in shown


@given(PATHS, st.integers(0, 30))
def test_sample_is_an_ordered_subset_covering_directories_first(paths, limit):
    shown = sample_paths(paths, limit)
    assert len(shown) == min(limit, len(paths))
    assert list(shown) == [p for p in paths if p in shown]
    dirs = {p.rsplit("/", 1)[0] for p in paths}
    shown_dirs = {p.rsplit("/", 1)[0] for p in shown}
    assert len(shown_dirs) == min(len(dirs), len(shown))


def test_an_input_is_named_by_its_file_name_in_shared_reports() -> None:
    from imageforensics.report._common import input_name

    assert input_name("/home/alice/work/a.tar") == "a.tar"
    assert input_name("samples/tomcat-pulled.tar:app:1") == "tomcat-pulled.tar:app:1"
    assert input_name("/srv/oci-layout/") == "oci-layout"
    assert input_name("a.tar") == "a.tar" and input_name("-") == "-" and input_name("/") == "/"
    assert input_name("/home/alice/work/a.tar", full_paths=True) == "/home/alice/work/a.tar"
