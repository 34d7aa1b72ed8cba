"""The GraphQL documents the agency tests send, and a helper to register an agency."""

from __future__ import annotations

from typing import Any

from tests.conftest import Client, credit_code, token

AGENCY_FIELDS = """
  id version status name creditCode kind fields registeredOn updatedAt
  district { code name }
  incubation { incubator from to }
  demonstration { programme year }
"""

PAYLOAD = f"agency {{ {AGENCY_FIELDS} }} position errors {{ code field message }}"


def mutation(name: str, input_type: str) -> str:
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {PAYLOAD} }} }}"


REGISTER = mutation("registerAgency", "RegisterAgencyInput")
UPDATE = mutation("updateAgencyProfile", "UpdateAgencyProfileInput")
INCUBATE = mutation("incubateAgency", "IncubateAgencyInput")
DESIGNATE = mutation("designateDemonstrationAgency", "DesignateDemonstrationAgencyInput")
SUSPEND = mutation("suspendAgency", "AgencyLifecycleInput")
REINSTATE = mutation("reinstateAgency", "AgencyLifecycleInput")
DEREGISTER = mutation("deregisterAgency", "AgencyLifecycleInput")

AGENCY = f"query($id: ID!) {{ agency(id: $id) {{ {AGENCY_FIELDS} }} }}"
HISTORY = """query($id: ID!) { history(id: $id) {
  position entityId entityType type version recordedAt effectiveOn reason retracts correlationId
  data actor { sub party role jurisdiction } } }"""

MUNICIPAL = token("MUNICIPAL")
AUDITOR = token("AUDITOR")


def registration(**overrides: Any) -> dict[str, Any]:
    district = overrides.get("district", "500103")
    values = {
        "name": "重庆市渝中区测试社工服务中心",
        "creditCode": credit_code(district),
        "district": district,
        "kind": "COMPREHENSIVE",
        "fields": ["SOCIAL_WELFARE", "COMMUNITY_BUILDING"],
        "effectiveOn": "2018-03-01",
    }
    values.update(overrides)
    return values


async def register(client: Client, auth: str = MUNICIPAL, **overrides: Any) -> dict[str, Any]:
    """Register an agency that must be accepted; return the payload."""
    data = await client.run(REGISTER, {"input": registration(**overrides)}, auth=auth)
    payload = data["registerAgency"]
    assert payload["errors"] == [], payload["errors"]
    return payload


async def send(client: Client, document: str, auth: str = MUNICIPAL, **input: Any) -> dict:
    """Send a mutation; return its payload (errors included)."""
    data = await client.run(document, {"input": input}, auth=auth)
    return next(iter(data.values()))


def unseen(payload: dict) -> bool:
    """Whether a mutation's change is stored but the read views did not show it in time (as
    when the hub runs no projections)."""
    codes = [e["code"] for e in payload["errors"]]
    return payload["position"] is not None and codes == ["NOT_YET_VISIBLE"]


async def refused(
    client: Client,
    document: str,
    code: str,
    field: str | None,
    words: str,
    /,
    auth: str = MUNICIPAL,
    **input: Any,
) -> dict:
    """Send a mutation that must be refused with `code` on input field `field` and a message
    containing `words`; check it shows no record and wrote nothing. Returns the error."""
    before = await client.events()
    payload = await send(client, document, auth=auth, **input)
    assert len(payload["errors"]) == 1, payload
    error = payload["errors"][0]
    assert (error["code"], error["field"]) == (code, field), error
    assert words in error["message"], error["message"]
    assert all(v is None for k, v in payload.items() if k != "errors"), payload
    assert await client.events() == before
    return error
