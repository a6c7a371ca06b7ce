"""Generate a HelseID corpus (``attest conformance generate --helseid``): recipes for (access token, DPoP
proof, HTTP request) triples (:mod:`attest.conformance.helseid_cases`) and the key material the runner mints
them with at run time (:mod:`attest.conformance.helseid_mint`).

The directory::

    README.md                 TEST MATERIAL: what is here, how to configure the API under test, how to run
    manifest.json             kind "helseid", the authorization server, audience, scopes, keys, every case
    trust.yaml                an attest trust store with one authorization_servers entry (HELSEID.md 12)
    jwks.json                 the authorization server's public key (RS256, kid = 40 upper-case hex digits)
    keys/<role>.pem           PRIVATE keys: the authorization server's, an untrusted signer's, two EPJ DPoP keys
    cases/<id>.json           one recipe per case, with its expectation

Every key is derived from the seed (:mod:`attest.conformance.forge`), so the same ``seed`` and ``now`` give
the same corpus, byte for byte; ``now`` only dates it, because tokens and proofs are minted when the corpus
is run.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from .. import __version__
from ..helseid import helseid_kid
from ..keys import PrivateKey, private_key_pem, public_jwk
from .corpus import FORMAT, HELSEID_KIND, Corpus, coverage, save_cases, write_json
from .forge import DEFAULT_AUDIENCE, DEFAULT_SEED, OID_FNR, Drbg, derive_key
from .helseid_cases import KEY_EPJ, KEY_EPJ_OTHER, KEY_SERVER, KEY_UNTRUSTED, Setup, helseid_cases
from .helseid_mint import DEFAULT_PATIENT_PARAM, key_file

#: the authorization server's issuer: ``.invalid`` (RFC 2606) can never be resolved, let alone be HelseID
DEFAULT_HELSEID_ISSUER = "https://helseid.conformance.invalid"
#: the profile the trust store's entry names: test material is never trusted under a production profile
AT_PROFILE = "helseid-at-1.0-test"
SERVER_ALG = "RS256"

_ROLES = {
    KEY_SERVER: ("RS256", "the authorization server's signing key (public key in jwks.json, trusted by trust.yaml)"),
    KEY_UNTRUSTED: ("RS256", "an RSA key nobody trusts (wrong signing key, unknown kid)"),
    KEY_EPJ: ("ES256", "the EPJ's DPoP key: the access tokens are bound to it (cnf.jkt)"),
    KEY_EPJ_OTHER: ("ES256", "another client's DPoP key (wrong jkt in the token)"),
}


class HelseIdGenerateError(Exception):
    """Bad options for a HelseID corpus."""


@dataclass
class HelseIdBuilt:
    corpus: Corpus
    keys: dict[str, PrivateKey]
    setup: Setup

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.keys[KEY_SERVER], SERVER_ALG, self.setup.kid)]}

    def trust_document(self, jwks_file: str | None = "jwks.json") -> dict[str, Any]:
        """The trust store (HELSEID.md section 12): the file refers to ``jwks.json``; ``jwks_file=None``
        puts the JWKS inline (for a store in memory)."""
        s = self.setup
        entry: dict[str, Any] = {
            "issuer": s.issuer,
            "name": "attest conformance authorization server (TEST MATERIAL: its private key is in the corpus)",
        }
        if jwks_file is None:
            entry["jwks"] = self.jwks()
        else:
            entry["jwks_file"] = jwks_file
        entry.update({"audience": s.audience, "required_scopes": list(s.scopes), "dpop": "required",
                      "algorithms": [SERVER_ALG], "profile": AT_PROFILE})
        return {"test_material": True, "authorization_servers": [entry]}


def derive_keys(seed: str) -> dict[str, PrivateKey]:
    drbg = Drbg(seed)
    return {name: derive_key(drbg, f"helseid/{name}", alg) for name, (alg, _) in _ROLES.items()}


def _check_options(issuer: str, audience: str, scopes: tuple[str, ...]) -> None:
    for what, value in (("issuer", issuer), ("audience", audience), *(("scope", s) for s in scopes)):
        if not value or not value.isprintable() or any(c.isspace() for c in value):
            raise HelseIdGenerateError(f"the {what} {value!r} must be a non-empty string without spaces")
    if issuer.startswith("urn:attest:"):
        raise HelseIdGenerateError("the issuer must not start with urn:attest: (reserved)")


def build_helseid_corpus(*, now: int | None = None, seed: str = DEFAULT_SEED, audience: str = DEFAULT_AUDIENCE,
                         issuer: str = DEFAULT_HELSEID_ISSUER, scopes: tuple[str, ...] = (),
                         server_key: PrivateKey | None = None, kid: str | None = None) -> HelseIdBuilt:
    """Every case in memory, with the keys. ``scopes`` default to ``<audience>/read`` (HelseID's scopes are
    named after the API's audience). ``server_key`` (RSA): sign with this key instead of one derived from the
    seed, e.g. the local HelseID's (``keys_example/helseid-test/``), so that a target already configured for
    that HelseID needs no new trust anchor; ``kid`` defaults to HelseID's spelling of its thumbprint."""
    scopes = tuple(scopes) or (f"{audience}/read",)
    _check_options(issuer, audience, scopes)
    now = int(time.time()) if now is None else int(now)
    keys = derive_keys(seed)
    if server_key is not None:
        if not isinstance(server_key, rsa.RSAPrivateKey):
            raise HelseIdGenerateError("the authorization server's key must be RSA (HelseID signs with RS256)")
        keys[KEY_SERVER] = server_key
    drbg = Drbg(seed)
    setup = Setup(issuer=issuer, audience=audience, scopes=scopes,
                  client_id=str(uuid.UUID(bytes=drbg.bytes("helseid/client-id", 16), version=4)),
                  kid=kid or helseid_kid(keys[KEY_SERVER]),
                  unknown_kid=drbg.bytes("helseid/unknown-kid", 20).hex().upper())
    cases = helseid_cases(setup)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "kind": HELSEID_KIND,
        "generator": f"attest {__version__}",
        "profile": AT_PROFILE,
        "seed": seed,
        "now": now,
        "audience": audience,
        "authorization_server": {"issuer": issuer, "kid": setup.kid, "alg": SERVER_ALG, "jwks_file": "jwks.json",
                                 "audience": audience, "required_scopes": list(scopes), "dpop": "required",
                                 "trust_store": "trust.yaml"},
        "client_id": setup.client_id,
        "keys": {name: {"file": f"keys/{name}.pem", "alg": alg, "role": role} for name, (alg, role) in _ROLES.items()},
        "request": {"method": "GET", "patient_param": DEFAULT_PATIENT_PARAM, "patient_system": OID_FNR},
        "counts": {g: sum(1 for c in cases if c.group == g) for g in ("helseid-valid", "helseid-token",
                                                                         "helseid-dpop")},
        "coverage": coverage(cases, HELSEID_KIND),
        "notes": [
            "TEST MATERIAL ONLY: keys/ holds the PRIVATE keys of the authorization server and the EPJ; anyone "
            "with this corpus can mint tokens that trust.yaml accepts. Never configure a production API with it.",
            "Tokens and proofs are minted when the corpus is run (a proof is valid for seconds and names the URL "
            "the target is called with); 'now' only dates the corpus.",
        ],
    }
    return HelseIdBuilt(Corpus(cases, meta), keys, setup)


_TRUST_HEADER = """\
# TEST MATERIAL ONLY - NEVER USE IN PRODUCTION.
# Trust store for an attest HelseID conformance corpus (HELSEID.md section 12). The authorization server's
# PRIVATE key is in keys/authorization-server.pem beside this file: anyone holding the corpus can mint access
# tokens this entry accepts. Use it only for a test instance of the API under test, on a test network.
# attest: ATTEST_TRUST_STORE=<this file>, ATTEST_PROFILE=tillitsrammeverk-1.1-test (test material is refused
# under a production profile), and the service behind your reverse proxy's forward-auth (docs/conformance.md).
"""

_README = """\
# !!! TEST MATERIAL - PRIVATE KEYS INSIDE - NEVER USE IN PRODUCTION !!!

This is an attest **HelseID conformance corpus** (generated by {generator} with seed `{seed}`, now {now}).
`keys/` holds **private keys**: the signing key of a made-up authorization server and the DPoP keys of a
made-up EPJ. Anyone with this directory can mint access tokens that `trust.yaml` accepts. Configure only a
**test instance** of your API with it, never a production one, and do not publish the directory.

## What it tests

{count} cases, each a recipe for an (access token, DPoP proof, HTTP request) triple and the outcome a
conforming resource server reaches (HELSEID.md sections 9-11 and 14): {valid} requests to permit,
{token} broken access tokens and {dpop} broken DPoP presentations to refuse (every broken-proof switch of
HelseID's test-token service, and a replayed proof). `attest conformance run` mints each token and proof just
before it sends the request, for the URL it calls.

## Configure the API under test (its test instance)

| setting | value |
|---|---|
| trusted issuer (`iss`, exact) | `{issuer}` |
| its keys (JWKS) | `jwks.json` (RS256, kid `{kid}`) |
| accepted algorithms | RS256 |
| audience (`aud`) | `{audience}` |
| required scope(s) | {scopes} |
| DPoP | required (proofs at most 10 s old, 5 s leeway, single-use) |
| patient of the request | FHIR search parameter `{patient_param}={patient_system}\\|<F-number>` |

With attest as the protector (forward-auth behind nginx, `deploy/nginx-forward-auth.conf`): start the
service with `ATTEST_TRUST_STORE=trust.yaml` (this directory's file; it names `jwks.json` beside it) and
`ATTEST_PROFILE=tillitsrammeverk-1.1-test`, on 127.0.0.1 (attest refuses to serve test material on any other
address). Another product: trust the issuer above with the key in `jwks.json` (or serve `jwks.json` from a
test web server as its `jwks_uri`); the issuer is matched exactly and there is no discovery document.

## Run

```sh
attest conformance run --corpus <this directory> --mode http-api \\
    --target https://<test instance>/fhir/DocumentReference --junit conformance.xml --json conformance.json
```

Exit status 0: every case behaved as expected (2xx for a permit, 401 or 403 for a refusal); 1: a mismatch.

## Files

| file | what |
|---|---|
| `manifest.json` | the corpus's settings and every case (id, rule, what it covers, description, expectation) |
| `trust.yaml` | an attest trust store: one `authorization_servers` entry for the issuer above |
| `jwks.json` | the authorization server's public key |
| `keys/authorization-server.pem` | **private**: signs the access tokens |
| `keys/untrusted-signer.pem` | **private**: a key nobody trusts (wrong signing key, unknown kid) |
| `keys/epj-dpop.pem` | **private**: the EPJ's DPoP key (tokens are bound to it) |
| `keys/epj-dpop-other.pem` | **private**: another client's DPoP key (key mismatch) |
| `cases/<id>.json` | one recipe per case |
"""


def readme(built: HelseIdBuilt) -> str:
    meta, s = built.corpus.meta, built.setup
    counts = meta["counts"]
    return _README.format(
        generator=meta["generator"], seed=meta["seed"], now=meta["now"], count=len(built.corpus),
        valid=counts["helseid-valid"], token=counts["helseid-token"], dpop=counts["helseid-dpop"],
        issuer=s.issuer, kid=s.kid, audience=s.audience, scopes=", ".join(f"`{x}`" for x in s.scopes),
        patient_param=meta["request"]["patient_param"], patient_system=meta["request"]["patient_system"])


def write_helseid_corpus(built: HelseIdBuilt, out: str | Path, *, force: bool = False) -> Path:
    """Write the corpus directory; refuses a non-empty directory unless ``force``. Private keys are written
    readable by their owner only."""
    root = Path(out)
    if root.exists() and any(root.iterdir()) and not force:
        raise HelseIdGenerateError(f"{root} is not empty (use --force to overwrite)")
    (root / "keys").mkdir(parents=True, exist_ok=True)
    (root / "keys").chmod(0o700)
    for name, key in built.keys.items():
        path = key_file(root, name)
        path.write_bytes(private_key_pem(key))
        path.chmod(0o600)
    write_json(root / "jwks.json", built.jwks())
    (root / "trust.yaml").write_text(
        _TRUST_HEADER + yaml.safe_dump(built.trust_document(), sort_keys=False, allow_unicode=True),
        encoding="utf-8")
    (root / "README.md").write_text(readme(built), encoding="utf-8")
    save_cases(built.corpus, root)
    built.corpus.root = root
    return root
