"""JSON members (parse/_json): depth counted outside strings only, NaN refused, errors giving the position."""

from __future__ import annotations

import pytest

from imageforensics.errors import InputError, LimitError
from imageforensics.options import Limits
from imageforensics.parse._json import load_json_bytes


def test_json_depth_counts_brackets_outside_strings_only():
    value, dups = load_json_bytes(b'["[[[[[[", {"a": "}}}\\"[[["}]', source="s", member="m", what="x", limits=Limits())
    assert value == ["[[[[[[", {"a": '}}}"[[['}] and dups == []
    with pytest.raises(LimitError, match="nests 3 levels deep"):
        load_json_bytes(b"[[[1]]]", source="s", member="m", what="x", limits=Limits(max_json_depth=2))


def test_json_rejects_nan_and_reports_position():
    with pytest.raises(InputError, match="NaN is not JSON"):
        load_json_bytes(b"[NaN]", source="s", member="m", what="x", limits=Limits())
    with pytest.raises(InputError, match=r"^s: m: x is not JSON \(Expecting ',' delimiter: line 1, column 4\)$"):
        load_json_bytes(b"[1 2]", source="s", member="m", what="x", limits=Limits())
