"""A deliberately broken verifier (a test double for the conformance harness).

Usage: ``python broken_verifier.py --trust T --now N --audience A [--pid X] [--hpr X] [--patient X]
[--profile P] --bug toa-age --bug alg-none`` with the token on stdin. Exit 0 accept, 1 reject, 2 config error.

Bugs it can have (each a classic verifier mistake):

* ``toa-age``: it forgets the 60-minute limit on ``toa`` (ATT-58c): an ``attestation_has_expired`` finding
  is dropped;
* ``alg-none``: it accepts any token whose header says ``alg: none`` in some spelling, without looking at
  the signature (RFC 8725 section 2.1).

Everything else is ``attest.verify``. :func:`broken` is also used in-process by the tests.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from typing import Any

from attest import TrustStore, VerifyContext, verify
from attest.errors import ConfigurationError
from attest.verify import Decision

BUGS = ("toa-age", "alg-none")


def header_alg(token: str) -> Any:
    try:
        seg = token.split(".")[0]
        return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))).get("alg")
    except (ValueError, AttributeError, IndexError):
        return None


def says_alg_none(token: str) -> bool:
    alg = header_alg(token)
    return isinstance(alg, str) and alg.strip().strip("\x00").lower() == "none"


def broken(bugs: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """A drop-in replacement for ``attest.verify`` with the given bugs."""
    def fn(token: str, trust: TrustStore, profile: Any = "tillitsrammeverk-1.1", context: Any = None,
           *, replay: Any = None) -> Decision:
        if "alg-none" in bugs and says_alg_none(token):
            return Decision("permit", str(profile), (), (), None, None)
        d = verify(token, trust, profile, context, replay=replay)
        if "toa-age" in bugs:
            errors = tuple(f for f in d.errors if f.code != "attestation_has_expired")
            if len(errors) != len(d.errors):
                return Decision("deny" if errors else "permit", d.profile, errors, d.warnings, d.token,
                                d.attestation, d.issuer, d.evaluated_at)
        return d
    return fn


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trust", required=True)
    ap.add_argument("--now", type=int)
    ap.add_argument("--audience")
    ap.add_argument("--pid")
    ap.add_argument("--hpr")
    ap.add_argument("--patient")
    ap.add_argument("--profile", default="tillitsrammeverk-1.1")
    ap.add_argument("--bug", action="append", choices=BUGS, default=[])
    a = ap.parse_args(argv)
    try:
        trust = TrustStore.load(a.trust)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    token = sys.stdin.read().strip()
    ctx = VerifyContext(audience=a.audience, authenticated_pid=a.pid, authenticated_hpr=a.hpr,
                        patient_id=a.patient, now=a.now)
    d = broken(tuple(a.bug))(token, trust, a.profile, ctx)
    return 0 if d.permitted else 1


if __name__ == "__main__":
    sys.exit(main())
