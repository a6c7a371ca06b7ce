"""``attest saml issue``: what a document source does before it queries an XCA/XDS repository — verify the
user's token (a HelseID access token with its DPoP proof, or a self-signed attestation) and, only when it is
permitted, render the attestation as a signed SAML 2.0 assertion (:mod:`attest.saml_produce`). Thin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509

from .cli_io import fail, read_arg
from .context import VerifyContext
from .errors import ConfigurationError, ProfileError
from .keys import load_private_key
from .trust import TrustStore

saml_app = typer.Typer(
    name="saml",
    help="SAML 2.0 assertions (IHE XUA): produce one from a verified token.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_DENY = 1


@saml_app.command("issue")
def issue_cmd(
    token: Annotated[str, typer.Argument(help="The user's token (a file holding it, or - for stdin).")],
    trust: Annotated[Path, typer.Option("--trust", help="Trust store that verifies the token.")],
    key: Annotated[Path, typer.Option("--key", help="The document source's signing key (PEM).")],
    cert: Annotated[Path, typer.Option("--cert", help="Its certificate (PEM), carried in the signature.")],
    issuer: Annotated[str, typer.Option("--issuer", help="The assertion's Issuer (this document source).")],
    audience: Annotated[str, typer.Option("--audience", help="The repository the assertion is for.")],
    patient: Annotated[str | None, typer.Option("--patient", help="The patient of the query.")] = None,
    dpop: Annotated[str | None, typer.Option("--dpop", help="The DPoP proof of an access token.")] = None,
    method: Annotated[str | None, typer.Option("--method", help="The request's method (with --dpop).")] = None,
    url: Annotated[str | None, typer.Option("--url", help="The request's URL (with --dpop).")] = None,
    security_level: Annotated[str | None, typer.Option(
        "--security-level", help="The login's level, for a self-signed attestation (it carries none).")] = None,
    lifetime: Annotated[int, typer.Option("--lifetime", help="Seconds, at most 3600.")] = 300,
) -> None:
    """Verify TOKEN (the profile its issuer calls for) and print a signed SAML assertion of its attestation;
    exit 1 without an assertion when the token is refused."""
    from .saml_produce import ProduceError, assertion_from_decision
    from .verify import profile_for, verify

    try:
        store = TrustStore.load(trust)
        signing_key = load_private_key(key)
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    except (ConfigurationError, OSError, ValueError) as exc:
        fail(str(exc))
    text = read_arg(token)
    proof = read_arg(dpop) if dpop else None
    context = VerifyContext(patient_id=patient, dpop_proof=proof, http_method=method, http_url=url,
                            authorization_scheme="DPoP" if proof else None)
    try:
        decision = verify(text, store, profile_for(text, store), context)
    except ProfileError as exc:
        fail(str(exc))
    if not decision.permitted:
        fail("the token is refused, so no assertion is made: " + ", ".join(decision.codes), EXIT_DENY)
    try:
        produced = assertion_from_decision(decision, issuer=issuer, audience=audience, key=signing_key,
                                           certificate=certificate, patient=patient,
                                           security_level=security_level, lifetime=lifetime)
    except ProduceError as exc:
        fail(str(exc))
    typer.echo(produced.decode("utf-8"))
