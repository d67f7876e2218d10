"""One registry shape for every pluggable family (datasets, models, detectors, baselines, ...).

A family declares `NAME = Registry("detector")` and registers entries by name with a
help line. An entry's target is either the object itself or a ``"module:attribute"``
string imported on first use, so a registry (and `core.config`, which validates names
against the registries) imports without torch or scikit-learn: `gradsift info` and
`gradsift --help` stay light.

    DETECTORS = Registry("detector")
    DETECTORS.add("l2", "L2 norm of the gradient", "core.detect.estimators:build_l2", norm_column="grad_l2")
    DETECTORS.get("l2")          # the target (imported now)
    DETECTORS.entry("l2").meta   # {"norm_column": "grad_l2"}
    DETECTORS.check("l9", "flag.primary")  # ConfigError naming the field and the valid names

Used as a decorator when the target is defined right there:

    @ATTRIBUTION_METHODS.register("tracing", "|test gradient · training gradient|")
    def tracing(inputs): ...
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from core.errors import ConfigError

T = TypeVar("T")

@dataclass
class Entry(Generic[T]):
    """A registered name: its help line, its target (or where to import it from), and extra facts."""

    name: str
    help: str
    target: T | str
    meta: Mapping[str, Any] = field(default_factory=dict)

    def load(self) -> T:
        """The target, importing it first when it was registered as "module:attribute"."""
        if isinstance(self.target, str):
            module_name, _, attribute = self.target.partition(":")
            self.target = getattr(importlib.import_module(module_name), attribute)
        return self.target


class Registry(Generic[T]):
    """Names → entries of one family, in registration order.

    `kind` names the family in error messages: "unknown influence method 'x'; valid methods: ...".
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def add(self, name: str, help: str, target: T | str | None = None, **meta: Any) -> None:
        """Register `target` (an object, a "module:attribute" string, or None for a plain name) under `name`."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, help, target, dict(meta))

    def register(self, name: str, help: str, **meta: Any) -> Callable[[T], T]:
        """Decorator form of `add`: registers the decorated function or class under `name`."""
        def decorate(obj: T) -> T:
            self.add(name, help, obj, **meta)
            return obj

        return decorate

    def check(self, name: str, field_name: str | None = None, error: type[Exception] = ConfigError) -> str:
        """`name` when registered, else `error` (a ConfigError) naming the field and listing the valid names."""
        if name not in self._entries:
            where = f"{field_name}: " if field_name else ""
            noun = self.kind.split()[-1]
            raise error(f"{where}unknown {self.kind} {name!r}; valid {noun}s: {', '.join(self.names())}")
        return name

    def entry(self, name: str) -> Entry[T]:
        return self._entries[self.check(name)]

    def get(self, name: str) -> T:
        """The registered target (imported on first use); unknown names raise a ConfigError."""
        return self.entry(name).load()

    def help(self, name: str) -> str:
        return self.entry(name).help

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def where(self, **meta: Any) -> list[str]:
        """Names whose meta matches every given key (a callable value is a predicate on the meta value)."""
        def matches(entry: Entry[T]) -> bool:
            for key, wanted in meta.items():
                value = entry.meta.get(key)
                if not (wanted(value) if isinstance(wanted, Callable) else value == wanted):
                    return False
            return True

        return [name for name, entry in self._entries.items() if matches(entry)]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
