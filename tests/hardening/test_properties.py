"""Property-based tests (hypothesis) on the parser, the verifier and the model.

What each property promises is what the public API documents:

* ``parse_compact`` raises nothing but ``JoseError`` for any input;
* ``verify`` never raises for token content (only for wrong argument types, an unknown profile or a replay
  cache that cannot answer) and its decision is consistent: ``permit`` exactly when ``errors`` is empty,
  every code from ``attest.errors.ERROR_CODES``, the decision document serialisable as UTF-8 JSON;
* ``inspect`` never raises for bad input;
* a valid token changed in any way (one character flipped, dropped, inserted, case changed, segments
  swapped, ``=`` padding added) is never permitted unless the change is a no-op;
* ``normalise`` never raises, never mutates its input, emits only spec spelling and is idempotent;
* no finding message quotes a national identity number, wherever the token put it.

Example counts are bounded (``max_examples`` 200-500, no deadline) so the whole module stays at about 20 s
on two cores; set ``ATTEST_HYPOTHESIS_SCALE`` to multiply them for a deeper search.
"""

from __future__ import annotations

import copy
import json
import os
import string
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attest import ERROR_CODES, MemoryReplayCache, VerifyContext, inspect, verify
from attest.jose import JoseError, b64url, json_bytes, parse_compact, sign_compact
from attest.model import locate, normalise

from ..support.tokens import AUDIENCE, NOW, claims_for, make_token, org, trust_store, valid_attestation

CTX = VerifyContext(audience=AUDIENCE, now=NOW)
ORGS = ("fagersta", "oslo-kommune", "ous", "epj-vendor")  # ES256, PS256, RS256, EdDSA
B64URL = string.ascii_letters + string.digits + "-_"

_BASE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def bounded(max_examples: int) -> settings:
    """CI runs the bounded count; ``ATTEST_HYPOTHESIS_SCALE=20`` (say) runs a deeper search by hand."""
    return settings(_BASE, max_examples=max_examples * int(os.environ.get("ATTEST_HYPOTHESIS_SCALE", "1")))


def _assert_consistent(d: Any) -> None:
    assert d.decision in ("permit", "deny")
    assert (d.decision == "permit") == (not d.errors)
    for f in (*d.errors, *d.warnings):
        assert f.code in ERROR_CODES, f
        assert isinstance(f.rule, str) and isinstance(f.path, str) and isinstance(f.message, str)
    for f in d.warnings:
        assert f.code in ERROR_CODES
    # the service writes the decision document as UTF-8 JSON: it must always serialise
    json.dumps(d.to_dict(), ensure_ascii=False, allow_nan=False).encode("utf-8")


# --- strategies ---------------------------------------------------------------------------------------------

json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=10), children, max_size=4), max_leaves=25)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=6)

# text built from JSON's structural characters, escapes and literals: reaches the strict JSON parser and
# the depth pre-check with inputs that are almost JSON
_JSONISH = ['{', '}', '[', ']', '"', ':', ',', '\\', ' ', '0', '1', '-', '.', 'e', 'a', 'true', 'null', 'NaN',
            'Infinity', '\\u0000', '\\ud800', '\\udc00', '\\"', '"alg"', '"kid"', '"typ"', '"ES256"',
            '\ufeff', 'é', '\n']
jsonish_bytes = st.lists(st.sampled_from(_JSONISH), max_size=60).map(
    lambda parts: "".join(parts).encode("utf-8"))

segments = st.one_of(
    st.text(alphabet=B64URL, max_size=40),
    st.binary(max_size=80).map(b64url),
    jsonish_bytes.map(b64url),
    json_objects.map(lambda o: b64url(json_bytes(o))),
    st.text(max_size=10),
)
token_shaped = st.lists(segments, min_size=1, max_size=5).map(".".join)
any_token = st.one_of(st.binary(max_size=300), st.text(max_size=300), token_shaped,
                      st.none(), st.integers(), st.lists(st.text(max_size=5), max_size=3))


# --- random input never crashes the parser, the verifier or inspect ----------------------------------------

@bounded(400)
@given(any_token)
def test_parse_compact_raises_only_jose_error(token: Any) -> None:
    try:
        jws = parse_compact(token)
    except JoseError as err:
        assert err.code in ERROR_CODES
        return
    assert isinstance(jws.header, dict) and isinstance(jws.payload, dict)


@bounded(400)
@given(any_token)
def test_verify_never_raises_on_random_input(token: Any) -> None:
    d = verify(token, trust_store(), context=CTX)
    _assert_consistent(d)
    assert d.decision == "deny"
    assert len(d.errors) == 1 and ERROR_CODES[d.errors[0].code].stage in ("token", "claims")


@bounded(200)
@given(any_token)
def test_inspect_never_raises_on_random_input(token: Any) -> None:
    report = inspect(token, trust=trust_store(), context=CTX)
    assert report["trusted"] is False
    assert report["error"] is not None or report["header"] is not None
    json.dumps(report, ensure_ascii=False, default=str).encode("utf-8")


# --- random JSON signed with a trusted key ------------------------------------------------------------------

def _header_variants() -> st.SearchStrategy[dict[str, Any]]:
    o = org("fagersta")
    base = {"alg": o.alg, "kid": o.kid, "typ": "attestation+jwt"}
    names = ["alg", "kid", "typ", "crit", "jwk", "x5c", "b64", "cty", "zip", "enc", "x"]
    overrides = st.dictionaries(st.sampled_from(names), json_values, max_size=3)
    return st.one_of(json_objects, overrides.map(lambda o_: {**base, **o_}),
                     st.lists(st.sampled_from(sorted(base)), unique=True).map(
                         lambda keep: {k: base[k] for k in keep}))


def _node_paths(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every node of a JSON tree (containers and leaves), as key paths."""
    out = [path] if path else []
    if isinstance(tree, dict):
        out += [p for k, v in tree.items() for p in _node_paths(v, (*path, k))]
    elif isinstance(tree, list):
        out += [p for i, v in enumerate(tree) for p in _node_paths(v, (*path, i))]
    return out


def _set_at(tree: Any, data: st.DataObject, value: Any) -> Any:
    """Replace one node of ``tree`` (a deep copy), chosen uniformly among all its nodes, with ``value``."""
    tree = copy.deepcopy(tree)
    paths = _node_paths(tree)
    if not paths:
        return value
    *parents, last = data.draw(st.sampled_from(paths), label="where")
    node = tree
    for step in parents:
        node = node[step]
    node[last] = value
    return tree


def full_attestation() -> dict[str, Any]:
    """The valid attestation with every optional field present too, so random replacements reach them."""
    att = valid_attestation()
    dept = {"id": "4208723", "name": "Avdeling", "system": "urn:oid:2.16.578.1.12.4.1.4.102",
            "authority": "https://www.helsedirektoratet.no/"}
    att["practitioner"]["department"] = dict(dept)
    att["care_relation"]["purpose_of_use_details"] = {
        "code": "KONSSERIE", "text": "Åpen konsultasjonsserie",
        "system": "urn:AuditEventHL7Norway/CodeSystem/carerelation", "assigner": "https://www.hl7.no"}
    att["patients"][0]["point_of_care"] = dict(att["practitioner"]["point_of_care"])
    att["patients"][0]["department"] = dict(dept)
    return att


@bounded(300)
@given(st.data())
def test_signed_random_json_never_crashes_verify(data: st.DataObject) -> None:
    o = org("fagersta")
    header = data.draw(_header_variants(), label="header")
    valid = claims_for(full_attestation())
    payload = data.draw(st.one_of(
        json_objects,
        st.builds(lambda k, v: {**valid, k: v}, st.sampled_from([*sorted(valid), "nbf", "sub", "patients"]),
                  json_values),
        json_values.flatmap(lambda v: st.just(_set_at(valid, data, v))),
    ), label="payload")
    token = sign_compact(header, payload, o.key, o.alg)
    replay = MemoryReplayCache()
    d = verify(token, trust_store(), context=CTX, replay=replay)
    _assert_consistent(d)
    again = verify(token, trust_store(), context=CTX, replay=replay)
    _assert_consistent(again)
    if d.permitted:  # single use: the second presentation of a permitted token is a replay
        assert again.codes == ["token_replayed"]
    report = inspect(token, trust=trust_store(), context=CTX)
    json.dumps(report, ensure_ascii=False, default=str).encode("utf-8")


@bounded(300)
@given(st.data())
def test_check_attestation_never_raises(data: st.DataObject) -> None:
    from attest import check_attestation

    raw = data.draw(st.one_of(json_values.map(lambda v: _set_at(full_attestation(), data, v)), attestations),
                    label="attestation")
    before = copy.deepcopy(raw)
    out, errors, warnings = check_attestation(raw, now=NOW)
    assert raw == before
    for f in (*errors, *warnings):
        assert f.code in ERROR_CODES
    json.dumps(out, allow_nan=False)


# --- mutations of a valid token are never permitted ---------------------------------------------------------

@cache
def valid_token(org_name: str) -> str:
    att = valid_attestation()
    legal_entity = org(org_name).legal_entity or "100100673"  # the vendor signs for Fagersta too
    att["practitioner"]["legal_entity"]["id"] = att["practitioner"]["point_of_care"]["id"] = legal_entity
    token = make_token(att, org_name=org_name)
    d = verify(token, trust_store(), context=CTX)
    assert d.permitted, d.errors
    return token


def test_the_unmutated_tokens_are_permitted() -> None:
    for name in ORGS:
        assert verify(valid_token(name), trust_store(), context=CTX).permitted


_CHARS = st.one_of(st.sampled_from(B64URL + ".=+/ \t\n%"), st.characters())


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, str, str]:
    token = valid_token(draw(st.sampled_from(ORGS)))
    kind = draw(st.sampled_from(["flip", "drop", "insert", "case_char", "case_segment", "swap", "pad",
                                 "duplicate", "truncate"]))
    i = draw(st.integers(0, len(token) - 1))
    parts = token.split(".")
    if kind == "flip":
        mutated = token[:i] + draw(_CHARS) + token[i + 1:]
    elif kind == "drop":
        mutated = token[:i] + token[i + 1:]
    elif kind == "insert":
        mutated = token[:i] + draw(_CHARS) + token[i:]
    elif kind == "case_char":
        mutated = token[:i] + token[i].swapcase() + token[i + 1:]
    elif kind == "case_segment":
        j = draw(st.integers(0, 2))
        parts[j] = draw(st.sampled_from([str.upper, str.lower, str.swapcase]))(parts[j])
        mutated = ".".join(parts)
    elif kind == "swap":
        order = draw(st.permutations([0, 1, 2]))
        mutated = ".".join(parts[k] for k in order)
    elif kind == "pad":
        j = draw(st.integers(0, 2))
        parts[j] += "=" * draw(st.integers(1, 3))
        mutated = ".".join(parts)
    elif kind == "duplicate":
        j = draw(st.integers(0, 2))
        mutated = ".".join([*parts[: j + 1], parts[j], *parts[j + 1:]])
    else:
        mutated = token[:i]
    return kind, token, mutated


@bounded(500)
@given(mutations())
def test_mutated_valid_token_is_never_permitted(m: tuple[str, str, str]) -> None:
    kind, token, mutated = m
    d = verify(mutated, trust_store(), context=CTX)
    _assert_consistent(d)
    if mutated != token:
        assert d.decision == "deny", (kind, mutated)
        # refused before any claim is trusted: a token-stage code, or the unverified 'iss' that selects
        # the key
        (first,) = d.errors
        assert ERROR_CODES[first.code].stage == "token" or first.path == "iss", (kind, d.errors)


# --- the model: normalise ----------------------------------------------------------------------------------

_VOCAB = ["toa", "practitioner", "care_relation", "care-relation", "care_relationship", "care-relationship",
          "patients", "patient", "identifier", "pid", "patient_id", "patient-id", "hpr_nr", "hpr-nr",
          "authorization", "legal_entity", "legal-entity", "point_of_care", "point-of-care",
          "point_of_care_patient", "department", "healthcare_service", "purpose_of_use", "purpose-of-use",
          "purpose_of_use_details", "decision_ref", "decision-ref", "ref_id", "id", "name", "system",
          "authority", "code", "text", "assigner", "description", "user_selected", "type"]
_SYSTEMS = ["2.16.578.1.12.4.1.4.1", "oid:2.16.578.1.12.4.1.4.101", "urn:oid:2.16.578.1.12.4.1.4.4",
            "OID:2.16.578.1.12.4.1.1.9060", "https://example.org/cs", ""]
model_keys = st.one_of(st.sampled_from(_VOCAB), st.text(max_size=8))
model_scalars = st.one_of(json_scalars, st.sampled_from(_SYSTEMS), st.integers(0, 10 ** 12),
                          st.floats(min_value=1e9, max_value=2e9))
model_values = st.recursive(model_scalars, lambda children: st.lists(children, max_size=3)
                            | st.dictionaries(model_keys, children, max_size=6), max_leaves=40)
_MEMBERS = ["id", "name", "system", "authority", "ref_id", "code", "text", "assigner", "description",
            "user_selected", "x"]
members = st.dictionaries(st.sampled_from(_MEMBERS), model_scalars | model_values, max_size=6)
field_value = members | model_values


def _category(names: list[str]) -> st.SearchStrategy[Any]:
    return st.dictionaries(st.sampled_from(names), field_value, max_size=7) | model_values


practitioners = _category(["identifier", "pid", "hpr_nr", "hpr-nr", "authorization", "legal_entity",
                           "legal-entity", "point_of_care", "point-of-care", "department", "x"])
care_relations = _category(["healthcare_service", "healthcare-service", "purpose_of_use", "purpose-of-use",
                            "purpose_of_use_details", "decision_ref", "decision-ref", "x"])
patient_entries = _category(["identifier", "patient_id", "patient-id", "point_of_care", "point-of-care",
                             "point_of_care_patient", "department", "x"])
patient_lists = st.lists(patient_entries, max_size=3) | patient_entries
# shaped like an attestation (every spelling variant the model maps), with random values anywhere
structured_attestations = st.fixed_dictionaries({}, optional={
    "toa": model_scalars, "practitioner": practitioners, "care_relation": care_relations,
    "care-relation": care_relations, "care_relationship": care_relations, "care-relationship": care_relations,
    "patients": patient_lists, "patient": patient_lists, "x": model_values})
attestations = structured_attestations | st.dictionaries(model_keys, model_values, max_size=8)

_SPEC_TOP = {"toa", "practitioner", "care_relation", "patients"}


@bounded(400)
@given(attestations)
def test_normalise_never_raises_never_mutates_and_is_idempotent(raw: dict[str, Any]) -> None:
    before = copy.deepcopy(raw)
    out, findings = normalise(raw)
    assert raw == before  # never mutates its input
    assert set(out) <= _SPEC_TOP  # spec spelling only; unknown keys dropped
    for f in findings:
        assert f.code in ERROR_CODES
    json.dumps(out, allow_nan=False)
    frozen = copy.deepcopy(out)
    again, _ = normalise(out)
    assert out == frozen
    assert again == out  # normalising the spec spelling changes nothing


@bounded(200)
@given(attestations, st.sampled_from(["attestation", "flat"]))
def test_locate_and_normalise_never_raise_on_random_payloads(payload: dict[str, Any], where: str) -> None:
    if where == "attestation":
        payload = {"iss": "x", "attestation": payload}
    before = copy.deepcopy(payload)
    located, reason = locate(payload, ("attestation", "authorization_details", "flat"))
    if located is None:
        assert reason
    elif isinstance(located.raw, dict):
        normalise(located.raw)
    assert payload == before


# --- privacy: no identity number in any finding message -----------------------------------------------------

FNR = "20086600138"
# as written, as people write it, and in fullwidth digits
FNR_FORMS = (FNR, "200866 00138", "200866-00138", "".join(chr(ord(c) + 0xFEE0) for c in FNR))


def _leaves(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(tree, dict):
        return [p for k, v in tree.items() for p in _leaves(v, (*path, k))]
    if isinstance(tree, list):
        return [p for i, v in enumerate(tree) for p in _leaves(v, (*path, i))]
    return [path]


@bounded(250)
@given(st.data())
def test_no_identity_number_in_any_finding_message(data: st.DataObject) -> None:
    att: Any = valid_attestation()
    att["practitioner"]["department"] = {"id": "1", "system": "urn:oid:2.16.578.1.12.4.1.4.102",
                                         "authority": "https://x.example"}
    att["patients"][0]["point_of_care"] = dict(att["practitioner"]["point_of_care"])
    leaves = [p for p in _leaves(att) if p[-1] not in ("identifier",)]
    # put identity numbers (as strings, in any of the ways people write them) at 1-3 places
    places = st.lists(st.sampled_from(leaves), min_size=1, max_size=3, unique=True)
    for path in data.draw(places, label="where"):
        node = att
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = data.draw(st.sampled_from(FNR_FORMS), label="form") + data.draw(
            st.sampled_from(["", " ", "x"]), label="suffix")
    extra_header = data.draw(st.sampled_from([{}, {FNR_FORMS[0]: 1}, {"alg": FNR_FORMS[0]}]), label="header")
    o = org("fagersta")
    header = {"alg": o.alg, "kid": o.kid, "typ": "attestation+jwt", **extra_header}
    token = sign_compact(header, claims_for(att), o.key, o.alg)
    d = verify(token, trust_store(), context=CTX)
    _assert_consistent(d)
    forms = [f for f in FNR_FORMS] + [f.encode("unicode_escape").decode("ascii") for f in FNR_FORMS]
    for f in (*d.errors, *d.warnings):
        assert not any(form in f.message or form in f.path for form in forms), f


# --- the trust-store loader: a JWKS may come from a jwks_uri, so it is input too ---------------------------

@cache
def _example_jwks() -> list[dict[str, Any]]:
    from ..support.tokens import KEYS

    return [json.loads((KEYS / name / "public.jwk.json").read_text()) for name in ORGS]


_JWK_MEMBERS = ["kty", "kid", "alg", "use", "key_ops", "crv", "x", "y", "n", "e", "d", "k", "p", "x5c", "ext"]


@bounded(300)
@given(st.data())
def test_load_jwks_raises_only_trust_store_error(data: st.DataObject) -> None:
    from attest.errors import TrustStoreError
    from attest.trust import load_jwks

    keys = []
    for _ in range(data.draw(st.integers(0, 3), label="n")):
        jwk = dict(data.draw(st.sampled_from(_example_jwks()), label="base"))
        values = json_values | st.sampled_from(
            ["RSA", "EC", "OKP", "oct", "P-256", "Ed25519", "ES256", "RS256", "sig", "enc", "AQAB", "AA"])
        changes = st.dictionaries(st.sampled_from(_JWK_MEMBERS), values, max_size=3)
        for name, value in data.draw(changes, label="changes").items():
            jwk[name] = value
        for name in data.draw(st.lists(st.sampled_from(_JWK_MEMBERS), max_size=2), label="drop"):
            jwk.pop(name, None)
        keys.append(jwk)
    jwks = data.draw(st.sampled_from([{"keys": keys}, keys, {"keys": keys, "x": 1}]), label="container")
    try:
        loaded = load_jwks(jwks, "fuzz")
    except TrustStoreError:
        return
    for key in loaded.values():
        assert key.algorithms and key.algorithms <= PROFILE_ALGORITHMS
        assert not any(m in key.jwk for m in ("d", "p", "k"))


PROFILE_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384",
                                "RS512", "EdDSA"})
