"""Generated queries and mutations of the whole schema, with a token of each role and none:
the hub answers every one without a server error, and every error it answers carries a code.

Bounded for CI (`FUZZ_EXAMPLES`, default 150); `make fuzz` runs a longer one.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis_graphql import Mode, from_schema, nodes

from hub.schema.root import schema
from tests.conftest import running, token

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
SCALARS = {
    "Date": st.dates().map(nodes.String),
    "DateTime": st.datetimes().map(lambda moment: nodes.String(moment.isoformat())),
    "Decimal": st.decimals(allow_nan=False, allow_infinity=False, places=2).map(nodes.String),
    "JSON": st.just(nodes.String("{}")),
}
CALLERS = [
    token("MUNICIPAL"),
    token("DISTRICT", district="500103"),
    token("AUDITOR"),
    token("PARTNER"),
    None,
]


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "invalid"])
async def test_generated_operations_never_fail_the_server(database: str, mode: Mode) -> None:
    """Valid operations, and operations the schema must refuse (wrong types, missing
    arguments, unknown values)."""
    faults: list[tuple[str, Any]] = []
    async with running(database) as client:
        loop = asyncio.get_running_loop()

        def ask(operation: str, caller: str | None) -> None:
            headers = {"Authorization": f"Bearer {caller}"} if caller else {}
            sent = client.http.post("/graphql", json={"query": operation}, headers=headers)
            response = asyncio.run_coroutine_threadsafe(sent, loop).result(60)
            if response.status_code >= 500:
                faults.append((operation, response.status_code))
                return
            uncoded = [
                e
                for e in response.json().get("errors") or []
                if "code" not in e.get("extensions", {})
            ]
            if uncoded:
                faults.append((operation, uncoded))

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            operation=from_schema(schema.as_str(), custom_scalars=SCALARS, mode=mode),
            caller=st.sampled_from(CALLERS),
        )
        def fuzz(operation: str, caller: str | None) -> None:
            ask(operation, caller)

        await asyncio.to_thread(fuzz)
    assert faults == []
