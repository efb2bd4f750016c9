"""``created_by`` as reports show it: one function, a table form and a summary form."""

from __future__ import annotations

import pytest

from imageforensics.created_by import display_created_by


@pytest.mark.parametrize("recorded, table, summary", [
    ("", "", "(no created_by)"),
    ("/bin/sh -c #(nop)  EXPOSE 8080/tcp", "EXPOSE 8080/tcp", "EXPOSE 8080/tcp"),
    ("COPY rootfs / # buildkit", "COPY rootfs /", "COPY rootfs /"),
    # Runs of spaces fold; a tab, CR or LF stays in a table, for the renderer to show escaped.
    ("RUN  apk add \t curl # buildkit", "RUN apk add \t curl", "RUN apk add curl"),
    ("RUN a\r\nb", "RUN a\r\nb", "RUN a b"),
    # Where the forms differ, a table shows what the builder recorded, a summary the spelling compared:
    ("/bin/sh -c apk add curl", "/bin/sh -c apk add curl", "RUN /bin/sh -c apk add curl"),
    ('/bin/sh -e -c #(nop)  CMD ["x"]', '/bin/sh -e -c #(nop) CMD ["x"]', 'CMD ["x"]'),
    # A summary is shown by the one escaping policy (a backslash doubled); a table leaves that to its renderer.
    ("cmd /S /C #(nop)  WORKDIR C:\\app", "cmd /S /C #(nop) WORKDIR C:\\app", "WORKDIR C:\\\\app"),
    ("EXPOSE map[8080/tcp:{}]", "EXPOSE map[8080/tcp:{}]", "EXPOSE 8080/tcp"),
])
def test_a_table_shows_the_recorded_text_less_noise_and_a_summary_the_compared_spelling(
        recorded: str, table: str, summary: str) -> None:
    assert display_created_by(recorded) == display_created_by(recorded, "table") == table
    assert display_created_by(recorded, "summary") == summary


def test_a_summary_quotes_at_most_60_characters_and_a_table_leaves_the_fitting_to_its_renderer() -> None:
    exactly = "RUN " + "x" * 56
    longer = exactly + "y"
    assert display_created_by(exactly, "summary") == exactly
    assert display_created_by(longer, "summary") == exactly[:59] + "…"
    assert display_created_by(longer) == longer
