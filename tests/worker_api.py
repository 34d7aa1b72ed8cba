"""GraphQL documents and helpers for the worker tests."""

from __future__ import annotations

from datetime import date
from itertools import count
from typing import Any

from hub.domain.identifiers import make_id_number
from tests.agency_api import MUNICIPAL
from tests.conftest import Client

WORKER_FIELDS = """
  id version status name idNumber personalDataErased education registeredOn
  district { code } employer { id }
  certificates { level number awardedOn revoked }
"""
WORKER_PAYLOAD = f"worker {{ {WORKER_FIELDS} }} position errors {{ code field message }}"


def _mutation(name: str, input_type: str) -> str:
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {WORKER_PAYLOAD} }} }}"


REGISTER_WORKER = _mutation("registerWorker", "RegisterWorkerInput")
UPDATE_WORKER = _mutation("updateWorker", "UpdateWorkerInput")
AWARD = _mutation("awardCertificate", "AwardCertificateInput")
REVOKE = _mutation("revokeCertificate", "RevokeCertificateInput")
ERASE = _mutation("eraseWorkerPersonalData", "EraseWorkerPersonalDataInput")
WORKER = f"query($id: ID!) {{ worker(id: $id) {{ {WORKER_FIELDS} }} }}"

_people = count(1)


def id_number(born: date = date(1990, 5, 17)) -> str:
    return make_id_number("500103", born, next(_people) % 1000)


def worker_input(**overrides: Any) -> dict[str, Any]:
    values = {
        "name": f"测试社工{next(_people)}",
        "idNumber": id_number(),
        "district": "500103",
        "education": "BACHELOR",
        "effectiveOn": "2018-03-01",
    }
    values.update(overrides)
    return values


async def register_worker(client: Client, auth: str = MUNICIPAL, **overrides: Any) -> dict:
    data = await client.run(REGISTER_WORKER, {"input": worker_input(**overrides)}, auth=auth)
    payload = data["registerWorker"]
    assert payload["errors"] == [], payload["errors"]
    return payload["worker"]


async def new_worker_id(client: Client, district: str = "500103") -> str:
    """A worker registered (effective 2015-01-01) for tests of records that name one."""
    worker = await register_worker(
        client,
        district=district,
        effectiveOn="2015-01-01",
        idNumber=make_id_number(district, date(1985, 1, 1), next(_people) % 1000),
    )
    return worker["id"]
