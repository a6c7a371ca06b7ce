"""attest: build and verify signed health-personnel attestations for the Norwegian trust framework.

The front door (CONTRACT.md section 8)::

    from attest import TrustStore, VerifyContext, build, verify

    trust = TrustStore.load("keys_example/trust.yaml")
    decision = verify(token, trust=trust, profile="tillitsrammeverk-1.1",
                      context=VerifyContext(audience="nhn:pjd", patient_id="..."))
    decision.permitted, decision.errors, decision.to_dict()

A SAML 2.0 assertion (IHE XUA; trust store ``saml_issuers``) gets the same Decision from ``verify_saml``::

    decision = verify_saml(assertion_xml_or_base64, trust=trust, profile="xua-saml-1.0",
                           context=VerifyContext(patient_id="..."))
"""

from typing import TYPE_CHECKING, Any

# first: decides whether the compiled (mypyc) build of the verification path runs, before any of it loads
from ._native import STATUS as BUILD
from .build import build, check_attestation, sign
from .context import VerifyContext
from .errors import (
    ERROR_CODES,
    AttestationRefused,
    AttestError,
    ConfigurationError,
    DependencyUnavailable,
    Finding,
    ProfileError,
    TrustStoreError,
)
from .inspect import inspect
from .keys import generate_private_key, load_private_key, public_jwk, thumbprint
from .profiles import DEFAULT_PROFILE, Profile, list_profiles, load_profile
from .replay import MemoryReplayCache, ReplayCache
from .trust import Issuer, SamlIssuer, TrustStore

if TYPE_CHECKING:
    from .saml import verify_saml
from .verify import Decision, verify, verify_async

__version__ = "0.1.0"

__all__ = [
    # verifying
    "verify", "verify_async", "verify_saml", "Decision", "VerifyContext", "Finding", "ERROR_CODES",
    # issuing
    "build", "sign", "check_attestation",
    # inspecting
    "inspect",
    # which build of the verification path runs: "compiled (mypyc)" or "pure-python (<why>)"
    "BUILD",
    # configuration
    "TrustStore", "Issuer", "SamlIssuer", "Profile", "load_profile", "list_profiles", "DEFAULT_PROFILE",
    "ReplayCache", "MemoryReplayCache",
    # keys
    "generate_private_key", "load_private_key", "public_jwk", "thumbprint",
    # errors
    "AttestError", "ConfigurationError", "ProfileError", "TrustStoreError", "AttestationRefused",
    "DependencyUnavailable",
]


def __getattr__(name: str) -> Any:
    """``verify_saml`` is imported on first use: it brings lxml and signxml, which a JWT verifier (and every
    ``attest verify`` process) does not need."""
    if name == "verify_saml":
        from .saml import verify_saml

        return verify_saml
    raise AttributeError(f"module 'attest' has no attribute {name!r}")
