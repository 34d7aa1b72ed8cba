"""Post commands; filling and vacating also record the change on the worker."""

from __future__ import annotations

from hub.domain.community import Community, community_id
from hub.domain.errors import InvalidInput, InvalidState
from hub.domain.post import Post
from hub.domain.record import Record
from hub.domain.station import Station
from hub.domain.vocabulary import StationStatus
from hub.domain.worker import Worker
from hub.registry.application import Outcome, Registry, Request, Unit


def create_post(registry: Registry, request: Request) -> Outcome:
    def decide(unit: Unit) -> Record:
        inputs = dict(request.inputs)
        if inputs.get("community"):
            code = inputs["community"].strip()
            community = unit.load(Community, community_id(code), "community")
            if community.district != inputs["district"]:
                raise InvalidInput(
                    f"community {code} is in district {community.district}, "
                    f"not {inputs['district']}",
                    "community",
                )
            inputs["community"] = code
        if inputs.get("station"):
            station = unit.refer(Station, inputs["station"], "station")
            if station.status != StationStatus.OPEN.value:
                raise InvalidState(f"station {station.id} is {station.status}", "station")
            if station.district != inputs["district"]:
                raise InvalidInput(
                    f"station {station.id} is in district {station.district}, "
                    f"not {inputs['district']}",
                    "station",
                )
            inputs["station"] = str(station.id)
        return Post.create(envelope=unit.envelope, **inputs)

    return registry.run(request, decide)


def _operator(unit: Unit, post: Post) -> str | None:
    if post.station is None:
        return None
    return unit.refer(Station, post.station, "station").answerable_agency


def fill_post(registry: Registry, request: Request) -> Outcome:
    def decide(unit: Unit) -> Record:
        post = unit.load(Post)
        worker = unit.refer(Worker, request.inputs["worker"], "worker")
        post.fill(worker=worker, operator=_operator(unit, post), envelope=unit.envelope)
        unit.also(worker)
        return post

    return registry.run(request, decide)


def vacate_post(registry: Registry, request: Request) -> Outcome:
    def decide(unit: Unit) -> Record:
        post = unit.load(Post)
        if post.holder is None:
            raise InvalidState(
                f"post {post.id} is {post.status}: only a FILLED post can be vacated"
            )
        worker = unit.refer(Worker, post.holder, "worker")
        post.vacate(worker=worker, operator=_operator(unit, post), envelope=unit.envelope)
        unit.also(worker)
        return post

    return registry.run(request, decide)


def abolish_post(registry: Registry, request: Request) -> Outcome:
    def decide(unit: Unit) -> Record:
        post = unit.load(Post)
        post.abolish(envelope=unit.envelope)
        return post

    return registry.run(request, decide)
