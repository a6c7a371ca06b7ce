"""Small path-based edits of an attestation (``practitioner.identifier.system``, ``patients[0].id``), so
that rule and valid cases can be written as data: a base attestation plus a list of edits."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

Edit = Callable[[dict[str, Any]], None]

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _steps(path: str) -> list[str | int]:
    out: list[str | int] = []
    for name, index in _STEP.findall(path):
        out.append(int(index) if index else name)
    return out


def _parent(root: Any, steps: list[str | int]) -> Any:
    node = root
    for s in steps[:-1]:
        node = node[s]
    return node


def set_(path: str, value: Any) -> Edit:
    """Set ``path`` to ``value`` (creating nothing but the last member)."""
    steps = _steps(path)

    def edit(att: dict[str, Any]) -> None:
        _parent(att, steps)[steps[-1]] = value
    return edit


def del_(path: str) -> Edit:
    """Remove ``path`` (an object member or an array element)."""
    steps = _steps(path)

    def edit(att: dict[str, Any]) -> None:
        parent = _parent(att, steps)
        del parent[steps[-1]]
    return edit


def merge(path: str, values: dict[str, Any]) -> Edit:
    """Update the object at ``path`` with ``values``."""
    steps = _steps(path)

    def edit(att: dict[str, Any]) -> None:
        node: Any = att
        for s in steps:
            node = node[s]
        node.update(values)
    return edit


def apply(att: dict[str, Any], edits: Iterable[Edit]) -> dict[str, Any]:
    for e in edits:
        e(att)
    return att
