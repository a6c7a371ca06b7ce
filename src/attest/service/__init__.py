"""The HTTP verification service: ``from attest.service import create_app``."""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
