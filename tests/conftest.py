from __future__ import annotations

import pytest

from attest import TrustStore

from .support.tokens import NOW, trust_store


@pytest.fixture
def trust() -> TrustStore:
    return trust_store()


@pytest.fixture
def now() -> int:
    return NOW


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The counts the hardening suites measured (tests/support/summary.py), visible in ``pytest -q``."""
    from .support import summary

    if summary.lines():
        terminalreporter.write_sep("=", "hardening suites")
        for line in summary.lines():
            terminalreporter.write_line(line)
