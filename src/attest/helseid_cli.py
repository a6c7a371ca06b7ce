"""``attest helseid …``: the EPJ's side of the HelseID path (client assertion, DPoP proofs, a token request)
and a local HelseID for development and conformance (``serve``). Thin: the library does the work
(:mod:`attest.helseid`, :mod:`attest.local_helseid`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_io import fail, read_arg
from .errors import AttestationRefused, ConfigurationError
from .keys import load_private_key

helseid_app = typer.Typer(
    name="helseid",
    help="The HelseID path: client assertions and DPoP proofs for an EPJ, and a local HelseID (test tool).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_REFUSED = 1
BANNER = "!" * 78


def _key(path: Path) -> Any:
    try:
        return load_private_key(path)
    except (OSError, ValueError) as exc:
        fail(f"{path}: cannot load the private key ({exc})")


def _attestation(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    text = read_arg(path)
    if path != "-" and text == path and not path.lstrip().startswith("{"):
        fail(f"{path}: no such file (give an attestation JSON file, '-' for standard input, or the JSON itself)")
    try:
        data = json.loads(text)
    except ValueError as exc:
        fail(f"{path}: cannot read the attestation JSON ({exc})")
    if not isinstance(data, dict):
        fail(f"{path}: the attestation is a JSON object")
    return data


KeyOpt = Annotated[Path, typer.Option("--key", help="The EPJ's client key (private key PEM).")]
ClientOpt = Annotated[str, typer.Option("--client-id", help="The client id HelseID registered for the EPJ.")]


@helseid_app.command("client-assertion")
def client_assertion_cmd(
    attestation: Annotated[str | None, typer.Argument(
        help="Attestation JSON file ('-' = stdin); omit for a token without an attestation.")] = None,
    key: KeyOpt = Path("keys_example/epj-client/private.pem"),
    client_id: ClientOpt = "fagersta-epj",
    audience: Annotated[str, typer.Option("--aud", help="HelseID's issuer (or its token endpoint).")] = (
        "https://helseid-sts.test.example"),
    kid: Annotated[str | None, typer.Option("--kid", help="Key id (default: RFC 7638 thumbprint).")] = None,
    lifetime: Annotated[int, typer.Option("--lifetime", help="Seconds, at most 60.")] = 60,
) -> None:
    """Print a client assertion (private_key_jwt, typ client-authentication+jwt) carrying the attestation as
    an assertion_details element in HelseID's request shape, checked against helseid-rar-1.0 first (exit 1
    with every problem when it fails)."""
    from .helseid import client_assertion

    try:
        token = client_assertion(_attestation(attestation), key=_key(key), client_id=client_id,
                                 audience=audience, kid=kid, lifetime=lifetime)
    except AttestationRefused as exc:
        fail("\n".join(f"{f.code} at {f.path}: {f.message}" for f in exc.findings), EXIT_REFUSED)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(token)


@helseid_app.command("proof")
def proof_cmd(
    method: Annotated[str, typer.Option("--method", help="HTTP method of the request.")],
    url: Annotated[str, typer.Option("--url", help="URL of the request (query and fragment are dropped).")],
    key: Annotated[Path, typer.Option("--key", help="The EPJ's DPoP key (private key PEM).")] = Path(
        "keys_example/epj-dpop/private.pem"),
    token: Annotated[str | None, typer.Option(
        "--token", help="The access token (an API request: the proof gets ath); omit for a token request.")] = None,
) -> None:
    """Print a DPoP proof (RFC 9449) for one request."""
    from .helseid import dpop_proof

    typer.echo(dpop_proof(_key(key), method=method, url=url, access_token=token))


@helseid_app.command("token")
def token_cmd(
    attestation: Annotated[str | None, typer.Argument(help="Attestation JSON file ('-' = stdin).")] = None,
    url: Annotated[str, typer.Option("--url", help="HelseID's base URL (its discovery document is read).")] = (
        "http://127.0.0.1:8444"),
    key: KeyOpt = Path("keys_example/epj-client/private.pem"),
    client_id: ClientOpt = "fagersta-epj",
    dpop_key: Annotated[Path, typer.Option("--dpop-key", help="The key the token is bound to.")] = Path(
        "keys_example/epj-dpop/private.pem"),
    scope: Annotated[str | None, typer.Option("--scope", help="Space-separated scopes (default: the client's).")]
    = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print HelseID's whole answer.")] = False,
) -> None:
    """Ask a HelseID (the local one, or any that speaks the same protocol) for a DPoP-bound access token:
    discovery, client assertion with the attestation, DPoP proof, token request. Prints the access token."""
    from .helseid import TokenRequestError, request_token

    try:
        answer = request_token(url, _attestation(attestation), client_key=_key(key), client_id=client_id,
                               dpop_key=_key(dpop_key), scope=scope)
    except AttestationRefused as exc:
        fail("\n".join(f"{f.code} at {f.path}: {f.message}" for f in exc.findings), EXIT_REFUSED)
    except TokenRequestError as exc:
        fail(str(exc), EXIT_REFUSED)
    typer.echo(json.dumps(answer, indent=2) if json_out else answer["access_token"])


@helseid_app.command("serve")
def serve_cmd(
    config: Annotated[Path, typer.Option("--config", help="Configuration YAML (clients, people, keys).")] = Path(
        "keys_example/local-helseid.yaml"),
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback only unless --allow-remote).")] = (
        "127.0.0.1"),
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8444,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="Allow a non-loopback address.")] = False,
) -> None:
    """Run a local HelseID (TEST TOOL): discovery, JWKS with key rotation on demand, and a token endpoint
    that authenticates clients by private_key_jwt, checks and enriches their attestation and issues
    DPoP-bound access tokens in HelseID's shape."""
    import uvicorn

    from .keysets import is_loopback_host
    from .local_helseid import LocalHelseId, LocalHelseIdConfig, create_app

    if not is_loopback_host(host) and not allow_remote:
        fail(f"the local HelseID is a test tool with published keys: refusing to listen on {host} (use "
              "--host 127.0.0.1, or --allow-remote if you really mean it)")
    try:
        cfg = LocalHelseIdConfig.load(config)
    except ConfigurationError as exc:
        fail(str(exc))
    state = LocalHelseId(cfg, f"http://{host if ':' not in host else f'[{host}]'}:{port}")
    print("\n".join([BANNER, "!!! attest helseid serve: a LOCAL HelseID for tests. NOT HelseID, NOT FOR PRODUCTION.",
                     f"!!!   issuer {state.issuer}, token endpoint {state.token_endpoint}",
                     f"!!!   signing key kid {state.keys.active[0]} (test material), "
                     f"{len(cfg.clients)} client(s) from {config}", BANNER]), file=sys.stderr, flush=True)
    uvicorn.run(create_app(state), host=host, port=port, log_config=None, access_log=False, server_header=False)
