"""The conformance corpus: the case model, the manifest, reading and writing a corpus directory, and the
coverage catalogue (which rules of RULES.md section b and which attack classes of JWT_ATTACKS.md section 1
a corpus must cover).

A corpus directory holds::

    manifest.json          corpus metadata + one entry per case (everything but the token)
    trust.yaml             the issuers' trust store (CONTRACT.md section 2): configure the target with it
    jwks/*.json            the issuers' public keys (referenced from trust.yaml)
    trust-variants/*.yaml  broken trust stores for the trust-store hygiene cases (attack class C7)
    cases/<id>.json        one file per case: the token, the verify context and the expectation

A HelseID corpus (``kind: helseid`` in the manifest, :mod:`attest.conformance.helseid_corpus`) holds
recipes instead of tokens: each case says how to mint an access token, a DPoP proof and the HTTP request at
run time, with key material the corpus itself carries.

A SAML corpus (``kind: saml``, :mod:`attest.conformance.saml_corpus`) holds signed SAML 2.0 assertions as the
cases' tokens (XML text, or base64 where the bytes are no UTF-8 text), and a trust store with the test SAML
issuer's certificates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

FORMAT = "attest-conformance-corpus/1"

GROUPS = ("rules", "attacks", "examples", "valid", "helseid-valid", "helseid-token", "helseid-dpop",
          "saml-valid", "saml-rules", "saml-conditions", "saml-attacks")
SAML_GROUPS = ("saml-valid", "saml-rules", "saml-conditions", "saml-attacks")

#: ``kind`` of a HelseID corpus's manifest (absent: a corpus of self-signed attestation tokens)
HELSEID_KIND = "helseid"
#: ``kind`` of a SAML corpus's manifest
SAML_KIND = "saml"

#: codes whose presence depends on the evaluation time
TIME_CODES = frozenset({"token_expired", "token_not_yet_valid", "attestation_has_expired", "toa_in_future"})


@dataclass(frozen=True)
class Expectation:
    """What a conforming verifier decides for a case.

    ``errors`` is the exact set of error codes (CONTRACT.md section 5) of the decision document; a permit
    has none. ``rules`` are the rule ids the findings should carry (ATT ids, or the RFC sections this
    library reports for token-level findings); they are compared as a note, not a failure, unless the run
    asks for it. ``accept_also`` lists other code sets a contract-faithful verifier may legitimately
    report where the contract leaves the order of checks open (an attacker-signed token whose header is
    also bad may be refused for either reason). ``trust_refused``: the case's trust store is itself broken
    and must be refused (attack class C7); any outcome but ``permit`` passes. ``warnings``: the exact set of
    warning codes, compared when the target reports them (None: not stated; a SAML corpus states them).
    """

    decision: str
    errors: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    accept_also: tuple[tuple[str, ...], ...] = ()
    trust_refused: bool = False
    warnings: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.decision not in ("permit", "deny"):
            raise ValueError("decision must be permit or deny")
        if (self.decision == "permit") != (not self.errors) and not self.trust_refused:
            raise ValueError("a permit has no errors and a deny has at least one")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "decision": self.decision,
            "errors": list(self.errors),
            "rules": list(self.rules),
        }
        if self.accept_also:
            d["accept_also"] = [list(a) for a in self.accept_also]
        if self.trust_refused:
            d["trust_refused"] = True
        if self.warnings is not None:
            d["warnings"] = list(self.warnings)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Expectation:
        warnings = d.get("warnings")
        return cls(str(d["decision"]), tuple(d.get("errors", ())), tuple(d.get("rules", ())),
                   tuple(tuple(a) for a in d.get("accept_also", ())), bool(d.get("trust_refused", False)),
                   tuple(warnings) if isinstance(warnings, list) else None)

    def with_warnings(self, *codes: str) -> Expectation:
        """This expectation, stating the exact set of warning codes."""
        return replace(self, warnings=tuple(sorted(set(codes))))

    def code_sets(self) -> list[frozenset[str]]:
        return [frozenset(self.errors), *(frozenset(a) for a in self.accept_also)]

    def short(self) -> str:
        if self.decision == "permit":
            return "permit" + (f" (warnings {','.join(self.warnings)})" if self.warnings else "")
        if self.trust_refused:
            return "refuse trust store"
        return "deny " + ",".join(self.errors)


def permit(*rules: str) -> Expectation:
    return Expectation("permit", (), tuple(rules))


def deny(codes: str | Iterable[str], rules: str | Iterable[str] = (), *,
         accept_also: Iterable[Iterable[str]] = ()) -> Expectation:
    cs = (codes,) if isinstance(codes, str) else tuple(codes)
    rs = (rules,) if isinstance(rules, str) else tuple(rules)
    return Expectation("deny", tuple(sorted(set(cs))), tuple(dict.fromkeys(rs)),
                       tuple(tuple(sorted(set(a))) for a in accept_also))


@dataclass(frozen=True)
class Case:
    """One conformance case.

    ``rule``: the rule the case is about: for a deny, the id the verifier should report for the violated
    rule (an ATT id, or an RFC section for token-level rules); for a permit, the rule it exercises.
    ``covers``: the RULES.md rule ids and JWT_ATTACKS.md class ids this case counts for (coverage).
    ``context``: the verify context (CONTRACT.md section 3): ``audience``, ``now`` and, where the rule
    needs it, ``authenticated_pid``, ``authenticated_hpr``, ``patient_id``.
    ``prelude``: tokens to present first, in order (replay cases); ``prelude_expect`` the decision each must
    get (default: permit).
    ``requires``: what the target needs beyond the standard trust store: ``replay`` (a replay cache),
    ``trust-variant`` (load the case's own trust store, attack class C7).
    ``window``: ``[lo, hi]`` wall-clock unix times (None = unbounded) within which the expected decision
    holds for a verifier that uses its own clock (leeway 0-60 s); None when the case does not depend on
    time; ``[]`` never (the decision depends on the exact second: only targets given ``now`` can run it).
    ``recipe``: a HelseID case (then ``token`` is empty): how the runner mints the access token, the DPoP
    proof and the request at run time (:mod:`attest.conformance.helseid_mint`).
    """

    id: str
    group: str
    rule: str
    covers: tuple[str, ...]
    description: str
    token: str
    context: dict[str, Any]
    expect: Expectation
    signed_by: str = "issuer"
    prelude: tuple[str, ...] = ()
    prelude_expect: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    trust: str | None = None
    window: tuple[int | None, int | None] | None = None
    window_empty: bool = False
    tags: tuple[str, ...] = ()
    recipe: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"{self.id}: unknown group {self.group!r}")
        if "\n" in self.description or not self.description:
            raise ValueError(f"{self.id}: a description is one non-empty line")

    def meta(self) -> dict[str, Any]:
        """The manifest entry (no token)."""
        d: dict[str, Any] = {
            "id": self.id, "group": self.group, "rule": self.rule, "covers": list(self.covers),
            "description": self.description, "expect": self.expect.to_dict(), "signed_by": self.signed_by,
            "file": f"cases/{self.id}.json",
        }
        if self.requires:
            d["requires"] = list(self.requires)
        if self.trust:
            d["trust"] = self.trust
        d["time"] = self.time_info()
        if self.tags:
            d["tags"] = list(self.tags)
        return d

    def time_info(self) -> dict[str, Any]:
        if self.window_empty:
            return {"sensitive": True, "window": []}
        if self.window is None:
            return {"sensitive": False}
        return {"sensitive": True, "window": list(self.window)}

    def to_dict(self) -> dict[str, Any]:
        d = self.meta()
        d.pop("file")
        d["token"] = self.token
        d["context"] = self.context
        if self.recipe is not None:
            d["recipe"] = self.recipe
        if self.prelude:
            d["prelude"] = list(self.prelude)
            if any(e != "permit" for e in self.prelude_decisions()):
                d["prelude_expect"] = list(self.prelude_decisions())
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Case:
        t = d.get("time", {})
        window: tuple[int | None, int | None] | None = None
        empty = False
        if t.get("sensitive"):
            w = t.get("window", [])
            if w:
                window = (w[0], w[1])
            else:
                empty = True
        return cls(
            id=str(d["id"]), group=str(d["group"]), rule=str(d["rule"]), covers=tuple(d.get("covers", ())),
            description=str(d["description"]), token=str(d["token"]), context=dict(d.get("context", {})),
            expect=Expectation.from_dict(d["expect"]), signed_by=str(d.get("signed_by", "issuer")),
            prelude=tuple(d.get("prelude", ())), prelude_expect=tuple(d.get("prelude_expect", ())),
            requires=tuple(d.get("requires", ())), trust=d.get("trust"),
            window=window, window_empty=empty, tags=tuple(d.get("tags", ())),
            recipe=dict(d["recipe"]) if isinstance(d.get("recipe"), dict) else None,
        )

    def prelude_decisions(self) -> tuple[str, ...]:
        return self.prelude_expect or ("permit",) * len(self.prelude)

    def open_at(self, t: float) -> bool:
        """True if a verifier using its own clock at ``t`` should reach the expected decision."""
        if self.window_empty:
            return False
        if self.window is None:
            return True
        lo, hi = self.window
        return (lo is None or t >= lo) and (hi is None or t <= hi)


@dataclass
class Corpus:
    """A set of cases with the metadata they were generated for."""

    cases: list[Case]
    meta: dict[str, Any] = field(default_factory=dict)
    root: Path | None = None

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases)

    def __len__(self) -> int:
        return len(self.cases)

    def by_id(self) -> dict[str, Case]:
        return {c.id: c for c in self.cases}

    @property
    def kind(self) -> str | None:
        """``helseid`` for a HelseID corpus (recipes), ``saml`` for a SAML corpus (signed assertions), None for a
        corpus of attestation tokens."""
        kind = self.meta.get("kind")
        return kind if isinstance(kind, str) else None

    @property
    def trust_path(self) -> Path | None:
        return None if self.root is None else self.root / "trust.yaml"

    def path(self, relative: str) -> Path:
        if self.root is None:
            raise ValueError("this corpus has no directory")
        return self.root / relative

    def select(self, only: Iterable[str] = (), exclude: Iterable[str] = ()) -> Corpus:
        """Cases whose id, rule, group or any covered id matches a glob in ``only`` (all if empty) and
        none in ``exclude``."""
        from fnmatch import fnmatchcase

        only, exclude = list(only), list(exclude)

        def keys(c: Case) -> list[str]:
            return [c.id, c.rule, c.group, *c.covers, *c.tags]

        def hit(c: Case, globs: list[str]) -> bool:
            return any(fnmatchcase(k, g) for k in keys(c) for g in globs)

        picked = [c for c in self.cases if (not only or hit(c, only)) and not hit(c, exclude)]
        meta = dict(self.meta)
        if only or exclude:
            meta["selection"] = {"only": only, "exclude": exclude, "of": len(self.cases)}
        return Corpus(picked, meta, self.root)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def save_cases(corpus: Corpus, out: Path) -> None:
    (out / "cases").mkdir(parents=True, exist_ok=True)
    for c in corpus.cases:
        write_json(out / "cases" / f"{c.id}.json", c.to_dict())
    manifest = dict(corpus.meta)
    manifest["cases"] = [c.meta() for c in corpus.cases]
    write_json(out / "manifest.json", manifest)


class CorpusError(Exception):
    """The corpus directory cannot be read (the message names the file)."""


def load_corpus(directory: str | Path) -> Corpus:
    """Read a corpus directory written by ``attest conformance generate``."""
    root = Path(directory)
    mpath = root / "manifest.json"
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"{mpath}: cannot read the manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CorpusError(f"{mpath}: not a conformance corpus manifest (format {FORMAT})")
    cases: list[Case] = []
    for entry in manifest.get("cases", []):
        file = entry.get("file", "")
        if not isinstance(file, str) or file.startswith(("/", "\\")) or ".." in Path(file).parts:
            raise CorpusError(f"{mpath}: case file {file!r} is outside the corpus")
        cpath = root / file
        try:
            cases.append(Case.from_dict(json.loads(cpath.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorpusError(f"{cpath}: cannot read the case ({exc})") from exc
    meta = {k: v for k, v in manifest.items() if k != "cases"}
    return Corpus(cases, meta, root)


# --- coverage catalogue ------------------------------------------------------------------------------------

#: The machine-checkable rules of RULES.md section b (MECH, and CTX where the contract's verify context or
#: trust store carries the input), with a short title. Each needs at least one case.
MACHINE_CHECKABLE_RULES: dict[str, str] = {
    "ATT-1": "attestation is a JSON object of the expected shape",
    "ATT-2": "signed (no alg none), trusted key, valid signature, allowed algorithm",
    "ATT-4": "patients bound; known patient identifier system; request's patient is attested",
    "ATT-6": "unbound attestation (no patients) is valid but unlocks no single patient",
    "ATT-10": "practitioner identified by F- or D-number (system and number)",
    "ATT-11": "attested practitioner is the authenticated user",
    "ATT-12": "organisation is a Helsenett member",
    "ATT-13": "signer may attest for the legal entity",
    "ATT-15": "legal_entity: present, org-number system, valid org number",
    "ATT-18a": "point_of_care: present, valid org number",
    "ATT-18b": "point_of_care system is the org-number OID",
    "ATT-19": "point_of_care equal to legal_entity is allowed",
    "ATT-24": "department may be absent",
    "ATT-28": "department has system (absolute URI) and authority",
    "ATT-29a": "hpr_nr: HPR system, 1-9 digits",
    "ATT-29b": "hpr_nr equals the authenticated user's HPR number",
    "ATT-32": "authorization: 9060 system and code",
    "ATT-36": "healthcare_service may be absent when purpose_of_use_details explains the access",
    "ATT-37": "healthcare_service: one of the ten code systems, non-empty code",
    "ATT-38": "purpose_of_use: present, PurposeOfUse system, TREAT",
    "ATT-39": "purpose_of_use ETREAT",
    "ATT-40": "purpose_of_use COC",
    "ATT-41": "purpose_of_use BTG",
    "ATT-43a": "healthcare_service or purpose_of_use_details present",
    "ATT-45": "purpose_of_use_details: absolute-URI system; known lists' codes",
    "ATT-46": "decision_ref: present, non-empty string id",
    "ATT-48": "decision_ref.user_selected is a JSON boolean",
    "ATT-49": "patients[].point_of_care: org-number system, valid org number",
    "ATT-50": "patients[].point_of_care equal to legal_entity is allowed",
    "ATT-53": "patients[].department: as ATT-28",
    "ATT-55": "patients[].department may be an org number",
    "ATT-58a": "toa: present, integer unix seconds",
    "ATT-58c": "attestation_has_expired after 3600 s; toa not in the future",
}

#: Rules of RULES.md section b the corpus cannot test, and why.
NOT_MACHINE_CHECKABLE: dict[str, str] = {
    "ATT-3": "transport/at-rest encryption: not visible in the token",
    "ATT-5": "patient blocks: registry (REG)",
    "ATT-9": "assurance level of the login: in the login token, not in the attestation or verify context",
    "ATT-7, 8, 16, 20, 21-23, 25-27, 31, 33-35, 42, 43b, 44, 47, 51, 52, 54, 56, 57, 58b":
        "guidance, logging/display duties, registry heuristics or issuer-side duties",
}

#: The attack classes of JWT_ATTACKS.md section 1.
ATTACK_CLASSES: dict[str, str] = {
    "A1": "alg_none_variants", "A2": "alg_edge_values", "A3": "alg_not_allowlisted",
    "A4": "hmac_key_confusion", "A5": "alg_key_type_mismatch", "A6": "alg_family_swap_same_key",
    "B1": "ecdsa_psychic_zero", "B2": "ecdsa_range", "B3": "ecdsa_wrong_encoding_or_length",
    "B4": "ecdsa_high_s_malleable", "B5": "rsa_signature_length_and_value", "B6": "eddsa_noncanonical",
    "B7": "signature_transplant",
    "C1": "header_jwk_embedded", "C2": "header_jku_x5u", "C3": "header_x5c_injection", "C4": "kid_injection",
    "C5": "kid_degenerate", "C6": "key_of_other_issuer", "C7": "truststore_hygiene",
    "D1": "crit_unknown_or_malformed", "D2": "b64_unencoded_payload", "D3": "typ_confusion",
    "D4": "cty_nested_jwt", "D5": "jwe_or_enc_in_jws", "D6": "json_serialization_and_polyglot",
    "D7": "unknown_header_params",
    "E1": "duplicate_members", "E2": "non_utf8_and_bom", "E3": "json_nonstandard_literals",
    "E4": "invalid_or_non_object_json", "E5": "deep_nesting_and_big_numbers",
    "F1": "b64_padding", "F2": "b64_alphabet_whitespace_garbage", "F3": "b64_noncanonical_bits",
    "F4": "segment_count", "F5": "token_size",
    "G1": "exp_type_confusion", "G2": "time_window", "G3": "missing_required_claims",
    "H1": "iss_mismatch_and_partial", "H2": "aud_variants", "H3": "sub_jti_types", "H4": "unicode_tricks",
    "I1": "jti_replay",
    "J1": "unverified_decode_paths", "J2": "exception_escape",
}


#: What a HelseID corpus covers (HELSEID.md sections 9-11 and 14): a valid request, and every check of the
#: resource server that a client can trigger from outside, by the code a refusal carries.
HELSEID_CHECKS: dict[str, str] = {
    "permit": "section 9: a valid access token and DPoP proof (the patient in the request) is permitted",
    "multiple_audiences": "section 10: more than one audience is a warning, not a refusal",
    "invalid_token_type": "section 10: typ is at+jwt or JWT",
    "unsupported_algorithm": "section 10: alg is in the authorization server's allow-list",
    "unknown_key": "section 10: the key is found by iss + kid in the authorization server's JWKS",
    "invalid_signature": "section 10: the signature verifies with the authorization server's key",
    "unknown_issuer": "section 10: iss equals the configured issuer exactly",
    "invalid_audience": "section 10: aud contains the configured audience",
    "token_expired": "section 10: exp (leeway 5 s)",
    "token_not_yet_valid": "section 10: nbf and iat (leeway 5 s)",
    "lifetime_too_long": "section 10: exp - iat <= 3600",
    "missing_claim": "section 10: client_id present",
    "insufficient_scope": "sections 10, 14: every required scope granted",
    "invalid_person_identifier": "section 10: the user's pid is a valid F- or D-number",
    "insufficient_security_level": "sections 10, 14: security level 4 or assurance level high (ATT-9)",
    "missing_attestation": "section 9: the attestation is in the token",
    "attestation_rules": "section 10: the rules of RULES.md section b run on the attestation",
    "practitioner_mismatch": "section 10: practitioner.identifier.id equals the pid claim (ATT-11)",
    "hpr_mismatch": "section 10: hpr_nr.id equals the hpr_number claim (ATT-29b)",
    "legal_entity_mismatch": "section 10: legal_entity.id equals orgnr_parent",
    "point_of_care_mismatch": "sections 10, 14: point_of_care.id equals orgnr_child",
    "dpop_required": "sections 11, 14: a DPoP-bound token presented as Bearer, or an unbound one",
    "dpop_proof_missing": "sections 11, 14: the DPoP scheme without a proof",
    "invalid_dpop_proof": "sections 11, 14: the proof is one well-formed, correctly signed dpop+jwt",
    "dpop_key_mismatch": "sections 11, 14: the proof's key is the token's cnf.jkt",
    "dpop_ath_mismatch": "sections 11, 14: ath is the hash of the access token",
    "dpop_htm_mismatch": "sections 11, 14: htm is the request method",
    "dpop_htu_mismatch": "sections 11, 14: htu is the request URL",
    "dpop_proof_expired": "sections 11, 14: iat within max age (10 s) and leeway (5 s)",
    "dpop_replayed": "sections 11, 14: a proof is single-use",
}

#: The broken-proof switches of HelseID's test-token service (HELSEID.md section 11): each must be refused.
DPOP_SWITCHES: dict[str, str] = {
    "switch-no-htu": "no htu", "switch-no-htm": "no htm", "switch-iat-past": "iat in the past",
    "switch-iat-future": "iat in the future", "switch-no-ath": "no ath", "switch-no-alg": "no alg",
    "switch-no-jwk": "no jwk", "switch-no-jti": "no jti", "switch-symmetric-alg": "symmetric alg",
    "switch-private-jwk": "private key in jwk", "switch-wrong-typ": "wrong typ",
    "switch-bad-signature": "bad signature", "switch-wrong-jkt": "wrong jkt in the token",
    "switch-replay": "the same proof twice",
}

#: What a HelseID corpus cannot test from outside, and why.
HELSEID_NOT_TESTED: dict[str, str] = {
    "context authenticated_pid / authenticated_hpr": "given by the resource server, not by the client",
    "JWKS caching and refetching (section 12)": "a property of the key source, not of one request",
    "server-provided nonces (RFC 9449 section 9)": "optional in HELSEID.md section 11",
}


#: What a SAML corpus covers (issue 14; attest.verify_saml): a valid assertion, and every check of a SAML
#: verifier, by the code a refusal (or a warning) carries.
SAML_CHECKS: dict[str, str] = {
    "permit": "a valid assertion of a trusted SAML issuer, signed with its pinned certificate or with a certificate "
              "that chains to its CA, is permitted",
    "invalid_saml": "one well-formed SAML 2.0 saml:Assertion (Version 2.0, ID, IssueInstant, Issuer) within the "
                    "size, depth and element caps; no DTD, entity, other encoding or processing instruction",
    "not_a_health_personnel_attestation": "DM 6.3: a citizen's (helsenorge) assertion is refused, whoever signed it",
    "unknown_issuer": "the Issuer is a SAML issuer of the trust store (compared exactly)",
    "unknown_key": "a pinned certificate of the issuer, or a KeyInfo certificate that chains to its CA, valid at "
                   "the evaluation time",
    "unsupported_algorithm": "exclusive c14n and RSA/ECDSA with SHA-256 or stronger; never SHA-1 or HMAC",
    "invalid_signature": "one enveloped signature over the root's ID with the trusted certificate; no wrapping, no "
                         "other key source; digest and value verify",
    "missing_claim": "SAML core 2.4-2.5: Subject/NameID, SubjectConfirmation, Conditions, NotOnOrAfter present",
    "invalid_claim": "SAML core 2.4-2.5: every condition understood, the subject confirmation method accepted",
    "token_expired": "Conditions NotOnOrAfter, SessionNotOnOrAfter, SubjectConfirmationData NotOnOrAfter "
                     "(leeway 30 s)",
    "token_not_yet_valid": "IssueInstant, NotBefore, AuthnInstant not in the future (leeway 30 s)",
    "lifetime_too_long": "NotOnOrAfter - NotBefore at most 3600 s",
    "invalid_audience": "SAML core 2.5.1.4: every AudienceRestriction names this verifier's audience; 2.4.1.2: a "
                        "SubjectConfirmationData Recipient is this verifier",
    "token_replayed": "SAML core 2.5.1.5: an assertion with OneTimeUse is accepted once (needs the target's "
                      "replay cache)",
    "insufficient_security_level": "ATT-9: SecurityLevel 4",
    "invalid_field": "DM 6.3: attributes unambiguous and well-formed (HL7 values parsed with the same hardening); "
                     "free text without control characters (a warning)",
    "missing_field": "the attestation's required fields, mapped from NameID and the attributes, are present",
    "invalid_identifier_system": "ATT-18b: organisation identifiers name the organisation-number OID",
    "invalid_person_identifier": "ATT-10, ATT-4: the practitioner's NameID and the patient's resource-id are valid "
                                 "F- or D-numbers",
    "invalid_organization_number": "ATT-15: organisation numbers pass mod-11",
    "invalid_hpr_number": "ATT-29a: the npi (HPR number) is 1-9 digits",
    "invalid_code_system": "ATT-32, 37, 38: role, healthcare service and purpose of use name their code systems",
    "invalid_code": "ATT-32, 38, 45: codes are in their complete code lists",
    "missing_care_relation_detail": "ATT-43a: a healthcare service or purpose-of-use details",
    "invalid_decision_ref": "ATT-46, 48: decision-ref has an id; user-selected is true or false",
    "legal_entity_mismatch": "ATT-13: the SAML issuer may vouch for the legal entity (trust store legal_entities)",
    "practitioner_mismatch": "ATT-11: the subject is the authenticated user, when the context names one",
    "hpr_mismatch": "ATT-29b: the npi is the authenticated user's HPR number, when the context names one",
    "patient_not_in_attestation": "ATT-4, ATT-6: the request's patient is the assertion's resource-id",
    "context_not_provided": "warning: the request names no patient, so the patient binding was not checked",
    "advisory": "warning: a role without an HPR number (ATT-32), break the glass not self-selected (ATT-41)",
    "deprecated_code": "warning: a retired code (accepted on verify)",
}

#: The attack classes of a SAML corpus (tests/test_saml_attacks.py and its sources).
SAML_ATTACK_CLASSES: dict[str, str] = {
    "XSW1": "signature wrapping: an evil Response, the signed Response inside its Signature",
    "XSW2": "signature wrapping: an evil Response, the signed Response before a detached signature",
    "XSW3": "signature wrapping: an evil assertion with the signed one's ID, the signed one beside it",
    "XSW4": "signature wrapping: the evil assertion wraps the signed one",
    "XSW5": "signature wrapping: the evil assertion carries the signature, the signed one elsewhere",
    "XSW6": "signature wrapping: the signed assertion inside the signature the evil one carries",
    "XSW7": "signature wrapping: the signed assertion in an extension element",
    "XSW8": "signature wrapping: the signed assertion in the signature's ds:Object",
    "comment-in-nameid": "a comment inside a signed NameID or attribute value (truncation)",
    "unsigned": "no signature, or the signature removed",
    "reference-elsewhere": "the signature's Reference is not the assertion root's ID",
    "duplicate-ids": "an ID value twice, or two signatures",
    "transforms": "transforms other than enveloped-signature then exclusive c14n",
    "content-changed": "signed content changed after signing",
    "not-an-assertion": "the signed assertion inside another root element (a SOAP envelope)",
    "foreign-keyinfo": "the key in KeyInfo is not the pinned certificate's, or KeyInfo names another key source",
    "enveloping-signature": "an enveloping instead of an enveloped signature",
    "xxe": "external entities and XInclude",
    "billion-laughs": "entity expansion (billion laughs, quadratic blowup)",
    "dtd": "a DOCTYPE or DTD in any form and encoding",
    "xml-prolog": "a declared encoding other than UTF-8, a processing instruction",
    "huge-document": "over the size, depth, element or attribute-value caps",
    "sha1": "SHA-1 signature or digest",
    "weak-algorithm": "HMAC, or a canonicalization other than exclusive c14n",
    "rsa-1024": "a 1024-bit RSA key",
    "untrusted-signer": "an issuer the trust store does not name, a pinned certificate no longer valid",
    "ca-chain": "for an issuer trusted through a CA: no KeyInfo, an intermediate missing, an expired signing "
                "certificate or one without digitalSignature, an impostor CA with the root's name, a CA's own key "
                "signing, a self-signed certificate, another key; and a CA-issued certificate for the other issuer",
}

#: What a SAML corpus does not test, and why.
SAML_NOT_TESTED: dict[str, str] = {
    "SubjectConfirmationData InResponseTo": "advisory only (a XUA assertion answers no request of the verifier's): "
                                            "attest warns, a verifier may ignore it",
    "ECDSA and RSA-PSS signatures": "randomised signatures; the corpus is deterministic (RSA PKCS#1 v1.5 only)",
    "encrypted assertions and EncryptedID": "not accepted by attest (an EncryptedID is a missing NameID)",
}

#: codes attest.verify_saml may give that no case of a SAML corpus expects (see SAML_NOT_TESTED)
SAML_UNTESTED_CODES: dict[str, str] = {}


@dataclass(frozen=True)
class Catalogue:
    """One coverage table: ``kind`` (row kind in reports), ``key`` (its name in the manifest's
    ``coverage``), the table titles and the entries (id -> title)."""

    kind: str
    key: str
    coverage_title: str
    results_title: str
    entries: dict[str, str]


_DEFAULT_CATALOGUES = (
    Catalogue("rule", "rules", "Coverage: machine-checkable rules (RULES.md section b)",
              "Results by rule (RULES.md section b)", MACHINE_CHECKABLE_RULES),
    Catalogue("attack", "attacks", "Coverage: attack classes (JWT_ATTACKS.md section 1)",
              "Results by attack class (JWT_ATTACKS.md section 1)", ATTACK_CLASSES),
)
_HELSEID_CATALOGUES = (
    Catalogue("check", "checks", "Coverage: HelseID checks (HELSEID.md sections 9-11, 14)",
              "Results by check (HELSEID.md sections 9-11, 14)", HELSEID_CHECKS),
    Catalogue("switch", "switches", "Coverage: broken-proof switches (HELSEID.md section 11)",
              "Results by broken-proof switch (HELSEID.md section 11)", DPOP_SWITCHES),
)


_SAML_CATALOGUES = (
    Catalogue("check", "checks", "Coverage: SAML checks (issue 14, attest.verify_saml)",
              "Results by SAML check (issue 14, attest.verify_saml)", SAML_CHECKS),
    Catalogue("attack", "attacks", "Coverage: SAML attack classes (tests/test_saml_attacks.py)",
              "Results by SAML attack class", SAML_ATTACK_CLASSES),
)


def catalogues(kind: str | None = None) -> tuple[Catalogue, ...]:
    """The coverage tables of a corpus kind (None: attestation tokens; ``helseid``; ``saml``)."""
    if kind == HELSEID_KIND:
        return _HELSEID_CATALOGUES
    return _SAML_CATALOGUES if kind == SAML_KIND else _DEFAULT_CATALOGUES


def coverage(cases: Iterable[Case], kind: str | None = None) -> dict[str, dict[str, int]]:
    """Case counts per catalogue entry: ``{"rules": {id: n}, "attacks": {id: n}}`` (a HelseID corpus:
    ``{"checks": …, "switches": …}``; a SAML corpus: ``{"checks": …, "attacks": …}``)."""
    tables = catalogues(kind)
    counts = {t.key: dict.fromkeys(t.entries, 0) for t in tables}
    for c in cases:
        for k in c.covers:
            for t in tables:
                if k in counts[t.key]:
                    counts[t.key][k] += 1
                    break
    return counts
