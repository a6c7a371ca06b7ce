"""Conformance harness for source organisations (``attest conformance generate | run | list``).

Modules:

* :mod:`~attest.conformance.forge`: deterministic keys and signatures, the test issuers, token forging;
* :mod:`~attest.conformance.corpus`: the case model, manifest I/O, the coverage catalogue;
* :mod:`~attest.conformance.cases_rules`, :mod:`~attest.conformance.cases_attacks`,
  :mod:`~attest.conformance.cases_valid`: the cases (rule violations, attack classes A1-J2, valid
  attestations and the data model's examples);
* :mod:`~attest.conformance.generate`: building and writing a corpus;
* :mod:`~attest.conformance.helseid_cases`, :mod:`~attest.conformance.helseid_corpus`,
  :mod:`~attest.conformance.helseid_mint`, :mod:`~attest.conformance.helseid_targets`: the HelseID mode
  (recipes for access token + DPoP proof + request, minted at run time; ``--mode http-api``);
* :mod:`~attest.conformance.runner`: the targets (attest-api, http, command, library) and the run loop;
* :mod:`~attest.conformance.report`: rich tables, JUnit XML, JSON;
* :mod:`~attest.conformance.cli`: the typer sub-app.

Nothing is imported here, so that ``attest verify`` (which the harness may run once per case) stays quick.
User documentation: docs/conformance.md.
"""
