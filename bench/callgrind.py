"""Instruction counts (valgrind's callgrind) for one verification of the realistic token: attest compiled,
attest pure Python (ATTEST_PURE_PYTHON=1) and the PyJWT baseline, per algorithm.

Counts do not move with the machine's load (a second process on the other core changes them by well under a
percent), so a difference of a few percent between two code paths shows here when wall-clock rounds on a
shared machine cannot show it. Each number is (count after 3N calls - count after N calls) / 2N, from two
runs of a child process under ``valgrind --tool=callgrind`` with the same keys (PEM files written first), the
same token and ``PYTHONHASHSEED=0``: start-up, imports, key loading and the first call's profile compilation
cancel out. Instructions are not time (a signature's vector code retires more instructions per cycle than
the interpreter), so compare a variant with itself across changes, and the ratios as a second view beside the
timed ones.

    python bench/callgrind.py [--calls N] [--algs ES256,RS256]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NOW = 1_800_000_000

CHILD = r"""
import sys
sys.path.insert(0, {bench!r})
from cryptography.hazmat.primitives.serialization import load_pem_private_key
import jwt
import library
from attest import load_profile, verify
alg, variant, n, pem = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
key = load_pem_private_key(open(pem, "rb").read(), None)
case = library.make_case(alg, {now}, key=key)
profile = load_profile("tillitsrammeverk-1.1")
if variant == "pyjwt":
    pub = case.public_key
    def once():
        jwt.decode(case.token, pub, algorithms=[alg], audience=library.AUD, issuer=library.ISS,
                   options={{"verify_exp": False, "verify_iat": False}})
else:
    def once():
        verify(case.token, case.trust, profile, case.context)
for _ in range(n):
    once()
"""


def _keys(workdir: Path, algs: list[str]) -> dict[str, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from attest import generate_private_key

    paths = {}
    for alg in algs:
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg in ("RS256", "PS256") \
            else generate_private_key(alg)
        path = workdir / f"{alg}.pem"
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        paths[alg] = path
    return paths


def _count(script: Path, alg: str, variant: str, calls: int, pem: Path) -> int:
    out = script.with_suffix(f".{alg}.{variant}.{calls}.out")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if variant == "pure":
        env["ATTEST_PURE_PYTHON"] = "1"
    else:
        env.pop("ATTEST_PURE_PYTHON", None)
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, str(script),  # noqa: S603, S607
                    alg, variant, str(calls), str(pem)], check=True, capture_output=True, timeout=900, env=env)
    total = totals(out)
    if total is None:
        raise RuntimeError(f"no totals in {out}")
    return total


def totals(out: Path) -> int | None:
    """The instructions a callgrind output file counted (its ``totals:`` or ``summary:`` line), None if none."""
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    return None


def measure(algs: list[str], calls: int = 300) -> dict[str, Any]:
    """Instructions per verification for each algorithm and variant (attest compiled, attest pure, pyjwt)."""
    if shutil.which("valgrind") is None:
        return {"skipped": "valgrind is not installed (apt-get install valgrind)"}
    import attest

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="attest-callgrind-") as tmp:
        work = Path(tmp)
        script = work / "child.py"
        script.write_text(CHILD.format(bench=str(HERE), now=NOW))
        pems = _keys(work, algs)
        variants = ["compiled", "pure", "pyjwt"] if attest.BUILD.startswith("compiled") else ["pure", "pyjwt"]
        for alg in algs:
            row: dict[str, Any] = {"alg": alg}
            for variant in variants:
                t0 = time.monotonic()
                few, many = _count(script, alg, variant, calls, pems[alg]), \
                    _count(script, alg, variant, 3 * calls, pems[alg])
                row[variant] = (many - few) // (2 * calls)
                print(f"  {alg} {variant:8} {row[variant]:>10,} instructions per verification "
                      f"({time.monotonic() - t0:.0f} s)", flush=True)
            rows.append(row)
    return {"calls": calls, "rows": rows, "build": attest.BUILD}


def report(result: dict[str, Any]) -> list[str]:
    if "skipped" in result:
        return ["## Library: instruction counts (callgrind)", "", f"Not measured: {result['skipped']}.", ""]
    lines = ["## Library: instruction counts (callgrind)", "",
             "Instructions per verification of the realistic token, from `bench/callgrind.py` (two runs of "
             f"{result['calls']} and {3 * result['calls']} calls each under callgrind, start-up cancelled out); "
             "independent of the machine's load. `compiled` = the mypyc build, `pure` = the same package with "
             "ATTEST_PURE_PYTHON=1, `pyjwt` = `jwt.decode` with audience and issuer.", "",
             "| alg | compiled | pure | pyjwt | pyjwt / compiled | pure / compiled |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        c, p, j = r.get("compiled"), r["pure"], r["pyjwt"]
        lines.append(f"| {r['alg']} | {c:,} | {p:,} | {j:,} | {j / c:.2f} | {p / c:.2f} |" if c else
                     f"| {r['alg']} | (not built) | {p:,} | {j:,} | | |")
    return [*lines, ""]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--algs", default="ES256,RS256,PS256,EdDSA")
    args = ap.parse_args()
    result = measure(args.algs.split(","), args.calls)
    print("\n".join(report(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
