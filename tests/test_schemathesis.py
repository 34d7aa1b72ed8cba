"""schemathesis in GraphQL mode against the hub served over real HTTP, with a token of each
role and none: every generated query and mutation of every root field, valid and invalid,
is answered without a server error, every error carries a code, and no answer breaks the
schema (schemathesis's own check of the response).

Bounded for CI: `FUZZ_EXAMPLES` (default 150) generated operations per mode, shared among
the callers; `make fuzz` runs a longer one.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import given, settings
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure

from tests.conftest import fresh_database
from tests.streams import Served, served
from tests.test_fuzz import CALLERS, EXAMPLES, FUZZ_SETTINGS, SCALARS, fault, headers_of

for _name, _strategy in SCALARS.items():
    schemathesis.graphql.scalar(_name, _strategy)


@pytest.fixture(scope="module")
async def app(server_url: str) -> AsyncIterator[Served]:
    async with served(await fresh_database(server_url)) as app:
        yield app


def fuzz(url: str, caller: str | None, mode: GenerationMode, examples: int) -> list[Any]:
    """Run schemathesis against `url` as `caller`; the faults it found, and how many
    requests it sent (the last item)."""
    schema = schemathesis.graphql.from_url(url, headers=headers_of(caller), timeout=30)
    faults: list[Any] = []
    sent = 0
    with requests.Session() as session:

        @settings(FUZZ_SETTINGS, max_examples=examples)
        @given(case=schema.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            nonlocal sent
            response = case.call(session=session, headers=headers_of(caller), timeout=60)
            sent += 1
            found = fault(response)
            if found is None:
                try:  # a JSON object that keeps the schema's promises (no null where not null)
                    case.operation.validate_response(response, case=case)
                except Failure as broken:
                    found = broken.title
            if found is not None:
                faults.append((case.body, found))

        run()
    return [*faults, sent]


@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"]
)
@pytest.mark.parametrize("caller", list(CALLERS))
async def test_schemathesis_finds_no_fault(app: Served, caller: str, mode: GenerationMode) -> None:
    examples = math.ceil(EXAMPLES / len(CALLERS))
    *faults, sent = await asyncio.to_thread(
        fuzz, f"{app.base}/graphql", CALLERS[caller], mode, examples
    )
    assert sent > 0
    assert faults == []
