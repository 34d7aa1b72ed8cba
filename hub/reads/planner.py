"""The planner of one app: answers a query operation from one SQL statement when it covers
every field, keeps the plans in a bounded LRU cache, and counts what it planned and what fell
back to the resolvers (`/readyz`'s `reads`, the metric `hub_read_operations_total`)."""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from enum import Enum
from typing import TYPE_CHECKING, Any

from graphql import DocumentNode, GraphQLSchema
from graphql.execution.executor import Executor

from hub.domain.envelope import Actor
from hub.domain.errors import CommandRefused
from hub.reads.compiler import Bound, Compiler, Plan, Unplanned
from hub.reads.personal import reveal
from hub.reads.records import ROOTS, TYPES
from hub.schema.common import moment_at
from hub.service import metrics
from hub.service.refusals import refusal_of

if TYPE_CHECKING:
    from hub.service.runtime import Hub

log = logging.getLogger(__name__)

PlanKey = tuple[str, str | None, str, str | None, str | None, Any]


def shape(value: Any) -> Any:
    """Which parts of the variables are null: what decides a plan's statement (its values
    are bind parameters)."""
    if value is None or isinstance(value, bool | Enum):  # an @include's condition, a status
        return value
    if isinstance(value, dict):
        return tuple(sorted((k, shape(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return "list" if value else "empty"
    return 1


class Planner:
    """Plans and answers query operations for one app (`HUB_READ_PLANNER`)."""

    def __init__(self, enabled: bool, size: int = 1000) -> None:
        self.enabled = enabled
        self.size = size
        self.plans: OrderedDict[PlanKey, Plan | Unplanned] = OrderedDict()
        self.planned = 0
        self.fell_back = 0
        self.hits = 0
        self.misses = 0

    def counts(self) -> dict[str, int]:
        """As `/readyz` shows them."""
        return {
            "planned": self.planned,
            "fellBack": self.fell_back,
            "planCacheHits": self.hits,
            "planCacheMisses": self.misses,
        }

    async def answer(
        self,
        hub: Hub,
        schema: GraphQLSchema,
        caller: Actor | None,
        request_id: str,
        query: str,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
    ) -> str | None:
        """The response body of a validated query operation (`{"data": ...}`, PostgreSQL's
        JSON text), or None: the resolvers answer it, whole."""
        try:
            body = await self._answer(
                hub, schema, caller, request_id, query, document, operation_name, variables
            )
        except Unplanned as unplanned:
            log.debug("read not planned: %s", unplanned)
            body = None
        except CommandRefused:  # a value the resolvers refuse, with their own answer
            body = None
        except Exception as error:  # noqa: BLE001 - the resolvers answer it, as they do
            if refusal_of(error) is None:  # not an outage nor a timeout: a fault to look at
                log.warning("a planned read failed; the resolvers answer it", exc_info=True)
            body = None
        if body is None:
            self.fell_back += 1
            metrics.READ_OPERATIONS.labels("fallback").inc()
        else:
            self.planned += 1
            metrics.READ_OPERATIONS.labels("planned").inc()
        return body

    async def _answer(
        self,
        hub: Hub,
        schema: GraphQLSchema,
        caller: Actor | None,
        request_id: str,
        query: str,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
    ) -> str | None:
        if caller is None:
            raise Unplanned("no caller")
        executor = Executor.build(
            schema, document, raw_variable_values=variables, operation_name=operation_name
        )
        if isinstance(executor, list):
            raise Unplanned("variables the resolvers refuse")
        plan = self.plan(schema, executor, caller, query, operation_name)
        bound = Bound(
            executor.variable_values,
            caller,
            hub.settings.today(),
            hub.settings.timezone,
            hub.keys_by_worker.kek.index_digest,
        )
        plan.check(bound)
        for of in plan.moments:
            effective, recorded = of(executor.variable_values)
            moment = await moment_at(hub, effective, recorded)
            assert moment is not None
            bound.moments.append(moment)
        data = await hub.pool.fetchval(plan.sql, *plan.bind(bound))
        body = f'{{"data":{data}}}'
        if plan.reveals:
            body = (await reveal(hub, caller, request_id, body)).body
        return body

    def plan(
        self,
        schema: GraphQLSchema,
        executor: Executor,
        caller: Actor,
        query: str,
        operation_name: str | None,
    ) -> Plan:
        """The cached plan of this document, operation, caller shape and variables' shape."""
        key: PlanKey = (
            hashlib.sha256(query.encode()).hexdigest(),
            operation_name,
            caller.role.value,
            caller.district,
            caller.agency,
            shape(executor.variable_values.coerced),
        )
        found = self.plans.get(key)
        if found is not None:
            self.hits += 1
            self.plans.move_to_end(key)
        else:
            self.misses += 1
            try:
                found = Compiler(schema, executor, caller, TYPES, ROOTS).compile()
            except Unplanned as unplanned:
                if not unplanned.lasting:
                    raise
                found = unplanned
            self.plans[key] = found
            if len(self.plans) > self.size:
                self.plans.popitem(last=False)
        if isinstance(found, Unplanned):
            raise found
        return found
