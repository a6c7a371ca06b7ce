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
