"""Typed access to a step's or check's arguments, with errors that name what is wrong."""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")
_MISSING = object()


class ArgumentError(ValueError):
    pass


def arg(args: dict[str, Any], name: str, kind: type[T], default: Any = _MISSING) -> T:
    if name not in args:
        if default is _MISSING:
            raise ArgumentError(f"missing argument {name!r}")
        return default  # type: ignore[no-any-return]
    value = args[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ArgumentError(f"argument {name!r} must be {kind.__name__}, got {value!r}")
    return value


def str_list(args: dict[str, Any], name: str, default: list[str] | None = None) -> list[str]:
    value = args.get(name, default if default is not None else _MISSING)
    if value is _MISSING:
        raise ArgumentError(f"missing argument {name!r}")
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ArgumentError(f"argument {name!r} must be a list of text, got {value!r}")
    return list(value)
