"""Generate a conformance corpus: keys, trust store, and every case (rules, attacks, examples, valid).

:func:`build_corpus` returns the cases in memory (with the trust documents); :func:`write_corpus` writes
a corpus directory (see :mod:`attest.conformance.corpus`). Output is deterministic for a given seed,
``now``, profile, audience, issuer and issuer key: key derivation and every signature are deterministic
(see :mod:`attest.conformance.forge`), jti values are derived from the seed, ``now`` and the case id.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import __version__
from .cases_attacks import all_variants
from .cases_rules import SUPPORTED_PROFILES, TEST_PROFILE, resolve_placeholders, rule_cases
from .cases_valid import example_cases, spec_examples, valid_cases
from .corpus import (
    FORMAT,
    TIME_CODES,
    Case,
    Corpus,
    Expectation,
    coverage,
    permit,
    save_cases,
    write_json,
)
from .forge import DEFAULT_AUDIENCE, DEFAULT_ISSUER, DEFAULT_SEED, Forge, Party, b64decode, deep
from .mutate import apply

#: the leeway range a verifier may be configured with; windows hold for any leeway in it
MAX_LEEWAY = 60


class GenerateError(Exception):
    """Bad generator options (unsupported profile, unusable issuer key)."""


@dataclass
class Built:
    corpus: Corpus
    forge: Forge
    trust: dict[str, Any]
    trust_variants: dict[str, dict[str, Any]] = field(default_factory=dict)


def _payload_times(token: str) -> dict[str, int]:
    """The integer time claims of a token's payload (and attestation.toa), read leniently."""
    try:
        payload = json.loads(b64decode(token.split(".")[1]))
    except (ValueError, IndexError, UnicodeDecodeError):
        return {}
    if not isinstance(payload, dict):
        return {}
    out: dict[str, int] = {}
    for name in ("iat", "exp", "nbf"):
        v = payload.get(name)
        if isinstance(v, int) and not isinstance(v, bool):
            out[name] = v
    att = payload.get("attestation")
    if isinstance(att, dict):
        toa = att.get("toa")
        if isinstance(toa, int) and not isinstance(toa, bool):
            out["toa"] = toa
    return out


def clock_window(
    token: str, expect: Expectation, now: int
) -> tuple[tuple[int | None, int | None] | None, bool]:
    """``(window, empty)``: the wall-clock interval around ``now`` in which a verifier using its own clock
    (leeway 0..60 s) reaches the expected decision. None when time cannot change the decision."""
    if expect.trust_refused:
        return None, False
    if expect.decision == "deny" and not any(s <= TIME_CODES for s in expect.code_sets()):
        return None, False     # denied for a reason no clock can remove
    t = _payload_times(token)
    if expect.decision == "permit":
        lo = max([t[k] for k in ("iat", "nbf", "toa") if k in t], default=None)
        his = [t["exp"] - 1] if "exp" in t else []
        if "toa" in t:
            his.append(t["toa"] + 3600)
        hi = min(his, default=None)
        if (lo is not None and now < lo) or (hi is not None and now > hi):
            return None, True
        return (lo, hi), False
    # denied only for time reasons: the union of the "surely denied" intervals, component around now
    intervals: list[tuple[int | None, int | None]] = []
    if "exp" in t:
        intervals.append((t["exp"] + MAX_LEEWAY, None))
    if "toa" in t:
        intervals.append((t["toa"] + 3601, None))
        intervals.append((None, t["toa"] - MAX_LEEWAY - 1))
    for k in ("iat", "nbf"):
        if k in t:
            intervals.append((None, t[k] - MAX_LEEWAY - 1))
    around = [(lo, hi) for lo, hi in intervals if (lo is None or lo <= now) and (hi is None or now <= hi)]
    if not around:
        return None, True
    lo = None if any(a is None for a, _ in around) else min(a for a, _ in around if a is not None)
    hi = None if any(b is None for _, b in around) else max(b for _, b in around if b is not None)
    return (lo, hi), False


def _context(forge: Forge, extra: dict[str, Any]) -> dict[str, Any]:
    ctx: dict[str, Any] = {"audience": forge.audience, "now": forge.now}
    ctx.update(extra)
    return ctx


def _case(forge: Forge, **kw: Any) -> Case:
    window, empty = clock_window(kw["token"], kw["expect"], forge.now)
    return Case(window=window, window_empty=empty, **kw)


def _party(forge: Forge, name: str) -> Party:
    return {"issuer": forge.issuer, "other_issuer": forge.other_issuer, "non_member": forge.non_member}[name]


def _rule_case_tokens(forge: Forge, test: bool) -> list[Case]:
    out = []
    for rc in rule_cases():
        cid = f"rule-{rc.slug}"
        party = _party(forge, rc.party)
        att = forge.attestation()
        if party is not forge.issuer:
            org = party.legal_entities[0]
            att["practitioner"]["legal_entity"]["id"] = org
            att["practitioner"]["point_of_care"]["id"] = org
        apply(att, rc.edits)
        if "toa" in att:
            att["toa"] = resolve_placeholders(att["toa"], forge.now, forge.now - 60)
        claims = dict(rc.claims)
        if "attestation" in claims:
            att = claims.pop("attestation")
        token = forge.token(cid, att, party=party, **claims)
        expect = rc.expectation(test)
        out.append(
            _case(
                forge,
                id=cid,
                group="rules",
                rule=rc.rule,
                covers=rc.covers,
                description=rc.description,
                token=token,
                context=_context(forge, rc.context),
                expect=expect,
                signed_by="issuer" if party is forge.issuer else "other-issuer",
            )
        )
    return out


def _attack_cases(forge: Forge, include_all: bool) -> tuple[list[Case], dict[str, dict[str, Any]]]:
    out, variants = [], {}
    for cls, v in all_variants(forge, core_only=not include_all):
        cid = f"attack-{cls.lower()}-{v.name}"
        trust = None
        if v.trust is not None:
            trust = f"trust-variants/{cid}.yaml"
            variants[trust] = v.trust
        rule = v.expect.rules[0] if v.expect.rules else cls
        # algorithm, signature and key classes are what ATT-2 asks a verifier to check
        covers = (cls, "ATT-2") if cls[0] in "ABC" else (cls,)
        out.append(
            _case(
                forge,
                id=cid,
                group="attacks",
                rule=rule,
                covers=covers,
                description=v.description,
                token=v.token,
                context=_context(forge, v.context),
                expect=v.expect,
                signed_by=v.signed_by,
                prelude=v.prelude,
                prelude_expect=v.prelude_expect,
                requires=v.requires,
                trust=trust,
                tags=v.tags,
            )
        )
    return out, variants


def _example_cases(forge: Forge, test: bool) -> list[Case]:
    out = []
    examples = spec_examples()
    for ex in example_cases():
        att = deep(examples[ex.name])
        att["toa"] = forge.now - 60
        cid = f"example-{ex.slug}"
        expect = permit(*ex.covers) if test else ex.expect_production
        out.append(_case(forge, id=cid, group="examples", rule=ex.covers[0], covers=ex.covers,
                         description=ex.description + (" (test profile: accepted with warnings)" if test else
                                                       " (with toa): rejected for its known defects"),
                         token=forge.token(cid, att), context=_context(forge, {}), expect=expect))
        fixed = apply(deep(att), ex.repair)
        rid = f"{cid}-repaired"
        out.append(
            _case(
                forge,
                id=rid,
                group="examples",
                rule=ex.covers[0],
                covers=ex.covers,
                description=ex.description.replace("as published", "repaired")
                + " (valid patient id, decision_ref, purpose_of_use): accepted",
                token=forge.token(rid, fixed),
                context=_context(forge, {}),
                expect=permit(*ex.covers),
            )
        )
    return out


def _valid_cases(forge: Forge) -> list[Case]:
    out = []
    for vc in valid_cases():
        cid = f"valid-{vc.slug}"
        att = apply(forge.attestation(), vc.edits)
        if "toa" in att:
            att["toa"] = resolve_placeholders(att["toa"], forge.now, forge.now - 60)
        key = forge.issuer.keys[vc.key] if vc.key else None
        token = forge.token(cid, att, key=key, **vc.claims)
        out.append(
            _case(
                forge,
                id=cid,
                group="valid",
                rule=vc.rule,
                covers=vc.covers,
                description=vc.description,
                token=token,
                context=_context(forge, vc.context),
                expect=permit(vc.rule),
            )
        )
    return out


def build_corpus(*, profile: str = "tillitsrammeverk-1.1", now: int | None = None, seed: str = DEFAULT_SEED,
                 audience: str = DEFAULT_AUDIENCE, iss: str = DEFAULT_ISSUER, issuer_key: Any = None,
                 issuer_kid: str | None = None, issuer_alg: str | None = None,
                 all_variants: bool = False) -> Built:
    """Build every case in memory. ``now`` defaults to the clock (so expiry cases stay robust for about an
    hour against targets that use their own clock)."""
    if profile not in SUPPORTED_PROFILES:
        raise GenerateError(f"the conformance corpus supports profiles {', '.join(SUPPORTED_PROFILES)}, "
                            f"not {profile!r}")
    now = int(time.time()) if now is None else int(now)
    try:
        forge = Forge.generate(seed=seed, now=now, audience=audience, iss=iss, issuer_key=issuer_key,
                               issuer_kid=issuer_kid, issuer_alg=issuer_alg)
    except ValueError as exc:
        raise GenerateError(str(exc)) from exc
    test = profile == TEST_PROFILE
    cases = _rule_case_tokens(forge, test)
    attacks, variants = _attack_cases(forge, all_variants)
    cases += attacks
    cases += _example_cases(forge, test)
    cases += _valid_cases(forge)
    ids = [c.id for c in cases]
    if len(ids) != len(set(ids)):  # pragma: no cover - a programming error in the case tables
        raise RuntimeError("duplicate case ids")
    meta = {
        "format": FORMAT,
        "generator": f"attest {__version__}",
        "profile": profile,
        "seed": seed,
        "now": now,
        "audience": audience,
        "variants": "all" if all_variants else "core",
        "issuers": [
            {
                "iss": p.iss,
                "role": role,
                "member": p.member,
                "legal_entities": list(p.legal_entities),
                "keys": [{"kid": k.kid, "alg": k.alg} for k in p.keys.values()],
            }
            for role, p in (
                ("issuer", forge.issuer),
                ("other-issuer", forge.other_issuer),
                ("non-member", forge.non_member),
            )
        ],
        "counts": {
            g: sum(1 for c in cases if c.group == g) for g in ("rules", "attacks", "examples", "valid")
        },
        "coverage": coverage(cases),
        "notes": [
            "TEST MATERIAL ONLY: the keys are derived from a public seed.",
            "Configure the target with trust.yaml, audience and profile as above.",
            "time.window: for targets that use their own clock, the unix-time interval in which the expected "
            "decision holds (leeway 0-60 s); an empty window: only a target given 'now' can run the case.",
        ],
    }
    corpus = Corpus(cases, meta)
    return Built(corpus, forge, forge.trust_document(), variants)


_TRUST_HEADER = """\
# TEST MATERIAL ONLY: trust store for an attest conformance corpus (CONTRACT.md section 2).
# The keys are derived from a public seed: never trust them outside a test environment.
# Issuer A signs the valid attestations; B is another trusted organisation; C is trusted but not a
# Helsenett member (ATT-12). Configure the verifier under test with this file and audience {audience!r}.
"""


def write_corpus(built: Built, out: str | Path, *, force: bool = False) -> Path:
    """Write the corpus directory; refuses to write into a non-empty directory unless ``force``."""
    root = Path(out)
    if root.exists() and any(root.iterdir()) and not force:
        raise GenerateError(f"{root} is not empty (use --force to overwrite)")
    root.mkdir(parents=True, exist_ok=True)
    forge = built.forge
    (root / "jwks").mkdir(exist_ok=True)
    files: dict[str, str] = {}
    for role, p in (
        ("issuer-a", forge.issuer),
        ("issuer-b", forge.other_issuer),
        ("issuer-c", forge.non_member),
    ):
        rel = f"jwks/{role}.json"
        write_json(root / rel, p.jwks())
        files[p.iss] = rel
    doc = forge.trust_document(files)
    (root / "trust.yaml").write_text(
        _TRUST_HEADER.format(audience=forge.audience)
        + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    if built.trust_variants:
        (root / "trust-variants").mkdir(exist_ok=True)
        for rel, variant in built.trust_variants.items():
            (root / rel).write_text(
                "# TEST MATERIAL ONLY: a deliberately broken trust store (attack class C7);\n"
                "# a verifier must refuse to load it.\n"
                + yaml.safe_dump(variant, sort_keys=False, allow_unicode=True),
                encoding="utf-8",
            )
    save_cases(built.corpus, root)
    built.corpus.root = root
    return root
