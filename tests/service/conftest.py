from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from attest.service import create_app

from ..support.service import service_settings


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return create_app(service_settings(tmp_path))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
