"""``attest conformance generate | run | list`` (registered on the main CLI as a sub-app).

Thin: parses options, calls :mod:`attest.conformance`, prints with :mod:`attest.conformance.report`.
Heavy imports (key derivation, HTTP client) happen inside the commands so that ``attest verify`` - which
the harness may run once per case - does not pay for them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ..cli_io import fail

if TYPE_CHECKING:
    from .generate import Built
    from .helseid_corpus import HelseIdBuilt
    from .saml_corpus import SamlBuilt

conformance_app = typer.Typer(
    name="conformance",
    help="Conformance harness for source organisations: generate a corpus, run it against a verifier.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE = 0, 1, 2
MODES = ("attest-api", "http", "command", "library", "http-api")
#: what each mode is, for --help and errors
MODE_HELP = {
    "attest-api": "an attest-compatible POST /v1/verify (the decision document is compared)",
    "http": "your own endpoint, the token in a header or JSON field (the status decides)",
    "command": "a local command per case, the token on stdin (the exit status decides)",
    "library": "this package's attest.verify (a SAML corpus: attest.verify_saml) in-process (a self-test; any "
               "kind of corpus)",
    "http-api": "a HelseID corpus against your API (or its reverse proxy): an access token and a fresh "
                "DPoP proof minted per request, the patient in the query (2xx permitted, 401/403 refused); a SAML "
                "corpus against a /v1/verify-compatible endpoint: POST {\"saml\": …, \"context\": …}, the "
                "decision document compared",
}
#: the modes that can run a HelseID corpus (its cases are recipes, minted at run time) or a SAML corpus
HELSEID_MODES = ("http-api", "library")
SAML_MODES = ("http-api", "library")


def _err() -> Console:
    return Console(stderr=True, highlight=False)


ProfileOpt = Annotated[
    str,
    typer.Option(
        "--profile",
        "-p",
        help="Profile the target verifies with (tillitsrammeverk-1.1 or tillitsrammeverk-1.1-test).",
    ),
]
NowOpt = Annotated[
    int | None, typer.Option("--now", help="Evaluation time of the corpus (unix seconds; default: now).")
]
SeedOpt = Annotated[
    str, typer.Option("--seed", help="Seed for keys and jti values (same seed + --now = same corpus).")
]
AllOpt = Annotated[
    bool, typer.Option("--all-variants", help="Every variant of every attack class, not only the core set.")
]


def _build_helseid(now: int | None, seed: str, audience: str, iss: str | None, scopes: list[str] | None,
                   unsupported: Mapping[str, object], server_key: Any = None, kid: str | None = None) -> HelseIdBuilt:
    from .helseid_corpus import DEFAULT_HELSEID_ISSUER, HelseIdGenerateError, build_helseid_corpus

    given = [name for name, value in unsupported.items() if value]
    if given:
        fail(f"{', '.join(given)} do(es) not apply to --helseid (trust.yaml names the profile "
              "helseid-at-1.0-test; the server signs with RS256)")
    try:
        return build_helseid_corpus(now=now, seed=seed, audience=audience, issuer=iss or DEFAULT_HELSEID_ISSUER,
                                    scopes=tuple(scopes or ()), server_key=server_key, kid=kid)
    except HelseIdGenerateError as exc:
        fail(str(exc))


def _write_helseid(built: HelseIdBuilt, out: Path, force: bool) -> None:
    from .corpus import HELSEID_KIND
    from .helseid_corpus import HelseIdGenerateError, write_helseid_corpus
    from .report import print_coverage

    try:
        root = write_helseid_corpus(built, out, force=force)
    except (HelseIdGenerateError, OSError) as exc:
        fail(str(exc))
    console = Console(highlight=False)
    meta, s = built.corpus.meta, built.setup
    counts = meta["counts"]
    console.print(
        f"wrote {len(built.corpus)} HelseID cases to {root} ({counts['helseid-valid']} permit, "
        f"{counts['helseid-token']} access token, {counts['helseid-dpop']} DPoP), now {meta['now']}",
        markup=False,
    )
    console.print(
        f"TEST MATERIAL: {root / 'keys'} holds PRIVATE keys (the authorization server's, the EPJ's); never "
        "configure a production API with this corpus",
        markup=False,
        style="bold red",
    )
    console.print(
        f"configure the API under test with the trust anchor: issuer {s.issuer}, JWKS {root / 'jwks.json'} "
        f"(kid {s.kid}), audience {s.audience}, required scope {' '.join(s.scopes)}, DPoP required "
        f"(attest: ATTEST_TRUST_STORE={root / 'trust.yaml'}); see {root / 'README.md'}",
        markup=False,
    )
    print_coverage(console, built.corpus.cases, HELSEID_KIND)


def _build_saml(now: int | None, seed: str, audience: str, iss: str | None,
                unsupported: Mapping[str, object]) -> SamlBuilt:
    from .saml_corpus import SamlGenerateError, build_saml_corpus
    from .saml_forge import DEFAULT_SAML_ISSUER

    given = [name for name, value in unsupported.items() if value]
    if given:
        fail(f"{', '.join(given)} do(es) not apply to --saml (trust.yaml names the profile xua-saml-1.0-test; "
             "the issuer's keys derive from --seed)")
    try:
        return build_saml_corpus(now=now, seed=seed, audience=audience, issuer=iss or DEFAULT_SAML_ISSUER)
    except SamlGenerateError as exc:
        fail(str(exc))


def _write_saml(built: SamlBuilt, out: Path, force: bool) -> None:
    from .corpus import SAML_KIND
    from .report import print_coverage
    from .saml_corpus import CA_CERTIFICATE_FILE, CERTIFICATE_FILE, SamlGenerateError, write_saml_corpus

    try:
        root = write_saml_corpus(built, out, force=force)
    except (SamlGenerateError, OSError) as exc:
        fail(str(exc))
    console = Console(highlight=False)
    meta, forge = built.corpus.meta, built.forge
    counts = meta["counts"]
    console.print(
        f"wrote {len(built.corpus)} SAML cases to {root} ({counts['saml-valid']} valid, {counts['saml-rules']} rule, "
        f"{counts['saml-conditions']} condition, {counts['saml-attacks']} attack), now {meta['now']}",
        markup=False,
    )
    console.print(
        "TEST MATERIAL: the SAML issuers' keys derive from a public seed; never configure a production verifier "
        "with this corpus",
        markup=False,
        style="bold red",
    )
    console.print(
        f"configure the verifier under test with the SAML issuer {forge.issuer}, its certificates "
        f"{root / CERTIFICATE_FILE}, and the SAML issuer {forge.ca.issuer}, trusted through the CA "
        f"{root / CA_CERTIFICATE_FILE}; audience {forge.audience} (attest: ATTEST_TRUST_STORE={root / 'trust.yaml'}, "
        f"ATTEST_ALLOW_CONTEXT_NOW=true); see {root / 'README.md'}",
        markup=False,
    )
    print_coverage(console, built.corpus.cases, SAML_KIND)


def _issuer_key(path: Path | None) -> Any:
    from ..errors import ConfigurationError
    from ..keys import load_private_key

    if path is None:
        return None
    try:
        return load_private_key(path)
    except ConfigurationError as exc:
        fail(str(exc))


def _build(profile: str, now: int | None, seed: str, audience: str, iss: str, issuer_key: Path | None,
           kid: str | None, alg: str | None, all_variants: bool) -> Built:
    from ..errors import ConfigurationError
    from .generate import GenerateError, build_corpus

    key = _issuer_key(issuer_key)
    try:
        return build_corpus(profile=profile, now=now, seed=seed, audience=audience, iss=iss, issuer_key=key,
                            issuer_kid=kid, issuer_alg=alg, all_variants=all_variants)
    except (GenerateError, ConfigurationError) as exc:
        fail(str(exc))


@conformance_app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the corpus to.")],
    helseid: Annotated[
        bool,
        typer.Option(
            "--helseid",
            help="A HelseID corpus instead: recipes for (access token, DPoP proof, request) triples, minted at "
            "run time with key material stored in the corpus (TEST MATERIAL: private keys inside); run it "
            "with --mode http-api.",
        ),
    ] = False,
    saml: Annotated[
        bool,
        typer.Option(
            "--saml",
            help="A SAML corpus instead: signed SAML 2.0 assertions (IHE XUA) of a test SAML issuer, with its "
            "trust store (TEST MATERIAL); run it with --mode http-api or library.",
        ),
    ] = False,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            help="Profile the target verifies with (tillitsrammeverk-1.1 or tillitsrammeverk-1.1-test; "
            "default tillitsrammeverk-1.1). Not with --helseid or --saml.",
        ),
    ] = None,
    issuer_key: Annotated[
        Path | None,
        typer.Option("--issuer-key", help="PEM private key for issuer A (default: derived from the seed); with "
                     "--helseid the authorization server's RSA key (e.g. a local HelseID's)."),
    ] = None,
    iss: Annotated[
        str | None,
        typer.Option(
            "--iss",
            help="Issuer A's iss (default https://issuer.conformance.example); with --helseid the "
            "authorization server's issuer (default https://helseid.conformance.invalid); with --saml the SAML "
            "issuer (default https://saml-idp.conformance.invalid).",
        ),
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="--helseid: a scope the API requires (repeatable; default <audience>/read)."),
    ] = None,
    kid: Annotated[
        str | None, typer.Option("--kid", help="kid of --issuer-key (default: RFC 7638 thumbprint).")
    ] = None,
    alg: Annotated[
        str | None, typer.Option("--alg", help="Algorithm for an RSA --issuer-key (RS256 default, PS256...).")
    ] = None,
    audience: Annotated[
        str, typer.Option("--audience", help="The target verifier's audience.")
    ] = "urn:attest:conformance:source",
    now: NowOpt = None,
    seed: SeedOpt = "attest-conformance",
    all_variants: AllOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty directory.")] = False,
) -> None:
    """Write a corpus: cases/, manifest.json, trust.yaml (+ jwks/, trust-variants/; with --helseid: jwks.json,
    keys/, README.md; with --saml: saml-issuer.pem, README.md). Deterministic for a given --seed and --now."""
    from .generate import GenerateError, write_corpus
    from .report import print_coverage

    if helseid and saml:
        fail("--helseid and --saml are two kinds of corpus: give one")
    if saml:
        unsupported = {"--profile": profile, "--alg": alg, "--all-variants": all_variants, "--issuer-key": issuer_key,
                       "--kid": kid, "--scope": scope}
        _write_saml(_build_saml(now, seed, audience, iss, unsupported), out, force)
        return
    if helseid:
        unsupported = {"--profile": profile, "--alg": alg, "--all-variants": all_variants}
        _write_helseid(_build_helseid(now, seed, audience, iss, scope, unsupported, _issuer_key(issuer_key), kid),
                       out, force)
        return
    if scope:
        fail("--scope applies to --helseid only")
    profile = profile or "tillitsrammeverk-1.1"
    built = _build(profile, now, seed, audience, iss or "https://issuer.conformance.example", issuer_key, kid, alg,
                   all_variants)
    try:
        root = write_corpus(built, out, force=force)
    except (GenerateError, OSError) as exc:
        fail(str(exc))
    console = Console(highlight=False)
    meta = built.corpus.meta
    counts = meta["counts"]
    console.print(
        f"wrote {len(built.corpus)} cases to {root} ({counts['rules']} rule, {counts['attacks']} attack, "
        f"{counts['examples']} example, {counts['valid']} valid) for profile {profile}, "
        f"now {meta['now']}, audience {audience}",
        markup=False,
    )
    console.print(f"configure the verifier under test with {root / 'trust.yaml'}", markup=False)
    print_coverage(console, built.corpus.cases)


@conformance_app.command("list")
def list_cases(
    corpus: Annotated[
        Path | None,
        typer.Option("--corpus", help="A corpus directory (default: the cases `generate` would write)."),
    ] = None,
    profile: ProfileOpt = "tillitsrammeverk-1.1",
    now: NowOpt = None,
    all_variants: AllOpt = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Glob on case id, rule, group or covered id.")
    ] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Glob to leave out.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable list.")] = False,
    coverage: Annotated[bool, typer.Option("--coverage", help="Also print the coverage table.")] = False,
    helseid: Annotated[
        bool, typer.Option("--helseid", help="The cases `generate --helseid` would write (without --corpus).")
    ] = False,
    saml: Annotated[
        bool, typer.Option("--saml", help="The cases `generate --saml` would write (without --corpus).")
    ] = False,
) -> None:
    """The cases with their rule ids, expectations and descriptions."""
    from .corpus import CorpusError, load_corpus
    from .report import print_case_list, print_coverage

    if corpus is not None:
        try:
            c = load_corpus(corpus)
        except CorpusError as exc:
            fail(str(exc))
    elif helseid:
        from .forge import DEFAULT_AUDIENCE, DEFAULT_SEED

        c = _build_helseid(now, DEFAULT_SEED, DEFAULT_AUDIENCE, None, None, {}).corpus
    elif saml:
        from .forge import DEFAULT_AUDIENCE, DEFAULT_SEED

        c = _build_saml(now, DEFAULT_SEED, DEFAULT_AUDIENCE, None, {}).corpus
    else:
        c = _build(profile, now, "attest-conformance", "urn:attest:conformance:source",
                   "https://issuer.conformance.example", None, None, None, all_variants).corpus
    c = c.select(only or (), exclude or ())
    if as_json:
        typer.echo(json.dumps([case.meta() for case in c.cases], indent=2, ensure_ascii=False))
        return
    console = Console(highlight=False)
    print_case_list(console, c.cases)
    if coverage:
        print_coverage(console, c.cases, c.kind)
    else:
        console.print(f"{len(c)} cases")


def _mode_for(mode: str, kind: str | None) -> str:
    """The mode to run a corpus of ``kind`` in (``mode`` empty: the kind's default); a usage error when
    they do not fit."""
    from .corpus import SAML_KIND

    if kind == SAML_KIND:
        if mode and mode not in SAML_MODES:
            fail(f"a SAML corpus (signed assertions, posted as {{\"saml\": …}}) runs with --mode "
                 f"{' or '.join(SAML_MODES)}, not {mode}")
        return mode or "http-api"
    if kind is not None:
        if not mode:
            return "http-api"
        if mode not in HELSEID_MODES:
            fail(f"a HelseID corpus (recipes minted at run time) runs with --mode {' or '.join(HELSEID_MODES)}, "
                  f"not {mode}")
        return mode
    if mode == "http-api":
        fail("--mode http-api runs a HelseID or SAML corpus (attest conformance generate --helseid or --saml); "
             "this corpus holds attestation tokens: use --mode attest-api, http or command")
    return mode or "attest-api"


@conformance_app.command()
def run(
    corpus: Annotated[Path, typer.Option("--corpus", help="Corpus directory written by `generate`.")],
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="Target kind: " + "; ".join(f"{m}: {h}" for m, h in MODE_HELP.items())
            + " (default: attest-api; http-api for a HelseID or SAML corpus).",
        ),
    ] = "",
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="attest-api/http/http-api: the URL (http-api: the API's URL as the EPJ calls it, the DPoP "
            "htu; the patient is added to its query; for a SAML corpus the base URL of a /v1/verify-compatible "
            "service); command: the command line with {token}-style placeholders (token also on stdin).",
        ),
    ] = None,
    patient_param: Annotated[
        str,
        typer.Option(
            "--patient-param",
            help="http-api: the query parameter that names the patient "
            "(value urn:oid:2.16.578.1.12.4.1.4.1|<F-number>).",
        ),
    ] = "patient.identifier",
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Cases run concurrently.")] = min(
        8, (os.cpu_count() or 2) * 2
    ),
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per request or command.")] = 10.0,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report here.")] = None,
    json_report: Annotated[Path | None, typer.Option("--json", help="Write the JSON report here.")] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Glob on case id, rule, group or covered id.")
    ] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Glob to leave out.")] = None,
    replay: Annotated[
        bool | None,
        typer.Option(
            "--replay/--no-replay",
            help="Whether the target keeps a replay "
            "cache (default: yes for attest-api/http/library and SAML, no for command).",
        ),
    ] = None,
    clock: Annotated[
        str,
        typer.Option(
            "--target-clock",
            help="auto, own or injected: does the target use its own "
            "clock (then time-sensitive cases outside their window are skipped)?",
        ),
    ] = "auto",
    strict_rules: Annotated[
        bool, typer.Option("--strict-rules", help="Also fail when reported rule ids differ.")
    ] = False,
    method: Annotated[
        str | None, typer.Option("--method", help="http: request method (POST); http-api: (GET).")
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header", "-H", help="http: 'Name: template' (default 'Authorization: Bearer {token}')."
        ),
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            help="http: JSON body field 'path=template', e.g. token={token} or patient.id={patient}.",
        ),
    ] = None,
    accept_status: Annotated[
        str, typer.Option("--accept-status", help="http, http-api: statuses meaning accepted.")
    ] = "200-299",
    reject_status: Annotated[
        str | None,
        typer.Option("--reject-status", help="http: statuses meaning rejected (400-499); http-api: (401,403)."),
    ] = None,
    accept_exit: Annotated[
        str, typer.Option("--accept-exit", help="command: exit statuses meaning accepted.")
    ] = "0",
    reject_exit: Annotated[
        str, typer.Option("--reject-exit", help="command: exit statuses meaning rejected.")
    ] = "1",
    json_output: Annotated[
        bool,
        typer.Option(
            "--json-output", help="command: stdout is the decision document; compare its error codes too."
        ),
    ] = False,
    profile: Annotated[
        str | None, typer.Option("--profile", help="library: profile (default: the corpus's).")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or tables, only the summary.")
    ] = False,
    show_skips: Annotated[bool, typer.Option("--show-skips", help="List every skipped case.")] = False,
) -> None:
    """Run the corpus against a target and compare. Exit 0 when every case behaves as expected, 1 on any
    mismatch, 2 on a usage error."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .corpus import SAML_KIND, CorpusError, load_corpus
    from .helseid_targets import HelseIdLibraryTarget, HttpApiTarget
    from .report import print_results, write_json_report, write_junit
    from .runner import (
        ApiTarget,
        CaseResult,
        CommandTarget,
        HttpTarget,
        LibraryTarget,
        RunnerError,
        RunOptions,
        Target,
    )
    from .runner import run as run_corpus
    from .saml_targets import SamlApiTarget, SamlLibraryTarget

    if mode and mode not in MODES:
        fail(f"--mode must be one of {', '.join(MODES)}")
    if clock not in ("auto", "own", "injected"):
        fail("--target-clock must be auto, own or injected")
    if jobs < 1 or jobs > 64:
        fail("--jobs must be 1-64")
    if timeout <= 0:
        fail("--timeout must be positive")
    try:
        c = load_corpus(corpus)
    except CorpusError as exc:
        fail(str(exc))
    c = c.select(only or (), exclude or ())
    mode = _mode_for(mode, c.kind)
    own = None if clock == "auto" else clock == "own"
    tgt: Target
    try:
        if c.kind == SAML_KIND and mode == "library":
            tgt = SamlLibraryTarget(profile=profile, replay=True if replay is None else replay)
        elif c.kind == SAML_KIND:
            if not target:
                fail(f"--mode {mode} needs --target")
            tgt = SamlApiTarget(target, timeout=timeout, jobs=jobs, replay=True if replay is None else replay)
            if own is not None:
                tgt.own_clock = own
        elif mode == "library" and c.kind is not None:
            tgt = HelseIdLibraryTarget(method=method or "GET", replay=True if replay is None else replay)
        elif mode == "library":
            tgt = LibraryTarget(profile=profile, replay=True if replay is None else replay)
        elif not target:
            fail(f"--mode {mode} needs --target")
        elif mode == "http-api":
            tgt = HttpApiTarget(target, method=method or "GET", patient_param=patient_param, accept=accept_status,
                                reject=reject_status or "401,403", timeout=timeout, jobs=jobs)
        elif mode == "attest-api":
            tgt = ApiTarget(target, timeout=timeout, jobs=jobs, replay=True if replay is None else replay)
            if own is not None:
                tgt.own_clock = own
        elif mode == "http":
            headers = header or ([] if field else ["Authorization: Bearer {token}"])
            tgt = HttpTarget(target, method=method or "POST", headers=headers,
                             fields=field or [], accept=accept_status, reject=reject_status or "400-499",
                             timeout=timeout,
                             jobs=jobs, replay=True if replay is None else replay, own_clock=own)
        else:
            tgt = CommandTarget(target, accept=accept_exit, reject=reject_exit, json_output=json_output,
                                timeout=timeout, replay=bool(replay), own_clock=own)
        if isinstance(tgt, HttpApiTarget | HelseIdLibraryTarget):
            tgt.material(c)     # the corpus's keys, read before anything is sent
    except RunnerError as exc:
        fail(str(exc))

    console = Console(highlight=False)
    err = _err()
    if tgt.own_clock and not quiet:
        now = c.meta.get("now")
        err.print(
            f"note: the target uses its own clock; the corpus was generated for now={now}. Time-sensitive "
            "cases outside their window are skipped.",
            markup=False,
            style="dim",
        )
    show_progress = not quiet and err.is_terminal
    progress = Progress(
        TextColumn("conformance"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[bad]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not show_progress,
    )
    task = progress.add_task("run", total=len(c), bad="")
    bad = 0

    def tick(r: CaseResult) -> None:
        nonlocal bad
        if r.mismatch:
            bad += 1
        progress.update(task, advance=1, bad=f"[red]{bad} mismatch(es)[/]" if bad else "")

    try:
        with progress:
            result = run_corpus(c, tgt, RunOptions(jobs=jobs, strict_rules=strict_rules, progress=tick))
    except RunnerError as exc:
        fail(str(exc))
    if junit is not None:
        write_junit(junit, result)
    if json_report is not None:
        write_json_report(json_report, result)
    if quiet:
        n = result.counts()
        console.print(
            f"{'CONFORMS' if result.ok else str(n['mismatches']) + ' MISMATCH(ES)'}: {n['cases']} cases, "
            f"{n['pass']} passed, {n['fail']} failed, {n['error']} errors, {n['skip']} skipped",
            markup=False,
        )
        for r in result.results:
            if r.mismatch:
                console.print(f"  {r.status} {r.case.id}: {r.reason}", markup=False)
    else:
        print_results(console, result, show_skips=show_skips)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_MISMATCH)


if __name__ == "__main__":  # pragma: no cover - `python -m attest.conformance.cli`
    conformance_app()
