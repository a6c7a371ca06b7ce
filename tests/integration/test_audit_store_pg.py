"""The PostgreSQL audit store against a real PostgreSQL: a batch is one statement (arrays unnested), the group
commit of an event loop runs on that loop's own connection, survives a database restart between batches, fails
closed while the database is down, and closes its connections whether or not their loop is still running."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from attest import DependencyUnavailable
from attest.audit.store import AuditQuery, AuditRow, PostgresDialect, SQLAuditStore

from ..support.servers import PostgresServer, need

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    need("postgres")
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


def _row(i: int | str, **kw: object) -> AuditRow:
    values: dict[str, object] = {"id": f"pg-{i}", "verification_id": "v", "recorded_ms": 1, "decision": "deny",
                                 "outcome": "8", "codes": "", "issuer": None, "legal_entity": None,
                                 "practitioner_hpr": None, "practitioner_ref": None, "patient_ref": None,
                                 "key_id": "k", "sealed": b"\x00sealed"}
    values.update(kw)
    return AuditRow(**values)  # type: ignore[arg-type]


def test_concurrent_appends_share_commits_on_the_loops_connection(pg: PostgresServer) -> None:
    store = SQLAuditStore(PostgresDialect(pg.url), commit_wait=0.0)

    async def scenario() -> None:
        await asyncio.gather(*(store.append_async([_row(f"c{i}", recorded_ms=2**40 + i)]) for i in range(40)))
        await store.append_async([_row("c0")])  # the same id again: nothing new, no error
        await store.aclose()

    asyncio.run(scenario())
    rows = store.search(AuditQuery(limit=100))
    store.close()
    assert sorted(r.id for r in rows if r.id.startswith("pg-c")) == sorted(f"pg-c{i}" for i in range(40))
    assert {r.recorded_ms for r in rows if r.id == "pg-c5"} == {2**40 + 5} and all(r.issuer is None for r in rows)
    assert store.rows_committed == 41 and store.commits < 41


def test_a_restart_between_batches_is_not_an_outage_and_down_fails_closed(pg: PostgresServer) -> None:
    store = SQLAuditStore(PostgresDialect(pg.url, connect_timeout=1), commit_wait=0.0)

    async def scenario() -> None:
        await store.append_async([_row("r1")])
        pg.restart()  # the loop's connection dies with it: the next batch gets a new one
        await store.append_async([_row("r2")])
        pg.stop()
        with pytest.raises(DependencyUnavailable):
            await store.append_async([_row("r3")])
        pg.start()
        await store.append_async([_row("r4")])
        # the loop ends without aclose: close() below still closes its connection

    asyncio.run(scenario())
    ids = {r.id for r in store.search(AuditQuery(limit=1000))}
    store.close()
    assert {"pg-r1", "pg-r2", "pg-r4"} <= ids and "pg-r3" not in ids
