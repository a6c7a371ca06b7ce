"""Build hook: compile the verification path with mypyc where a C compiler is present (issue 16).

Everything else about the package is in pyproject.toml. The modules compiled are
``attest._native.COMPILED_MODULES``; after a successful build the SHA-256 of each one's source is
recorded in ``src/attest/_native_manifest.json`` (see src/attest/_native.py for how the package picks the
build at import). Without a C compiler, without mypy, or with ATTEST_PURE_PYTHON set at install time,
nothing is compiled and the package is pure Python; a compile that fails leaves it pure Python too, with
the compiler's message in pip's output (``pip install -v``).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
PACKAGE = ROOT / "src" / "attest"
MANIFEST = PACKAGE / "_native_manifest.json"


def native_constant(name: str) -> Any:
    """A literal of src/attest/_native.py (read, not imported: the package's dependencies are not installed
    in the build environment)."""
    tree = ast.parse((PACKAGE / "_native.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise SystemExit(f"setup.py: {name} not found in src/attest/_native.py")


def compiled_modules() -> tuple[str, ...]:
    return tuple(native_constant("COMPILED_MODULES"))


def source(module: str) -> Path:
    return PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")


def why_not_compiled() -> str | None:
    if os.environ.get("ATTEST_PURE_PYTHON", "") not in ("", "0"):
        return "ATTEST_PURE_PYTHON is set"
    if sys.implementation.name != "cpython":
        return f"mypyc needs CPython, not {sys.implementation.name}"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler}) on PATH"
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        return "mypy (mypyc) is not installed in the build environment"
    return None


class BuildNative(build_ext):
    """build_ext that records the manifest only when every compiled module was built, and otherwise
    leaves a pure-Python package (no manifest: the package ignores any partial build)."""

    def run(self) -> None:
        MANIFEST.unlink(missing_ok=True)
        if not self.extensions:
            return
        try:
            super().run()
        except Exception as exc:  # a failed compile is a slower package, not a failed install
            print(f"attest: the mypyc build failed ({exc}); installing the pure-Python package", file=sys.stderr)
            return
        modules = {m: hashlib.sha256(source(m).read_bytes()).hexdigest() for m in compiled_modules()}
        MANIFEST.write_text(json.dumps({"compiler": "mypyc", "modules": modules}, indent=1) + "\n", encoding="utf-8")
        if not self.inplace:  # a wheel: the manifest travels with the compiled modules
            target = Path(self.build_lib) / "attest" / MANIFEST.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(MANIFEST, target)


def extensions() -> list:  # type: ignore[type-arg]
    # without extensions setuptools never runs build_ext (BuildNative): a manifest left by an earlier build
    # must not ship with a package that has no compiled modules
    MANIFEST.unlink(missing_ok=True)
    reason = why_not_compiled()
    if reason is not None:
        print(f"attest: not compiling the verification path ({reason}); the package is pure Python", file=sys.stderr)
        return []
    from mypyc.build import mypycify

    # the build environment holds mypy and cryptography (pyproject.toml) but not attest's other dependencies:
    # their imports are unchecked (Any) here, so the project's strict configuration (pyproject.toml, for
    # development) is not read; no cache, so that a build never reuses a development run's results
    flags = ["--config-file=", "--ignore-missing-imports", "--cache-dir=/dev/null",
             "--python-version", f"{sys.version_info[0]}.{sys.version_info[1]}"]
    paths = [str(source(m).relative_to(ROOT)) for m in compiled_modules()]
    try:
        return mypycify(flags + paths, opt_level="3", debug_level="0", group_name=native_constant("GROUP"))
    except (SystemExit, Exception) as exc:  # mypyc ends with SystemExit when type checking fails
        print(f"attest: mypyc could not compile the verification path ({exc}); the package is pure Python",
              file=sys.stderr)
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildNative})
