"""A small name -> object registry, used for curve forms, selector cost models, harness selectors and presets.

It refuses a second object under a taken name (pass ``replace=True`` to mean it), runs a check on every object
when it is registered (a form's function signature against its parameters, say), and answers an unknown name
with the near names (``difflib``) and the full list.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from .errors import CostlawError, UnknownName

T = TypeVar("T")


class Registry(Mapping, Generic[T]):
    """Named objects of one kind (``kind`` is used in messages, e.g. "form"). A read-only ``Mapping``;
    ``register`` adds, ``get`` looks up (with aliases), ``names`` lists."""

    def __init__(self, kind: str, check: Callable[[str, T], None] | None = None, aliases: dict[str, str] | None = None):
        self.kind = kind
        self._check = check
        self._items: dict[str, T] = {}
        self.aliases: dict[str, str] = dict(aliases or {})

    def register(self, name: str, obj: T, *, replace: bool = False) -> T:
        """Add ``obj`` under ``name``; a taken name raises ``CostlawError`` unless ``replace``."""
        if not isinstance(name, str) or not name:
            raise CostlawError(f"a {self.kind} needs a non-empty string name, got {name!r}")
        if not replace and (name in self._items or name in self.aliases):
            raise CostlawError(f"{self.kind} '{name}' is already registered; pick another name or pass "
                               f"replace=True")
        if self._check is not None:
            self._check(name, obj)
        self._items[name] = obj
        return obj

    def get(self, name: str, default=None) -> T:  # noqa: D401  (Mapping.get signature, but raising by default)
        """The object registered as ``name`` (or an alias of it); unknown names raise ``UnknownName``."""
        key = self.aliases.get(name, name) if isinstance(name, str) else name
        if key in self._items:
            return self._items[key]
        if default is not None:
            return default
        raise UnknownName(self.unknown_message(name))

    def unknown_message(self, name) -> str:
        """"unknown form 'x'; did you mean 'y'? available: ..." for a name not registered."""
        names = self.names()
        near = difflib.get_close_matches(str(name), names, n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else ""
        return f"unknown {self.kind} {name!r}{hint}; available: {', '.join(sorted(names))}"

    def names(self) -> list[str]:
        """Registered names (in registration order), then aliases."""
        return list(self._items) + [a for a in self.aliases if a not in self._items]

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name) -> bool:
        return name in self._items or name in self.aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"<Registry of {len(self)} {self.kind}s: {', '.join(self._items)}>"
