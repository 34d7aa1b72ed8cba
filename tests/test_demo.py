"""The demo the README starts: records of every type, made through the commands, once."""

from __future__ import annotations

from hub.tools import demo
from tests.agency_api import AUDITOR
from tests.conftest import running

COUNTS = """{ agencies { totalCount } stations { totalCount } posts { totalCount }
  workers { totalCount } courses { totalCount } projects { totalCount }
  communities { totalCount } }"""


async def test_the_demo_has_every_record_type_and_seeds_once(database: str) -> None:
    async with running(database) as client:
        assert await demo.seed(client.hub) > 50
        counts = await client.run(COUNTS, auth=AUDITOR)
        assert all(value["totalCount"] > 0 for value in counts.values()), counts
        before = await client.events()
        assert await demo.seed(client.hub) == 0
        assert await client.events() == before
        tokens = demo.demo_tokens(client.hub, None)
        assert {"MUNICIPAL", "AUDITOR", "PARTNER"} <= set(tokens)
