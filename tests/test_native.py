"""The two builds of the verification path (issue 16): compiled by mypyc at install time, or pure Python.

CI runs the whole suite twice, once as installed (compiled) and once with ATTEST_PURE_PYTHON=1, and this file
checks in each run that the build in use is the one asked for: all compiled modules, or none."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import attest
from attest import _native
from attest._native import COMPILED_MODULES, decide


def _loaded_from(module: str) -> str:
    return Path(importlib.import_module(module).__file__ or "").suffix


def test_all_or_none_of_the_compiled_modules_run() -> None:
    suffixes = {m: _loaded_from(m) for m in COMPILED_MODULES}
    if attest.BUILD.startswith("compiled"):
        assert set(suffixes.values()) == {".so"}, suffixes
    else:
        assert set(suffixes.values()) == {".py"}, suffixes


def test_the_build_asked_for_is_the_one_in_use() -> None:
    """ATTEST_PURE_PYTHON set: pure Python. In CI (ATTEST_REQUIRE_INTEGRATION=1), otherwise: the compiled build,
    which pip install made (a C compiler is on CI's image) and which is not stale."""
    if os.environ.get("ATTEST_PURE_PYTHON", "") not in ("", "0"):
        assert attest.BUILD == "pure-python (ATTEST_PURE_PYTHON is set)"
    elif os.environ.get("ATTEST_REQUIRE_INTEGRATION") == "1":
        assert attest.BUILD == "compiled (mypyc)", attest.BUILD
    else:
        pytest.skip(f"outside CI either build may be installed; this one is {attest.BUILD}")


def test_every_compiled_module_has_its_source_beside_it() -> None:
    """The fallback is always there: a compiled module never ships without the source it was built from."""
    for module in COMPILED_MODULES:
        assert _native.source_path(module).is_file(), module


_SOURCES = {m: f"hash-of-{m}" for m in COMPILED_MODULES}


@pytest.mark.parametrize(("manifest", "env", "expected"), [
    (dict(_SOURCES), None, "compiled (mypyc)"),
    (dict(_SOURCES), "", "compiled (mypyc)"),
    (dict(_SOURCES), "0", "compiled (mypyc)"),
    (dict(_SOURCES), "1", "pure-python (ATTEST_PURE_PYTHON is set)"),
    (None, None, "pure-python (not compiled"),
    ({**_SOURCES, "attest.jose": "an older hash"}, None, "pure-python (the compiled build is older than the "
                                                         "sources of attest.jose;"),
    ({m: h for m, h in _SOURCES.items() if m != "attest.verify"}, None, "pure-python (the compiled build is "
                                                                        "older than the sources of attest.verify;"),
])
def test_decide(manifest: dict[str, str] | None, env: str | None, expected: str) -> None:
    assert decide(manifest, _SOURCES, env).startswith(expected)


def test_a_manifest_without_its_compiled_files_is_not_the_compiled_build() -> None:
    assert decide(dict(_SOURCES), _SOURCES, None, ["attest.jose"]).startswith(
        "pure-python (the compiled files of attest.jose are not beside the sources;")
    assert decide(dict(_SOURCES), _SOURCES, "1", ["attest.jose"]) == "pure-python (ATTEST_PURE_PYTHON is set)"
    assert decide(dict(_SOURCES), _SOURCES, None, []) == "compiled (mypyc)"


def _copy_and_import(tmp_path: Path, *ignore: str) -> subprocess.CompletedProcess[str]:
    """The package's files copied to ``tmp_path`` without ``ignore`` (the group library is copied there too,
    unless ignored), with the manifest a build of these sources writes; imported from there in a fresh
    interpreter without ATTEST_PURE_PYTHON."""
    package = Path(attest.__file__).parent
    shutil.copytree(package, tmp_path / "attest", ignore=shutil.ignore_patterns("__pycache__", *ignore))
    for library in package.parent.glob(_native.GROUP_LIBRARY + ".*"):
        if not any(library.match(pattern) for pattern in ignore):
            shutil.copy(library, tmp_path)
    # as a build of exactly these sources would have written it (the development tree's may be stale)
    (tmp_path / "attest" / _native.MANIFEST).write_text(json.dumps({"compiler": "mypyc", "modules": {
        m: _native.source_hash(_native.source_path(m)) for m in COMPILED_MODULES}}))
    code = ("import attest, attest.jose; print(attest.BUILD); print(attest.jose.__file__); "
            "print(attest.verify('x.y.z', attest.TrustStore.from_dict({'issuers': []})).codes)")
    env = {k: v for k, v in os.environ.items() if k != "ATTEST_PURE_PYTHON"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                          cwd=tmp_path, env={**env, "PYTHONPATH": str(tmp_path)})


def test_a_copy_of_the_package_without_compiled_files_says_it_runs_the_sources(tmp_path: Path) -> None:
    """A manifest without the compiled modules beside the sources (a source tree where the build ran, copied
    without them): the sources run and the status says so, with one warning."""
    done = _copy_and_import(tmp_path, "*.so", "*.pyd")
    out = done.stdout.splitlines()
    assert out[0].startswith(f"pure-python (the compiled files of {min(_native.COMPILED_MODULES)}, ")
    assert out[1] == str(tmp_path / "attest" / "jose.py")
    assert out[2] == "['malformed_token']"
    assert done.stderr.count("attest runs as pure Python: the compiled files of") == 1


def test_compiled_modules_without_their_group_library_run_the_sources(tmp_path: Path) -> None:
    if not attest.BUILD.startswith("compiled"):
        pytest.skip(f"needs the compiled build; this one is {attest.BUILD}")
    done = _copy_and_import(tmp_path, _native.GROUP_LIBRARY + ".*")
    out = done.stdout.splitlines()
    assert out[0].startswith(f"pure-python (the compiled files of {_native.GROUP_LIBRARY} are not beside")
    assert out[1] == str(tmp_path / "attest" / "jose.py")
    assert out[2] == "['malformed_token']"
    assert any((tmp_path / "attest").glob("jose.*.so"))  # the module was there: its library was not



def test_pure_python_is_forced_in_a_fresh_interpreter() -> None:
    """The source finder wins over compiled modules beside their sources (whether or not this install has
    them), and the package says so."""
    code = ("import sys, attest, attest.jose, attest.rules.kinds; "
            "print(attest.BUILD); print(attest.jose.__file__); print(sys.modules['attest.verify'].__file__); "
            "print(attest.verify('x.y.z', attest.TrustStore.from_dict({'issuers': []})).codes)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                         env={**os.environ, "ATTEST_PURE_PYTHON": "1"}).stdout.splitlines()
    assert out[0] == "pure-python (ATTEST_PURE_PYTHON is set)"
    assert out[1].endswith("jose.py") and out[2].endswith("verify.py")
    assert out[3] == "['malformed_token']"


def test_a_verification_runs_no_interpreted_attest_code_in_the_compiled_build() -> None:
    """What the compiled build is for (issue 16): one verification of a valid token with context runs compiled
    code only, but for the two key-set lookups (``attest.keysets`` fetches over the network and stays
    interpreted). ``sys.setprofile`` reports only interpreted frames, so anything on the hot path that is not
    compiled shows here: a dataclass's generated ``__init__`` (file ``<string>``), a module left out of
    ``COMPILED_MODULES``, a Python-level property. Structural, not timed: it holds on any machine."""
    if not attest.BUILD.startswith("compiled"):
        pytest.skip(f"needs the compiled build; this one is {attest.BUILD}")
    from attest import VerifyContext, load_profile, verify

    from .support.tokens import AUDIENCE, NOW, make_token, trust_store

    package = Path(attest.__file__).resolve().parent
    trust, profile = trust_store(), load_profile("tillitsrammeverk-1.1")
    context = VerifyContext(audience=AUDIENCE, now=NOW, authenticated_pid="20086600138", patient_id="13116900216")
    token = make_token()
    assert verify(token, trust, profile, context).permitted  # first call: caches warm
    calls: list[str] = []

    def hook(frame: Any, event: str, arg: Any) -> None:
        name = frame.f_code.co_filename
        if event == "call" and (name == "<string>" or Path(name).resolve().is_relative_to(package)):
            calls.append(f"{Path(name).name}:{frame.f_code.co_name}")

    sys.setprofile(hook)
    try:
        decision = verify(token, trust, profile, context)
    finally:
        sys.setprofile(None)
    assert decision.permitted, decision.codes
    assert sorted(calls) == ["keysets.py:get", "keysets.py:wants_refresh"]
