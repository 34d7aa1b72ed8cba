"""The GraphQL documents the project tests send, and helpers to set a project up."""

from __future__ import annotations

from typing import Any

from tests.agency_api import register
from tests.conftest import Client, token

PROJECT_FIELDS = """
  id version status title field funder budget programme startsOn endsOn approvedOn disbursed
  updatedAt
  district { code name }
  contractor { id name status }
  progress { percentComplete summary reportedOn }
  disbursements { amount effectiveOn position }
  evaluation { evaluator commissionedOn score grade concludedOn }
"""

PAYLOAD = f"project {{ {PROJECT_FIELDS} }} position errors {{ code field message }}"


def mutation(name: str, input_type: str) -> str:
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {PAYLOAD} }} }}"


APPROVE = mutation("approveProject", "ApproveProjectInput")
DISBURSE = mutation("disburseFunds", "DisburseFundsInput")
REPORT = mutation("reportProjectProgress", "ReportProjectProgressInput")
COMMISSION = mutation("commissionEvaluation", "CommissionEvaluationInput")
CONCLUDE = mutation("concludeEvaluation", "ConcludeEvaluationInput")
CLOSE = mutation("closeProject", "CloseProjectInput")

PROJECT = f"query($id: ID!) {{ project(id: $id) {{ {PROJECT_FIELDS} }} }}"

MUNICIPAL = token("MUNICIPAL")
AUDITOR = token("AUDITOR")
PARTNER = token("PARTNER")
YUZHONG = token("DISTRICT", district="500103", sub="yuzhong")
JIANGBEI = token("DISTRICT", district="500105", sub="jiangbei")


def approval(contractor: str, /, **overrides: Any) -> dict[str, Any]:
    values = {
        "title": "渝中区困境儿童社会工作服务项目",
        "field": "SOCIAL_ASSISTANCE",
        "district": "500103",
        "funder": "MUNICIPAL",
        "budget": "100000.10",
        "programme": "三区计划",
        "contractor": contractor,
        "startsOn": "2018-04-01",
        "endsOn": "2019-03-31",
        "effectiveOn": "2018-03-15",
    }
    values.update(overrides)
    return values


async def contractor(client: Client, district: str = "500103") -> str:
    """A newly registered, active agency's id."""
    return (await register(client, district=district))["agency"]["id"]


async def approve(
    client: Client, agency: str | None = None, auth: str = MUNICIPAL, **overrides: Any
) -> dict[str, Any]:
    """Approve a project that must be accepted; return the project."""
    agency = agency or await contractor(client)
    payload = await send(client, APPROVE, auth=auth, **approval(agency, **overrides))
    assert payload["errors"] == [], payload["errors"]
    return payload["project"]


async def send(client: Client, document: str, auth: str = MUNICIPAL, **input: Any) -> dict:
    """Send a mutation; return its payload (errors included)."""
    data = await client.run(document, {"input": input}, auth=auth)
    return next(iter(data.values()))


async def accepted(client: Client, document: str, auth: str = MUNICIPAL, **input: Any) -> dict:
    """Send a mutation that must be accepted; return the project it shows."""
    payload = await send(client, document, auth=auth, **input)
    assert payload["errors"] == [], payload["errors"]
    return payload["project"]


async def evaluated(client: Client, **overrides: Any) -> dict[str, Any]:
    """A municipal-funded project in 500103 whose closing evaluation is concluded."""
    project = await approve(client, **overrides)
    await accepted(client, COMMISSION, auth=YUZHONG, id=project["id"], evaluator="第三方评估所")
    return await accepted(client, CONCLUDE, auth=YUZHONG, id=project["id"], score=88, grade="GOOD")
