"""Typed values: a JSON value checked, or a command-line string parsed, against a field's annotation."""

from __future__ import annotations

import types
import typing
from typing import Any

from lmlab.errors import LmlabError

TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def field_type(section_type: type, name: str) -> Any:
    """The annotated type of field `name` of a config dataclass."""
    return typing.get_type_hints(section_type)[name]


def coerce(key: str, value: Any, expected: Any) -> Any:
    """Check (JSON) or parse (command-line string) one value against its annotated type."""
    if isinstance(expected, types.UnionType):
        if value is None or value == "none":
            return None
        inner = next(t for t in typing.get_args(expected) if t is not type(None))
        try:
            return coerce(key, value, inner)
        except LmlabError:
            raise LmlabError(f"{key} expects {TYPE_NAMES[inner]} or none, got {value!r}") from None
    if isinstance(value, str) and expected is not str:
        return _parse_string(key, value, expected)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise LmlabError(f"{key} expects {TYPE_NAMES[expected]}, got {value!r}")
    return value


def _parse_string(key: str, text: str, expected: type) -> Any:
    try:
        if expected is bool:
            lowered = text.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError(text)
        if expected is int:
            number = float(text)  # accept 5e3 for 5000
            if not number.is_integer():
                raise ValueError(text)
            return int(number)
        return expected(text)
    except ValueError:
        raise LmlabError(f"{key} expects {TYPE_NAMES[expected]}, got {text!r}") from None
