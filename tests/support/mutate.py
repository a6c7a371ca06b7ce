"""Dotted-path edits for test cases: ``patients[0].identifier.id``."""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def steps(path: str) -> list[str | int]:
    return [int(i) if i else name for name, i in _STEP.findall(path)]


def _expand(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"repeat", "item"}:
        return [copy.deepcopy(value["item"]) for _ in range(int(value["repeat"]))]
    return copy.deepcopy(value)


def set_path(obj: Any, path: str, value: Any) -> None:
    s = steps(path)
    node = obj
    for step, nxt in itertools.pairwise(s):
        if isinstance(step, int):
            while len(node) <= step:
                node.append({})
            node = node[step]
        else:
            if step not in node or not isinstance(node[step], dict | list):
                node[step] = [] if isinstance(nxt, int) else {}
            node = node[step]
    last = s[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = _expand(value)


def delete_path(obj: Any, path: str) -> None:
    s = steps(path)
    node = obj
    for step in s[:-1]:
        node = node[step]
    del node[s[-1]]


def rename_path(obj: Any, path: str, new_key: str) -> None:
    s = steps(path)
    node = obj
    for step in s[:-1]:
        node = node[step]
    node[new_key] = node.pop(s[-1])


def apply(obj: Any, case: dict[str, Any]) -> Any:
    out = copy.deepcopy(obj)
    for path in case.get("delete", []) or []:
        delete_path(out, path)
    for path, value in (case.get("set") or {}).items():
        set_path(out, path, value)
    # deepest paths first so that renaming a parent does not invalidate a child's path
    for path, new_key in sorted((case.get("rename") or {}).items(), key=lambda kv: -len(steps(kv[0]))):
        rename_path(out, path, new_key)
    return out
