"""Reading JSON values that came from strangers: typed getters naming the bad field.

Each getter returns the member with the type asked for or raises
JsonShapeError with a path such as ``archive.images[0].history[3].created``
and what was expected, which the snapshot and report loaders turn into the
project's one-line errors.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

T = TypeVar("T")


class JsonShapeError(ValueError):
    """A JSON document has the wrong shape at ``where``; ``expected`` says what was wanted."""

    def __init__(self, where: str, expected: str) -> None:
        self.where = where
        self.expected = expected
        super().__init__(f"{where}: {expected}")


# --- checked getters, shared with the report loader -------------------------


def as_object(value: object, where: str) -> dict[str, Any]:
    """``value`` as a JSON object, or JsonShapeError."""
    if not isinstance(value, dict):
        raise JsonShapeError(where, "expected an object")
    return value


def get_str(o: dict[str, Any], key: str, where: str) -> str:
    """A required string member."""
    value = o.get(key)
    if not isinstance(value, str):
        raise JsonShapeError(f"{where}.{key}", "expected a string")
    return value


# Sizes, counts and indexes of the formats read back are Go int64s where they were written: a wider
# value is no value of them, and would overflow where it is used (an index, a float). Times may be wider.
INT64_MAX = (1 << 63) - 1


def get_int(o: dict[str, Any], key: str, where: str, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """A required integer member (JSON true/false are not integers here), within ``minimum``/``maximum`` when given."""
    value = o.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise JsonShapeError(f"{where}.{key}", "expected an integer")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "any" if minimum is None else str(minimum)
        high = "2**63-1" if maximum == INT64_MAX else "any" if maximum is None else str(maximum)
        raise JsonShapeError(f"{where}.{key}", f"expected an integer from {low} to {high}, found {_digits(value)}")
    return value


def _digits(value: int) -> str:
    """An integer as a message shows it: whole when short, by its number of digits when not."""
    if abs(value) < 10**60:
        return str(value)
    return f"{'minus ' if value < 0 else ''}an integer of {len(str(abs(value)))} digits"


def get_opt_int(o: dict[str, Any], key: str, where: str, *, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
    """An integer or null member (as ``get_int``)."""
    if o.get(key) is None:
        if key not in o:
            raise JsonShapeError(f"{where}.{key}", "expected an integer or null")
        return None
    return get_int(o, key, where, minimum=minimum, maximum=maximum)


def get_bool(o: dict[str, Any], key: str, where: str) -> bool:
    """A required boolean member."""
    value = o.get(key)
    if not isinstance(value, bool):
        raise JsonShapeError(f"{where}.{key}", "expected true or false")
    return value


def get_opt_bool(o: dict[str, Any], key: str, where: str) -> bool | None:
    """A boolean or null member."""
    if key not in o:
        raise JsonShapeError(f"{where}.{key}", "expected true, false or null")
    return None if o[key] is None else get_bool(o, key, where)


def get_list(o: dict[str, Any], key: str, where: str) -> list[Any]:
    """A required array member."""
    value = o.get(key)
    if not isinstance(value, list):
        raise JsonShapeError(f"{where}.{key}", "expected an array")
    return value


def get_strs(o: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    """An array of strings, as a tuple."""
    items = get_list(o, key, where)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise JsonShapeError(f"{where}.{key}[{i}]", "expected a string")
    return tuple(items)


def get_opt_strs(o: dict[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    """An array of strings or null (absent and empty differ in a config)."""
    if key not in o:
        raise JsonShapeError(f"{where}.{key}", "expected an array of strings or null")
    return None if o[key] is None else get_strs(o, key, where)


def get_pairs(o: dict[str, Any], key: str, where: str) -> tuple[tuple[str, str], ...]:
    """An array of ``[string, string]`` pairs, order kept."""
    items = get_list(o, key, where)
    out: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise JsonShapeError(f"{where}.{key}[{i}]", "expected a [string, string] pair")
        out.append((item[0], item[1]))
    return tuple(out)


def get_each(o: dict[str, Any], key: str, where: str, load: Callable[[object, str], T]) -> tuple[T, ...]:
    """An array whose items are each read by ``load(item, where)``."""
    items = get_list(o, key, where)
    out: list[T] = []
    i = 0
    try:
        # Items are read with a relative path, prefixed only on error: a
        # snapshot can list millions of file entries.
        for i, item in enumerate(items):
            out.append(load(item, ""))
    except JsonShapeError as e:
        raise JsonShapeError(f"{where}.{key}[{i}]{e.where}", e.expected) from None
    return tuple(out)


def get_opt(o: dict[str, Any], key: str, where: str, load: Callable[[object, str], T]) -> T | None:
    """A member read by ``load``, or null."""
    if key not in o:
        raise JsonShapeError(f"{where}.{key}", "expected a value or null")
    return None if o[key] is None else load(o[key], f"{where}.{key}")


def pairs_json(pairs: tuple[tuple[str, str], ...]) -> list[list[str]]:
    """Pairs as JSON arrays."""
    return [[k, v] for k, v in pairs]
