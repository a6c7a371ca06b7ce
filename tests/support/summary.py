"""Result lines of the hardening suites (fuzzing, attack corpus, fault injection), printed once at the end
of the test run by ``pytest_terminal_summary`` in tests/conftest.py, so that ``.ci/run`` (``pytest -q``)
shows the measured counts without making every test noisy."""

from __future__ import annotations

_LINES: list[str] = []


def record(line: str) -> None:
    """Add one line to the end-of-run summary (and keep it for the test's own assertions)."""
    _LINES.append(line)


def lines() -> list[str]:
    return list(_LINES)
