"""Strict JSON from strangers: UTF-8, no NaN, duplicate keys noted, nesting depth bounded."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from imageforensics.errors import InputError, LimitError
from imageforensics.options import Limits


def load_json_bytes(data: bytes, *, source: str, member: str, what: str, limits: Limits) -> tuple[Any, list[str]]:
    """Parse JSON bytes strictly (UTF-8, no NaN), checking nesting depth; returns the value and duplicate keys seen."""
    if len(data) > limits.max_json_bytes:
        raise LimitError(source, member, f"{what} is {len(data)} bytes, over the {limits.max_json_bytes}-byte JSON limit (--max-json-bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(source, member, f"{what} is not UTF-8 (byte {e.start})") from None
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result and len(duplicates) < limits.max_duplicate_keys:
                duplicates.append(key)
            result[key] = value
        return result

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    # json's C parser is fast and stops with RecursionError near Python's recursion
    # limit, so parse first and measure the depth of the value; scanning the text
    # for brackets first cost seconds per 10 MB on every document.
    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as e:
        raise InputError(source, member, f"{what} is not JSON ({e.msg}: line {e.lineno}, column {e.colno})") from None
    except ValueError as e:
        raise InputError(source, member, f"{what} is not JSON ({e})") from None
    except RecursionError:
        # Only for documents too deep for json: how deep, exactly for a bounded head of the text.
        head = text[:limits.depth_scan_chars]
        depth = _max_depth_quick(head)
        levels = f"{depth}" if len(head) == len(text) else f"at least {depth}"
        if depth > limits.max_json_depth:
            raise LimitError(source, member, f"{what} nests {levels} levels deep, over the {limits.max_json_depth}-level limit (--max-json-depth)") from None
        raise LimitError(source, member, f"{what} nests {levels} levels deep, deeper than Python's JSON parser reads (its recursion limit)") from None
    depth = _value_depth(value)
    if depth > limits.max_json_depth:
        raise LimitError(source, member, f"{what} nests {depth} levels deep, over the {limits.max_json_depth}-level limit (--max-json-depth)")
    return value, duplicates


def _value_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (iteratively: no recursion)."""
    best = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        best = max(best, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return best


# Linear-time scans (each pattern matches without backtracking): escapes out first, so
# that every string is then `"[^"]*"`; an unterminated string runs to the end.
# (A single string pattern with an escape group took quadratic time on `"\"\"\"…`.)
_JSON_ESCAPE = re.compile(r"\\.", re.DOTALL)
_JSON_STRING = re.compile(r'"[^"]*"?')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = tuple(1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256))


def _max_depth_quick(text: str) -> int:
    """The nesting depth, counting brackets outside strings, without recursion (json would recurse)."""
    brackets = _NOT_BRACKETS.sub("", _JSON_STRING.sub("", _JSON_ESCAPE.sub("", text)))
    return max(0, max(itertools.accumulate(map(_BRACKET_STEP.__getitem__, brackets.encode("ascii"))), default=0))


