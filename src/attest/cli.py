"""The ``attest`` command line (CONTRACT.md section 7). Thin: parses arguments, calls the library,
formats the result (``render.py``). Exit codes: 0 success/permit, 1 refused/deny, 2 usage or configuration
error.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from . import (
    DEFAULT_PROFILE,
    AttestationRefused,
    ConfigurationError,
    ProfileError,
    TrustStore,
    VerifyContext,
    build,
    generate_private_key,
    inspect,
    list_profiles,
    load_private_key,
    load_profile,
    public_jwk,
    verify,
)
from .cli_io import fail, read_arg, stderr, stdout
from .keys import KEYGEN_ALGORITHMS, private_key_pem, signing_algorithm
from .render import print_decision, print_inspect
from .verify import profile_for

app = typer.Typer(
    name="attest",
    help="Build, sign, inspect and verify health-personnel attestations (Tillitsrammeverket).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_DENY, EXIT_USAGE = 0, 1, 2


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        from . import BUILD

        try:
            number = version("attest")
        except PackageNotFoundError:  # pragma: no cover - run from a source tree that is not installed
            number = "unknown"
        stdout().print(f"attest {number}, verification path: {BUILD}", markup=False)
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                                help="Print the version and which build of the verification "
                                                     "path runs (compiled by mypyc, or pure Python), then exit."
                                                )] = False) -> None:
    """Build, sign, inspect and verify health-personnel attestations (Tillitsrammeverket)."""


def _load_trust(path: Path | None) -> TrustStore | None:
    if path is None:
        return None
    try:
        return TrustStore.load(path)
    except ConfigurationError as exc:
        fail(str(exc))


def _check_profile(profile: str) -> str:
    try:
        load_profile(profile)
    except ConfigurationError as exc:
        fail(str(exc))
    return profile


ProfileOpt = Annotated[str, typer.Option("--profile", "-p", help="Profile id (see `attest profiles`).")]
AutoProfileOpt = Annotated[str | None, typer.Option(
    "--profile", "-p", help="Profile id (see `attest profiles`); default: helseid-at-1.0 (or the trust store's "
                            "profile for its authorization server) for an access token, else tillitsrammeverk-1.1.")]
DPoPOpt = Annotated[str | None, typer.Option("--dpop", help="The DPoP proof (the DPoP header's value), a file "
                                                            "holding it, or - for stdin.")]
MethodOpt = Annotated[str | None, typer.Option("--method", help="The request's HTTP method (the proof's htm).")]
UrlOpt = Annotated[str | None, typer.Option("--url", help="The URL the client called (the proof's htu).")]
NowOpt = Annotated[int | None, typer.Option("--now", help="Evaluate at this unix time instead of the clock.")]


@app.command()
def keygen(
    alg: Annotated[str, typer.Option("--alg", help=f"One of {', '.join(KEYGEN_ALGORITHMS)}.")] = "ES256",
    out: Annotated[Path, typer.Option("--out", help="Directory to write the key files to.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing key files.")] = False,
) -> None:
    """New key pair: private key PEM (mode 0600), public JWK and JWKS; kid = RFC 7638 thumbprint."""
    if alg not in KEYGEN_ALGORITHMS:
        fail(f"unknown algorithm {alg!r}; choose one of {', '.join(KEYGEN_ALGORITHMS)}")
    key = generate_private_key(alg)
    jwk = public_jwk(key, alg)
    out.mkdir(parents=True, exist_ok=True)
    priv, pub, jwks = out / "private.pem", out / "public.jwk.json", out / "jwks.json"
    existing = [str(p) for p in (priv, pub, jwks) if p.exists()]
    if existing and not force:
        fail(f"refusing to overwrite {', '.join(existing)} (use --force)")
    fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # O_CREAT's mode applies only to a new file: an old one overwritten with --force keeps its mode unless
    # it is set here, before the key is written
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_key_pem(key))
    pub.write_text(json.dumps(jwk, indent=2) + "\n", encoding="utf-8")
    jwks.write_text(json.dumps({"keys": [jwk]}, indent=2) + "\n", encoding="utf-8")
    err = stderr()
    err.print(f"private key  {priv}  (keep it secret)", markup=False)
    err.print(f"public JWK   {pub}", markup=False)
    err.print(f"JWKS         {jwks}  (publish it, or reference it from a trust store's jwks_file)", markup=False)
    typer.echo(jwk["kid"])


@app.command()
def issue(
    file: Annotated[str, typer.Argument(help="Attestation JSON file (13 fields, any accepted spelling), or -.")],
    key: Annotated[Path, typer.Option("--key", help="Private key PEM of the issuer.")],
    iss: Annotated[str, typer.Option("--iss", help="Issuer id (as in the verifier's trust store).")],
    aud: Annotated[str, typer.Option("--aud", help="Audience: the verifier's identity.")],
    kid: Annotated[str | None, typer.Option("--kid", help="Key id (default: RFC 7638 thumbprint).")] = None,
    profile: ProfileOpt = DEFAULT_PROFILE,
    lifetime: Annotated[int, typer.Option("--lifetime", help="Token lifetime in seconds (<= 3600).")] = 600,
    toa: Annotated[int | None, typer.Option("--toa", help="Time of attestation (default: now).")] = None,
    alg: Annotated[str | None, typer.Option("--alg", help="RSA keys: RS256 (default), PS256, ...")] = None,
    now: NowOpt = None,
) -> None:
    """Build and sign an attestation; the token goes to stdout. Refuses (exit 1) to sign one that breaks
    the profile, listing every problem."""
    _check_profile(profile)
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{file}: cannot read ({exc.strerror})")
    try:
        attestation = json.loads(text)
    except ValueError as exc:
        fail(f"{file}: not JSON ({exc})")
    if not isinstance(attestation, dict):
        fail(f"{file}: the attestation must be a JSON object")
    try:
        private_key = load_private_key(key)
        algorithm = signing_algorithm(private_key, alg)
        token = build(attestation, key=private_key, kid=kid or public_jwk(private_key, algorithm)["kid"],
                      iss=iss, audience=aud, profile=profile, lifetime=lifetime, toa=toa, alg=algorithm, now=now)
    except AttestationRefused as exc:
        err = stderr()
        err.print(f"[bold red]refused:[/bold red] the attestation breaks profile {profile} "
                  f"({len(exc.findings)} problem(s))")
        for f in exc.findings:
            err.print(f"  {f.code:<30} {f.rule:<8} {f.path}: {f.message}", markup=False)
        raise typer.Exit(EXIT_DENY) from None
    except (ConfigurationError, ValueError) as exc:
        fail(str(exc))
    typer.echo(token)


@app.command("inspect")
def inspect_cmd(
    token: Annotated[str, typer.Argument(help="The token, a file holding it, or - for stdin.")],
    trust: Annotated[Path | None, typer.Option("--trust", help="Trust store: also verify.")] = None,
    profile: AutoProfileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    reveal: Annotated[bool, typer.Option("--reveal-identifiers",
                                         help="Show national identity numbers unmasked.")] = False,
    audience: Annotated[str | None, typer.Option("--audience", help="Verifier audience.")] = None,
    dpop: DPoPOpt = None,
    method: MethodOpt = None,
    url: UrlOpt = None,
    now: NowOpt = None,
) -> None:
    """Human-readable view of a token (nothing is trusted unless --trust verifies it). For a HelseID access
    token it shows the user, the client, the scopes and the DPoP binding; with --dpop, the proof and whether
    it binds to the token (and to --method/--url)."""
    if profile is not None:
        _check_profile(profile)
    store = _load_trust(trust)
    context = VerifyContext(audience=audience, now=now, dpop_proof=read_arg(dpop) if dpop else None,
                            http_method=method, http_url=url, authorization_scheme="DPoP" if dpop else None)
    text = read_arg(token)
    if text.lstrip().startswith("<"):  # XML is never a JWT: a SAML assertion (issue 14)
        from .saml import inspect_saml

        try:
            report = inspect_saml(text, trust=store, profile=profile, context=context, reveal_identifiers=reveal)
        except ProfileError as exc:
            fail(f"--profile: {exc}")
    else:
        report = inspect(text, trust=store, profile=profile, context=context, reveal_identifiers=reveal)
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_inspect(stdout(), report)
    if report.get("error"):
        raise typer.Exit(EXIT_USAGE)


@app.command("verify")
def verify_cmd(
    token: Annotated[str, typer.Argument(help="The token, a file holding it, or - for stdin.")],
    trust: Annotated[Path, typer.Option("--trust", help="Trust store (JSON or YAML).")],
    audience: Annotated[str | None, typer.Option("--audience", help="This verifier's audience.")] = None,
    profile: AutoProfileOpt = None,
    pid: Annotated[str | None, typer.Option("--pid", help="Authenticated user's F/D-number (ATT-11).")] = None,
    hpr: Annotated[str | None, typer.Option("--hpr", help="Authenticated user's HPR number (ATT-29b).")] = None,
    patient: Annotated[str | None, typer.Option("--patient", help="Requested patient's id (ATT-4).")] = None,
    dpop: DPoPOpt = None,
    method: MethodOpt = None,
    url: UrlOpt = None,
    scheme: Annotated[str | None, typer.Option(
        "--scheme", help="How the access token was presented: DPoP or Bearer (default: DPoP with --dpop).")] = None,
    now: NowOpt = None,
    saml: Annotated[bool, typer.Option(
        "--saml", help="The input is a SAML 2.0 assertion in base64 (XML input is recognised by itself).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision document.")] = False,
) -> None:
    """Verify a token: a self-signed attestation, a HelseID access token with its DPoP proof (--dpop,
    --method, --url), or a signed SAML 2.0 assertion (profile xua-saml-1.0; the trust store's saml_issuers).
    Exit 0 permit, 1 deny, 2 usage or configuration error."""
    if profile is not None:
        _check_profile(profile)
    if scheme is not None and scheme not in ("DPoP", "Bearer"):
        fail("--scheme must be DPoP or Bearer")
    store = _load_trust(trust)
    assert store is not None
    text = read_arg(token)
    proof = read_arg(dpop) if dpop else None
    if saml or text.lstrip().startswith("<"):  # XML is never a JWT: a SAML assertion
        if proof is not None:
            fail("--dpop goes with a HelseID access token, not a SAML assertion")
        from .saml import verify_saml

        try:
            decision = verify_saml(text, store, profile, VerifyContext(
                audience=audience, authenticated_pid=pid, authenticated_hpr=hpr, patient_id=patient, now=now))
        except ProfileError as exc:
            fail(f"--profile: {exc}")
    else:
        chosen = profile if profile is not None else profile_for(text, store, DEFAULT_PROFILE)
        decision = verify(text, store, chosen,
                          VerifyContext(audience=audience, authenticated_pid=pid, authenticated_hpr=hpr,
                                        patient_id=patient, now=now, dpop_proof=proof, http_method=method,
                                        http_url=url, authorization_scheme=scheme or ("DPoP" if proof else None)))
    doc = decision.to_dict()
    if as_json:
        typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        print_decision(stdout(), doc)
    raise typer.Exit(EXIT_OK if decision.permitted else EXIT_DENY)


@app.command()
def profiles(
    profile_id: Annotated[str | None, typer.Argument(help="Show this profile's rules.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the profiles, or show one profile's rules."""
    console = stdout()
    if profile_id is None:
        rows: list[dict[str, Any]] = []
        for pid in list_profiles():
            p = load_profile(pid)
            rows.append({"id": p.id, "status": p.status, "title": p.title, "rules": len(p.rules)})
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        for r in rows:
            console.print(f"{r['id']:<28} {r['status']:<11} {r['rules']:>3} rules  {r['title']}", markup=False)
        return
    _check_profile(profile_id)
    desc = load_profile(profile_id).describe()
    if as_json:
        typer.echo(json.dumps(desc, indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    console.print(f"{desc['id']}: {desc['title']} ({desc['status']})", markup=False)
    console.print(desc["description"], markup=False)
    table = Table("rule", "name", "kind", "path", "severity")
    for r in desc["rules"]:
        table.add_row(r["id"], r["name"], r["kind"], r["path"], r["severity"])
    console.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64,
                                         help="Worker processes (more than 1 needs REDIS_URL).")] = 1,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Directory for the SQLite audit store and development secrets "
                           "(default: $ATTEST_DATA_DIR or ./data).")] = None,
    log_format: Annotated[str, typer.Option("--log-format", help="json or text.")] = "json",
) -> None:
    """Run the verification service (HTTP API of CONTRACT.md section 6). With no configuration it uses
    development defaults: keys_example/trust.yaml, an SQLite audit store and a generated at-rest key under
    the data directory, an in-memory replay cache. Settings: environment variables (docs/service.md)."""
    from .service.serve import run

    if log_format not in ("json", "text"):
        fail("--log-format must be json or text")
    raise typer.Exit(run(host, port, workers, data_dir, log_format))


# --- conformance harness (issue 4): a sub-app in its own module ------------------------------------------
from .conformance.cli import conformance_app  # noqa: E402 - registered after the commands above

app.add_typer(conformance_app, name="conformance")

# --- the HelseID path's client side and the local HelseID (issue 13): a sub-app in its own module ----------
from .helseid_cli import helseid_app  # noqa: E402 - registered after the commands above

app.add_typer(helseid_app, name="helseid")

# --- SAML assertions (issue 14): producing one from a verified token --------------------------------------
from .saml_cli import saml_app  # noqa: E402 - registered after the commands above

app.add_typer(saml_app, name="saml")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
