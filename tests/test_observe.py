"""What an operator sees: `/metrics`, the JSON log lines, request ids (`X-Request-ID`,
`Event.requestId`) and OpenTelemetry traces."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from hub.service.logs import JsonFormatter
from hub.service.metrics import OTHER, OperationNames
from tests.agency_api import HISTORY, REGISTER, registration
from tests.conftest import PERSONAL_DATA_KEY, ROOT, Client, hub_cli, running, token
from tests.streams import Subscriber, hub_serve, served

MUNICIPAL = token("MUNICIPAL")
NAMED_REGISTER = REGISTER.replace("mutation(", "mutation Register(", 1)
HELLO = "query Hello { __typename }"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Each sample of a Prometheus text exposition, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(http: httpx.AsyncClient) -> dict:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_metrics_count_queries_commands_refusals_and_subscribers(database: str) -> None:
    async with served(database) as app, httpx.AsyncClient(base_url=app.base) as http:
        before = await scrape(http)
        auth = {"Authorization": f"Bearer {MUNICIPAL}"}
        said = await http.post("/graphql", json={"query": HELLO}, headers=auth)
        assert said.json() == {"data": {"__typename": "Query"}}
        ok = await http.post(
            "/graphql",
            json={"query": NAMED_REGISTER, "variables": {"input": registration()}},
            headers=auth,
        )
        assert ok.json()["data"]["registerAgency"]["errors"] == []
        refused = await http.post(
            "/graphql",
            json={"query": NAMED_REGISTER, "variables": {"input": registration(creditCode="bad")}},
            headers=auth,
        )
        [error] = refused.json()["data"]["registerAgency"]["errors"]
        unauthenticated = await http.post("/graphql", json={"query": "{ agencies { totalCount } }"})
        code = unauthenticated.json()["errors"][0]["extensions"]["code"]
        async with Subscriber(app.port, MUNICIPAL) as subscriber:
            await subscriber.subscribe(after=0)
            [event] = await subscriber.events(1)
            assert event["type"] == "AgencyRegistered"
            async with http.stream("GET", "/events?after=0", headers=auth) as sse:
                lines = sse.aiter_lines()  # held: its end would close the stream
                async for line in lines:
                    if line.startswith("data:"):
                        assert json.loads(line[5:])["requestId"]
                        break
                during = await scrape(http)
        await asyncio.sleep(0.2)
        after = await scrape(http)

    assert all(name.startswith("hub_") for name, _ in after), {n for n, _ in after}

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    graphql = {"path": "/graphql"}
    assert grew("hub_requests_total", **graphql, operation="Hello", outcome="ok") == 1
    assert grew("hub_requests_total", **graphql, operation="Register", outcome="ok") == 2
    assert grew("hub_requests_total", **graphql, operation="anonymous", outcome=code) == 1
    assert grew("hub_request_duration_seconds_count", **graphql, operation="Hello") == 1
    assert grew("hub_requests_total", path="/metrics", operation="", outcome="ok") >= 2
    assert grew("hub_commands_total", command="registerAgency", outcome="ok") == 1
    assert grew("hub_commands_total", command="registerAgency", outcome=error["code"]) == 1
    assert grew("hub_events_appended_total") == 1
    assert grew("hub_stream_events_delivered_total", transport="websocket") >= 1
    assert grew("hub_stream_events_delivered_total", transport="sse") >= 1
    assert value(during, "hub_stream_subscribers", transport="websocket") >= 1
    assert value(during, "hub_stream_subscribers", transport="sse") >= 1
    assert value(after, "hub_stream_subscribers", transport="sse") == 0
    assert value(after, "hub_event_store_head") >= 1
    for projection in ("event_log", "agencies", "workers"):
        assert value(after, "hub_projection_position", projection=projection) >= 1
        assert ("hub_projection_lag_events", (("projection", projection),)) in after
    assert value(after, "hub_read_pool_connections") >= 1
    assert ("hub_read_pool_connections_in_use", ()) in after


def test_operation_names_are_a_bounded_label_set() -> None:
    names = OperationNames(limit=2)
    assert [names.label(n) for n in ("A", "B", "C", "A", None)] == [
        "A",
        "B",
        OTHER,
        "A",
        "anonymous",
    ]
    assert OperationNames().label("not a name; DROP") == OTHER
    assert OperationNames().label("x" * 101) == OTHER


async def test_the_request_id_is_the_callers_when_bounded_and_printable(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    auth = {"Authorization": f"Bearer {MUNICIPAL}"}
    with caplog.at_level(logging.INFO, logger="hub.requests"):
        said = await client.http.post(
            "/graphql", json={"query": HELLO}, headers={**auth, "X-Request-ID": "trace-1:a.b_c"}
        )
    assert said.headers["x-request-id"] == "trace-1:a.b_c"
    [record] = [r for r in caplog.records if getattr(r, "request_id", None) == "trace-1:a.b_c"]
    line = json.loads(JsonFormatter().format(record))
    assert line["logger"] == "hub.requests"
    assert line["level"] == "INFO"
    assert {k: line[k] for k in ("method", "path", "operation", "status", "sub")} == {
        "method": "POST",
        "path": "/graphql",
        "operation": "Hello",
        "status": 200,
        "sub": "test-municipal",
    }
    assert isinstance(line["duration_ms"], float)

    for unfit in ("x" * 101, "two words", "ünïcode", ""):
        answered = await client.http.get("/healthz", headers={"X-Request-ID": unfit.encode()})
        made = answered.headers["x-request-id"]
        assert made != unfit and len(made) == 36, made
    fresh = await client.http.get("/healthz")
    assert len(fresh.headers["x-request-id"]) == 36


async def test_a_mutations_events_show_its_request_id_beside_the_correlation_id(
    client: Client,
) -> None:
    auth = {"Authorization": f"Bearer {MUNICIPAL}"}
    ids = []
    for request_id in ("same-id", "same-id"):
        said = await client.http.post(
            "/graphql",
            json={"query": REGISTER, "variables": {"input": registration()}},
            headers={**auth, "X-Request-ID": request_id},
        )
        payload = said.json()["data"]["registerAgency"]
        assert payload["errors"] == []
        ids.append(payload["agency"]["id"])
    history = HISTORY.replace("correlationId", "correlationId requestId")
    first, second = [
        (await client.run(history, {"id": i}, auth=MUNICIPAL))["history"][0] for i in ids
    ]
    assert first["requestId"] == second["requestId"] == "same-id"
    assert first["correlationId"] != second["correlationId"], "a client cannot join commands"
    trail = """query($filter: AuditFilter) { auditTrail(first: 5, filter: $filter) {
      edges { node { requestId } } } }"""
    found = await client.run(trail, {"filter": {"entityId": ids[0]}}, auth=token("AUDITOR"))
    assert [e["node"]["requestId"] for e in found["auditTrail"]["edges"]] == ["same-id"]


async def test_an_internal_error_names_the_request_id_of_the_response(client: Client) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a fault of the hub")

    async def resolved(*_: Any, **__: Any) -> None:
        return None  # the read planner leaves the operation to the resolvers

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("hub.schema.agency.agency_page", broken)
        patch.setattr("hub.reads.planner.Planner.answer", resolved)
        said = await client.http.post(
            "/graphql",
            json={"query": "{ agencies(first: 1) { totalCount } }"},
            headers={"Authorization": f"Bearer {MUNICIPAL}", "X-Request-ID": "fault-42"},
        )
    assert said.headers["x-request-id"] == "fault-42"
    [error] = said.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "request id fault-42" in error["message"]


async def test_the_websocket_upgrade_echoes_the_request_id(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hub.requests"):
        async with served(database) as app:
            async with websockets.connect(
                f"ws://127.0.0.1:{app.port}/graphql",
                subprotocols=["graphql-transport-ws"],
                additional_headers={"X-Request-ID": "ws-7"},
            ) as ws:
                assert ws.response.headers["X-Request-ID"] == "ws-7"
            await asyncio.sleep(0.2)
    [line] = [r for r in caplog.records if getattr(r, "request_id", None) == "ws-7"]
    assert (line.method, line.path, line.status) == ("WEBSOCKET", "/graphql", 101)


class Collector(http.server.BaseHTTPRequestHandler):
    """Stands in for an OTLP collector: keeps the body of every POST."""

    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the handler's protocol
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Collector.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@contextlib.contextmanager
def collector() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def on(database: str) -> dict[str, str]:
    """The settings of a `hub serve` process on the test's `database`."""
    return {"HUB_DATABASE_URL": database, "HUB_PERSONAL_DATA_KEY": PERSONAL_DATA_KEY}


async def test_hub_serve_logs_json_lines_and_shares_metrics_across_processes(
    database: str, tmp_path: Path
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    log = tmp_path / "serve.log"
    env = {"HUB_LOG_FORMAT": "json", "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    async with hub_serve(log, **on(database), **env) as (http, _):
        said = await http.post(
            "/graphql",
            json={"query": HELLO},
            headers={"Authorization": f"Bearer {MUNICIPAL}", "X-Request-ID": "from-the-test"},
        )
        assert said.headers["x-request-id"] == "from-the-test"
        found = await scrape(http)
    assert any(shared.iterdir()), "the multiprocess directory holds the values"
    assert value(found, "hub_requests_total", path="/graphql", operation="Hello", outcome="ok") == 1
    assert all(name.startswith("hub_") for name, _ in found)
    assert ("hub_projection_position", (("projection", "event_log"),)) in found
    assert ("hub_stream_subscribers", (("transport", "sse"),)) in found
    assert ("hub_read_pool_connections", ()) in found

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    [request] = [line for line in lines if line.get("request_id") == "from-the-test"]
    assert request["logger"] == "hub.requests"
    assert request["operation"] == "Hello"
    assert request["status"] == 200
    assert request["sub"] == "test-municipal"
    assert request["method"] == "POST" and request["path"] == "/graphql"
    assert "duration_ms" in request and "time" in request
    loggers = {line["logger"] for line in lines}
    assert {"hub.requests", "uvicorn.error"} <= loggers, loggers


def test_tracing_off_imports_no_opentelemetry() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    code = (
        "import sys; from hub.service.web import create_app; from hub.service.config import "
        "Settings; app = create_app(Settings.from_env()); app.build_middleware_stack(); "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


async def test_traces_reach_the_otlp_endpoint(database: str, tmp_path: Path) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    Collector.received.clear()
    with collector() as endpoint:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        async with hub_serve(tmp_path / "serve.log", **on(database), **env) as (http, _):
            said = await http.post(
                "/graphql",
                json={"query": "query Few { agencies(first: 1) { totalCount } }"},
                headers={"Authorization": f"Bearer {MUNICIPAL}"},
            )
            assert "errors" not in said.json(), said.json()
            deadline = time.monotonic() + 20
            spans: list[Any] = []
            while time.monotonic() < deadline:
                spans = []
                for path, body in list(Collector.received):
                    assert path == "/v1/traces"
                    request = ExportTraceServiceRequest.FromString(body)
                    for resource in request.resource_spans:
                        for scoped in resource.scope_spans:
                            spans.extend((scoped.scope.name, s) for s in scoped.spans)
                scopes = {name for name, _ in spans}
                if any("asgi" in n for n in scopes) and any("asyncpg" in n for n in scopes):
                    break
                await asyncio.sleep(0.2)
    names = [span.name for _, span in spans]
    assert any(name.startswith("POST /graphql") for name in names), names
    scopes = {name for name, _ in spans}
    assert any("asyncpg" in name for name in scopes), scopes


async def test_events_stored_before_request_ids_were_kept_still_load(database: str) -> None:
    async with running(database) as client:
        said = await client.http.post(
            "/graphql",
            json={"query": REGISTER, "variables": {"input": registration()}},
            headers={"Authorization": f"Bearer {MUNICIPAL}", "X-Request-ID": "old-1"},
        )
        agency = said.json()["data"]["registerAgency"]["agency"]["id"]
    conn = await asyncpg.connect(database)
    try:  # back to what the hub stored before: an envelope without `request_id`
        rows = await conn.fetch(
            "SELECT notification_id, state FROM registry_events WHERE state LIKE $1",
            b'%"old-1"%',
        )
        assert rows
        for row in rows:
            state = re.sub(rb',\s*"request_id":\s*"old-1"', b"", row["state"])
            assert b"request_id" not in state
            await conn.execute(
                "UPDATE registry_events SET state = $2 WHERE notification_id = $1",
                row["notification_id"],
                state,
            )
    finally:
        await conn.close()
    async with running(database, run_projections=False) as client:
        await client.hub.projector.rewind(["event_log"])
        await client.hub.projector.catch_up()
        history = HISTORY.replace("correlationId", "correlationId requestId")
        [event] = (await client.run(history, {"id": agency}, auth=MUNICIPAL))["history"]
        assert event["requestId"] is None and event["correlationId"]


def test_an_unknown_log_format_stops_hub_serve_naming_the_setting() -> None:
    done = hub_cli("serve", HUB_LOG_FORMAT="xml")
    assert done.returncode == 2
    assert done.stderr.strip() == "hub serve: HUB_LOG_FORMAT=xml: not one of auto, json, text"
