"""A parsed YAML value together with its key path, so that every mistake names where it is.

``ConfigNode.mapping()`` / ``.text()`` / ``.identifiers()``… check the shape of one value and
raise :class:`~wdh.errors.ConfigError` with the key path
(``domains.annuity_performance.refs.plans.updatable[3]``) and what was expected. Pure.
"""

from __future__ import annotations

import enum
from typing import Any

from wdh.errors import ConfigError
from wdh.identifiers import identifier_problem


class ConfigNode:
    """A YAML value with its key path, so every error names where it is."""

    def __init__(self, value: Any, path: str, source: str) -> None:
        self.value = value
        self.path = path
        self.source = source

    def fail(self, problem: str) -> ConfigError:
        return ConfigError(self.path, problem, source=self.source)

    def child(self, key: str | int, value: Any) -> ConfigNode:
        path = f"{self.path}[{key}]" if isinstance(key, int) else f"{self.path}.{key}".lstrip(".")
        return ConfigNode(value, path, self.source)

    def mapping(self, *, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> dict[str, ConfigNode]:
        if not isinstance(self.value, dict):
            raise self.fail(f"expected a mapping, got {value_kind(self.value)}")
        allowed = required + optional
        for key in self.value:
            if key not in allowed:
                raise self.child(str(key), None).fail(f"unknown key (expected one of: {', '.join(allowed)})")
        for key in required:
            if key not in self.value:
                raise self.child(key, None).fail("required key is missing")
        return {str(key): self.child(str(key), value) for key, value in self.value.items()}

    def entries(self) -> dict[str, ConfigNode]:
        """A mapping whose keys are names chosen by the user (domains, columns)."""
        if not isinstance(self.value, dict) or not self.value:
            raise self.fail(f"expected a non-empty mapping, got {value_kind(self.value)}")
        return {str(key): self.child(str(key), value) for key, value in self.value.items()}

    def text(self, *, allow_empty: bool = False) -> str:
        if self.value is None and allow_empty:
            return ""
        if not isinstance(self.value, str | int) or isinstance(self.value, bool):
            raise self.fail(f"expected text, got {value_kind(self.value)}")
        text = str(self.value)
        if not text.strip() and not allow_empty:
            raise self.fail("must not be empty")
        return text

    def identifier(self, *, allow_empty: bool = False) -> str:
        name = self.text(allow_empty=allow_empty)
        if name or not allow_empty:
            problem = identifier_problem(name)
            if problem:
                raise self.fail(problem)
        return name

    def items(self, *, allow_empty: bool = False) -> list[ConfigNode]:
        if not isinstance(self.value, list):
            raise self.fail(f"expected a list, got {value_kind(self.value)}")
        if not self.value and not allow_empty:
            raise self.fail("must not be an empty list")
        return [self.child(index, value) for index, value in enumerate(self.value)]

    def texts(self, *, allow_empty: bool = False) -> tuple[str, ...]:
        return tuple(item.text() for item in self.items(allow_empty=allow_empty))

    def identifiers(self) -> tuple[str, ...]:
        names = tuple(item.identifier() for item in self.items())
        duplicate = next((name for name in names if names.count(name) > 1), None)
        if duplicate:
            raise self.fail(f"{duplicate!r} is listed twice")
        return names

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.fail(f"expected true or false, got {value_kind(self.value)}")
        return self.value

    def choice(self, enum_type: type[enum.StrEnum]) -> Any:
        text = self.text()
        try:
            return enum_type(text)
        except ValueError:
            allowed = ", ".join(member.value for member in enum_type)
            raise self.fail(f"{text!r} is not one of: {allowed}") from None


def value_kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
