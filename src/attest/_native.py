"""Which build of the verification path runs: compiled by mypyc, or the pure-Python package (issue 16).

``pip install`` compiles the modules of :data:`COMPILED_MODULES` with mypyc where a C compiler is present
(setup.py) and records each source's SHA-256 in ``_native_manifest.json`` beside them. The compiled
modules behave as their sources do (the whole test suite runs against both builds in CI); the sources stay
in the package, and they are what runs:

- when ``ATTEST_PURE_PYTHON`` is set (to anything but ``0`` or empty): always, e.g. to rule the compiled
  build out when chasing a problem;
- when there is no manifest (no compiler at install time, ``ATTEST_PURE_PYTHON`` set at install time, or
  a build that failed): then any stray compiled module is ignored too;
- when a source no longer matches the hash recorded for it (an editable install whose sources were
  edited after the build): the compiled modules would run code the sources no longer say, so all of them
  are set aside, with one warning on the ``attest`` logger naming the cure (``pip install -e .`` again).
- when a compiled module (or the library they share) is not beside its source though the manifest is (a
  source tree where the build ran, copied or put on ``PYTHONPATH`` without its compiled files): the sources
  would run anyway, and the status says so instead of claiming the compiled build (one warning, as above).

It is all or nothing: the compiled modules call each other directly, so a mix is never loaded.
:data:`STATUS` says which build runs and why (``attest --version``, the benchmarks, ``/readyz``'s
neighbours in the logs).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: the verification path (strict JOSE parsing, the attestation model, identifier checks, rule kinds and
#: evaluator, verify itself) and the AuditEvent every decision's audit record holds (setup.py reads this
#: tuple; keep it a literal)
COMPILED_MODULES = (
    "attest.audit.fhir",
    "attest.context",
    "attest.errors",
    "attest.identifiers",
    "attest.jose",
    "attest.model",
    "attest.profiles",
    "attest.rules.evaluator",
    "attest.rules.kinds",
    "attest.verify",
)

MANIFEST = "_native_manifest.json"
_PACKAGE_DIR = Path(__file__).resolve().parent

#: "compiled (mypyc)" or "pure-python (<why>)"; set when the package is imported
STATUS = "pure-python (not yet decided)"


def source_path(module: str) -> Path:
    """The source file of one of :data:`COMPILED_MODULES`."""
    return _PACKAGE_DIR.joinpath(*module.split(".")[1:]).with_suffix(".py")


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def decide(manifest: dict[str, str] | None, hashes: dict[str, str], env: str | None,
           missing: Sequence[str] = ()) -> str:
    """The build to run, from the manifest written at build time (None: none), the sources' hashes now, the
    ``ATTEST_PURE_PYTHON`` variable and the compiled files ``missing`` beside the sources (module names, or
    the shared library's): ``compiled (mypyc)`` or ``pure-python (<why>)``."""
    if env not in (None, "", "0"):
        return "pure-python (ATTEST_PURE_PYTHON is set)"
    if manifest is None:
        return "pure-python (not compiled: no C compiler or mypy at install time, or ATTEST_PURE_PYTHON was set)"
    stale = sorted(m for m in COMPILED_MODULES if manifest.get(m) != hashes.get(m))
    if stale:
        return (f"pure-python (the compiled build is older than the sources of {', '.join(stale)}; "
                "run pip install again to rebuild it)")
    if missing:
        # a manifest without the modules it describes (a source tree where the build ran, copied without
        # its compiled files): the sources run, and the status must not say otherwise
        return (f"pure-python (the compiled files of {', '.join(sorted(missing))} are not beside the sources; "
                "import the installed package, or install it again)")
    return "compiled (mypyc)"


#: mypyc's group of the build (setup.py reads this literal): every compiled module links to the group's library,
#: which is installed beside the ``attest`` package
GROUP = "attest_native"
GROUP_LIBRARY = f"{GROUP}__mypyc"


def missing_compiled() -> list[str]:
    """The compiled modules (and the group library) that have no extension file where the build put it: beside
    the module's source (the group library: beside the package; one found elsewhere on ``sys.path`` does not
    count, as it need not be this build's)."""
    def present(stem: Path) -> bool:
        return any(stem.with_name(stem.name + suffix).is_file() for suffix in importlib.machinery.EXTENSION_SUFFIXES)

    out = [m for m in COMPILED_MODULES if not present(source_path(m).with_suffix(""))]
    if not present(_PACKAGE_DIR.parent / GROUP_LIBRARY):
        out.append(GROUP_LIBRARY)
    return out


class _Sources(importlib.abc.MetaPathFinder):
    """Loads :data:`COMPILED_MODULES` from their ``.py`` files, whatever else lies beside them."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in COMPILED_MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, source_path(fullname))


def _read_manifest() -> dict[str, str] | None:
    try:
        data = json.loads((_PACKAGE_DIR / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    modules = data.get("modules") if isinstance(data, dict) else None
    if not isinstance(modules, dict):
        return None
    return {str(k): str(v) for k, v in modules.items()}


def select() -> str:
    """Decide once, before any of :data:`COMPILED_MODULES` is imported, and install the source finder
    unless the compiled build runs. Returns (and sets) :data:`STATUS`."""
    global STATUS
    manifest = _read_manifest()
    hashes = {m: source_hash(source_path(m)) for m in COMPILED_MODULES} if manifest is not None else {}
    STATUS = decide(manifest, hashes, os.environ.get("ATTEST_PURE_PYTHON"),
                    missing_compiled() if manifest is not None else ())
    if not STATUS.startswith("compiled") and not any(isinstance(f, _Sources) for f in sys.meta_path):
        sys.meta_path.insert(0, _Sources())
        if manifest is not None and ("older than" in STATUS or "not beside" in STATUS):
            logging.getLogger("attest").warning("attest runs as pure Python: %s", STATUS[len("pure-python ("):-1])
    return STATUS


select()
