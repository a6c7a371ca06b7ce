"""Generate a SAML corpus (``attest conformance generate --saml``): signed SAML 2.0 assertions
(:mod:`attest.conformance.saml_cases`) with the trust store of the test SAML issuer that signed them.

The directory::

    README.md            TEST MATERIAL: what is here, how to configure the verifier under test, how to run
    manifest.json        kind "saml", the SAML issuer, audience, profile, every case without its assertion
    trust.yaml           an attest trust store: two saml_issuers entries (audience, profile): the issuer with
                         pinned certificates (certificate_file), and one trusted through a CA (ca_certificate_file)
    saml-issuer.pem      the issuer's pinned certificates: the current one and its expired predecessor
    saml-ca.pem          the root CA the second issuer is trusted through
    cases/<id>.json      one file per case: the assertion (XML text, or base64), the context, the expectation

Every key is derived from the seed (:mod:`attest.conformance.saml_forge`) and every signature is
deterministic, so the same ``seed``, ``now``, audience and issuer give the same corpus, byte for byte. No
private key is written: the assertions are ready-made.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from .. import __version__
from ..xmlsafe import hardened_parser
from .corpus import FORMAT, SAML_GROUPS, SAML_KIND, Case, Corpus, Expectation, coverage, save_cases
from .forge import DEFAULT_AUDIENCE, DEFAULT_SEED, PATIENT_FNR
from .generate import MAX_LEEWAY
from .saml_attacks import SAML_NS
from .saml_cases import SamlCase, saml_cases
from .saml_forge import DEFAULT_SAML_ISSUER, SAML_LEGAL_ENTITIES, SAML_TEST_PROFILE, SamlForge, pem

CERTIFICATE_FILE = "saml-issuer.pem"
CA_CERTIFICATE_FILE = "saml-ca.pem"
#: codes a verifier reaches before it reads the assertion's times: no clock changes them
TOKEN_LEVEL = frozenset({"invalid_saml", "not_a_health_personnel_attestation", "unknown_issuer", "unknown_key",
                         "unsupported_algorithm", "invalid_signature"})
_TIME_CODES = frozenset({"token_expired", "token_not_yet_valid"})


class SamlGenerateError(Exception):
    """Bad options for a SAML corpus."""


@dataclass
class SamlBuilt:
    corpus: Corpus
    forge: SamlForge


def _xml_bytes(token: str) -> bytes:
    text = token.strip()
    if text.startswith("<"):
        return text.encode("utf-8")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""


def _instant(value: str | None) -> float | None:
    """An xs:dateTime with a time zone as unix seconds (None: absent, invalid or without a zone)."""
    if value is None:
        return None
    try:
        t = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return None if t.tzinfo is None else t.timestamp()


def assertion_times(token: str) -> dict[str, list[int]]:
    """The times of an assertion, read leniently (no signature check): ``start`` (IssueInstant, NotBefore,
    AuthnInstant, SubjectConfirmationData NotBefore) and ``end`` (NotOnOrAfter, SessionNotOnOrAfter,
    SubjectConfirmationData NotOnOrAfter), in unix seconds."""
    try:
        root = etree.fromstring(_xml_bytes(token), hardened_parser())
    except etree.XMLSyntaxError:
        return {"start": [], "end": []}
    starts = [root.get("IssueInstant")]
    ends: list[str | None] = []
    for el in root.iter(f"{{{SAML_NS}}}Conditions", f"{{{SAML_NS}}}SubjectConfirmationData"):
        starts.append(el.get("NotBefore"))
        ends.append(el.get("NotOnOrAfter"))
    for el in root.iter(f"{{{SAML_NS}}}AuthnStatement"):
        starts.append(el.get("AuthnInstant"))
        ends.append(el.get("SessionNotOnOrAfter"))
    parse = (_instant(v) for v in starts)
    out_start = [int(t) for t in parse if t is not None]
    out_end = [int(t) for t in (_instant(v) for v in ends) if t is not None]
    return {"start": out_start, "end": out_end}


def clock_window(token: str, expect: Expectation, now: int, exact_second: bool
                 ) -> tuple[tuple[int | None, int | None] | None, bool]:
    """``(window, empty)``: the wall-clock interval around ``now`` in which a verifier with its own clock
    (leeway 0-60 s) reaches the expected decision and codes; None when no clock changes them (a refusal
    before the assertion's times are read); empty when only the injected ``now`` gives it."""
    if exact_second:
        return None, True
    if expect.decision == "deny" and set(expect.errors) <= TOKEN_LEVEL:
        return None, False
    t = assertion_times(token)
    if expect.decision == "deny" and set(expect.errors) <= _TIME_CODES:
        # denied only for time: the "surely denied" intervals (any leeway up to 60 s), the one around now
        intervals = [(e + MAX_LEEWAY, None) for e in t["end"]] + [(None, s - MAX_LEEWAY - 1) for s in t["start"]]
        around = [(lo, hi) for lo, hi in intervals if (lo is None or lo <= now) and (hi is None or now <= hi)]
        if not around:
            return None, True
        los = [lo for lo, _ in around]
        his = [hi for _, hi in around]
        return (None if None in los else min(x for x in los if x is not None),
                None if None in his else max(x for x in his if x is not None)), False
    # a permit, or a deny whose codes a later clock would add to: within every start and before every end
    lo = max(t["start"], default=None)
    hi = min(t["end"], default=None)
    hi = None if hi is None else hi - 1
    if (lo is not None and now < lo) or (hi is not None and now > hi):
        return None, True
    return (lo, hi), False


def _token(spec: SamlCase, data: bytes) -> str:
    if "base64" in spec.tags:
        return base64.b64encode(data).decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # pragma: no cover - a programming error in the tables
        raise RuntimeError(f"{spec.id}: the assertion is not UTF-8 text; tag it base64") from None


def _context(forge: SamlForge, spec: SamlCase) -> dict[str, Any]:
    ctx: dict[str, Any] = {"now": forge.now, "patient_id": PATIENT_FNR}
    for k, v in spec.context.items():
        if v is None:
            ctx.pop(k, None)
        else:
            ctx[k] = v
    return ctx


def _check_options(issuer: str, audience: str) -> None:
    for what, value in (("issuer", issuer), ("audience", audience)):
        if not value or not value.isprintable() or any(c.isspace() for c in value) or len(value) > 1024:
            raise SamlGenerateError(f"the {what} {value!r} must be a non-empty string without spaces")
    if issuer.startswith("urn:attest:"):
        raise SamlGenerateError("the issuer must not start with urn:attest: (reserved)")


def _certificate_info(cert: Any) -> dict[str, Any]:
    return {"subject": cert.subject.rfc4514_string(),
            "not_before": int(cert.not_valid_before_utc.timestamp()),
            "not_after": int(cert.not_valid_after_utc.timestamp()),
            "sha256": hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()}


def build_saml_corpus(*, now: int | None = None, seed: str = DEFAULT_SEED, audience: str = DEFAULT_AUDIENCE,
                      issuer: str = DEFAULT_SAML_ISSUER) -> SamlBuilt:
    """Every case in memory. ``now`` defaults to the clock: the valid assertions are issued 60 s before it
    and valid for an hour."""
    _check_options(issuer, audience)
    now = int(time.time()) if now is None else int(now)
    forge = SamlForge.generate(seed=seed, now=now, audience=audience, issuer=issuer)
    cases: list[Case] = []
    for spec in saml_cases(forge):
        token = _token(spec, spec.build(forge, spec.id))
        window, empty = clock_window(token, spec.expect, now, spec.exact_second)
        cases.append(Case(id=spec.id, group=spec.group, rule=spec.rule, covers=spec.covers(),
                          description=spec.description, token=token, context=_context(forge, spec),
                          expect=spec.expect, signed_by="saml-issuer", window=window, window_empty=empty,
                          tags=spec.tags, prelude=(token,) if spec.second_presentation else (),
                          requires=("replay",) if spec.second_presentation else ()))
    meta: dict[str, Any] = {
        "format": FORMAT,
        "kind": SAML_KIND,
        "generator": f"attest {__version__}",
        "profile": SAML_TEST_PROFILE,
        "seed": seed,
        "now": now,
        "audience": audience,
        "saml_issuer": {"issuer": issuer, "audience": audience, "profile": SAML_TEST_PROFILE,
                        "legal_entities": list(SAML_LEGAL_ENTITIES), "trust_store": "trust.yaml",
                        "certificate_file": CERTIFICATE_FILE,
                        "certificates": [_certificate_info(forge.certificate),
                                         _certificate_info(forge.previous_certificate)]},
        "saml_ca_issuer": {"issuer": forge.ca.issuer, "audience": audience, "profile": SAML_TEST_PROFILE,
                           "legal_entities": list(SAML_LEGAL_ENTITIES), "trust_store": "trust.yaml",
                           "ca_certificate_file": CA_CERTIFICATE_FILE,
                           "ca_certificates": [_certificate_info(forge.ca.root)]},
        "counts": {g: sum(1 for c in cases if c.group == g) for g in SAML_GROUPS},
        "coverage": coverage(cases, SAML_KIND),
        "notes": [
            "TEST MATERIAL ONLY: the issuers' keys (and their CA's) are derived from a public seed; anyone can sign "
            "assertions that trust.yaml accepts. Never configure a production verifier with it.",
            "Each case's context carries 'now' (the evaluation time) and the request's patient_id; the audience is "
            "the trust store entries'.",
            "time.window: for targets that use their own clock, the unix-time interval in which the expected "
            "decision holds (leeway 0-60 s); an empty window: only a target given 'now' can run the case.",
        ],
    }
    return SamlBuilt(Corpus(cases, meta), forge)


_TRUST_HEADER = """\
# TEST MATERIAL ONLY - NEVER USE IN PRODUCTION.
# Trust store for an attest SAML conformance corpus (issue 14). The SAML issuers' keys (and their CA's) are derived
# from a public seed: anyone can sign assertions these entries accept. Use it only for a test instance of the
# verifier under test.
# attest: ATTEST_TRUST_STORE=<this file>, ATTEST_PROFILE=tillitsrammeverk-1.1-test (test material is refused
# under a production profile), ATTEST_ALLOW_CONTEXT_NOW=true (the cases carry their evaluation time).
"""

_README = """\
# !!! TEST MATERIAL - NEVER USE IN PRODUCTION !!!

This is an attest **SAML conformance corpus** (generated by {generator} with seed `{seed}`, now {now}). The
test SAML issuers' keys (and their CA's) are derived from a public seed, so anyone can sign assertions that `trust.yaml`
accepts. Configure only a **test instance** of your verifier with it.

## What it tests

{count} cases, each a signed SAML 2.0 assertion (IHE XUA with NHN's attributes, in the shape of HelseID's XDS
SAML service) and the decision and error codes a conforming verifier reaches: {valid} valid assertions to
permit (with the warnings they earn), {rules} broken attestation rules, {conditions} broken conditions and
envelopes, {attacks} attacks (signature wrapping XSW1-8, comments, key sources, DTDs and entities, sizes, weak
algorithms, untrusted signers, signing certificates that do not chain to the second issuer's CA).

## Configure the verifier under test (its test instance)

| setting | value |
|---|---|
| SAML issuer (`saml:Issuer`, exact) | `{issuer}` |
| its pinned signing certificates | `{certificate_file}` (the current one, and its predecessor, expired) |
| a second SAML issuer, trusted through a CA | `{ca_issuer}` |
| the root CA it is trusted through (KeyInfo carries the signing certificate) | `{ca_certificate_file}` only |
| the intermediate CA | never configured: the assertions carry it in KeyInfo where they need it |
| audience (`AudienceRestriction`) | `{audience}` |
| a SubjectConfirmationData `Recipient`, when there is one | `{audience}` (the same) |
| organisations they may vouch for | {legal_entities} |
| evaluation time | each case's `context.now` |
| the request's patient | each case's `context.patient_id` |
| replay cache | kept across requests (the cases with a `prelude`: see *Run*) |

With attest: `ATTEST_TRUST_STORE=trust.yaml` (this directory's file; it names `{certificate_file}` and
`{ca_certificate_file}` beside it),
`ATTEST_PROFILE=tillitsrammeverk-1.1-test` and `ATTEST_ALLOW_CONTEXT_NOW=true`, on 127.0.0.1 (attest refuses to
serve test material on any other address).

## Run

```sh
attest conformance run --corpus <this directory> --mode http-api --target https://<test instance> \\
    --junit conformance.xml --json conformance.json
```

Each case is `POST <target>/v1/verify` with `{{"saml": <assertion>, "context": {{"now": …, "patient_id": …}}}}`;
the decision and the exact sets of error and warning codes are compared. A case with a `prelude` (in
`manifest.json`; it `requires` a replay cache) first presents the assertions listed there, each expected to be
permitted: its own assertion, so that the case is the second presentation (`OneTimeUse`: refused as
`token_replayed`; without it: permitted, as the XUA profile reuses an assertion within its session).
Exit status 0: every case behaved as expected; 1: a mismatch. A replay cache remembers a run: against
the same instance within the hour, generate a fresh corpus (another `--now`) or clear the cache; a target without
one runs with `--no-replay` (those cases are skipped).

## Files

| file | what |
|---|---|
| `manifest.json` | the corpus's settings and every case (id, rule, what it covers, description, expectation) |
| `trust.yaml` | an attest trust store: a `saml_issuers` entry for each issuer above |
| `{certificate_file}` | the first issuer's certificates (PEM) |
| `{ca_certificate_file}` | the root CA of the second issuer (PEM) |
| `cases/<id>.json` | one assertion per case, with its context and expectation |
"""


def readme(built: SamlBuilt) -> str:
    meta = built.corpus.meta
    counts = meta["counts"]
    return _README.format(
        generator=meta["generator"], seed=meta["seed"], now=meta["now"], count=len(built.corpus),
        valid=counts["saml-valid"], rules=counts["saml-rules"], conditions=counts["saml-conditions"],
        attacks=counts["saml-attacks"], issuer=built.forge.issuer, certificate_file=CERTIFICATE_FILE,
        ca_issuer=built.forge.ca.issuer, ca_certificate_file=CA_CERTIFICATE_FILE,
        audience=built.forge.audience, legal_entities=", ".join(f"`{o}`" for o in SAML_LEGAL_ENTITIES))


def write_saml_corpus(built: SamlBuilt, out: str | Path, *, force: bool = False) -> Path:
    """Write the corpus directory; refuses a non-empty directory unless ``force``."""
    root = Path(out)
    if root.exists() and any(root.iterdir()) and not force:
        raise SamlGenerateError(f"{root} is not empty (use --force to overwrite)")
    root.mkdir(parents=True, exist_ok=True)
    (root / CERTIFICATE_FILE).write_text(built.forge.certificates_pem(), encoding="ascii")
    (root / CA_CERTIFICATE_FILE).write_text(pem(built.forge.ca.root), encoding="ascii")
    (root / "trust.yaml").write_text(
        _TRUST_HEADER + yaml.safe_dump(built.forge.trust_document(CERTIFICATE_FILE, CA_CERTIFICATE_FILE),
                                       sort_keys=False, allow_unicode=True), encoding="utf-8")
    (root / "README.md").write_text(readme(built), encoding="utf-8")
    save_cases(built.corpus, root)
    built.corpus.root = root
    return root
