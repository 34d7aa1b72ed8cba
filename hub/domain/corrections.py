"""Corrections (the two times, `docs/domain.md`): which command wrote each type of event, so
that retracting an event needs the authority to have issued it, and which events go together.

A retraction names positions; a position whose event was written together with an event of
another record (a post's holder and the worker's post are one fact) takes its partner along.
"""

from __future__ import annotations

from collections.abc import Iterable

from eventsourcing.domain import DomainEvent

from hub.domain.agency import Agency
from hub.domain.community import COMMAND as REFERENCE_IMPORT
from hub.domain.community import Community
from hub.domain.course import Course
from hub.domain.post import Post
from hub.domain.project import Project
from hub.domain.station import Station
from hub.domain.worker import Worker

COMMAND_OF: dict[type[DomainEvent], str | None] = {
    Agency.Registered: "registerAgency",
    Agency.ProfileUpdated: "updateAgencyProfile",
    Agency.Incubated: "incubateAgency",
    Agency.DemonstrationDesignated: "designateDemonstrationAgency",
    Agency.Suspended: "suspendAgency",
    Agency.Reinstated: "reinstateAgency",
    Agency.Deregistered: "deregisterAgency",
    Community.Listed: REFERENCE_IMPORT,
    Community.Amended: REFERENCE_IMPORT,
    Station.Established: "establishStation",
    Station.OperatorContracted: "contractStationOperator",
    Station.StaffAssigned: "assignStationStaff",
    Station.StaffReleased: "releaseStationStaff",
    Station.Assessed: "assessStation",
    Station.DemonstrationDesignated: "designateDemonstrationStation",
    Station.Closed: "closeStation",
    Post.Created: "createPost",
    Post.Filled: "fillPost",
    Post.Vacated: "vacatePost",
    Post.Abolished: "abolishPost",
    Worker.Registered: "registerWorker",
    Worker.Updated: "updateWorker",
    Worker.CertificateAwarded: "awardCertificate",
    Worker.CertificateRevoked: "revokeCertificate",
    Worker.PersonalDataErased: "eraseWorkerPersonalData",
    Worker.PostTaken: None,  # written by fillPost with its PostFilled partner
    Worker.PostLeft: None,  # written by vacatePost with its PostVacated partner
    Course.Scheduled: "scheduleCourse",
    Course.AttendanceRecorded: "recordAttendance",
    Course.Completed: "completeCourse",
    Course.Cancelled: "cancelCourse",
    Project.Approved: "approveProject",
    Project.FundsDisbursed: "disburseFunds",
    Project.ProgressReported: "reportProjectProgress",
    Project.EvaluationCommissioned: "commissionEvaluation",
    Project.EvaluationConcluded: "concludeEvaluation",
    Project.Closed: "closeProject",
}
"""The command behind each event type, for every event type the records declare but their
retractions (a retraction stands for the commands of what it retracted). Look it up with
`command_of`: an event type missing here is an error, never one that no command wrote."""

PARTNERS: dict[type[DomainEvent], tuple[str, type[DomainEvent], str]] = {
    Post.Filled: ("worker", Worker.PostTaken, "post"),
    Post.Vacated: ("worker", Worker.PostLeft, "post"),
    Worker.PostTaken: ("post", Post.Filled, "worker"),
    Worker.PostLeft: ("post", Post.Vacated, "worker"),
}
"""Event type → (fact naming the other record, the partner's type, the partner's fact naming
this record); partners share a correlation id."""

UNRETRACTABLE: dict[type[DomainEvent], str] = {
    Worker.PersonalDataErased: "an erasure cannot be undone: the worker's key is destroyed",
}


def command_of(event_type: type[DomainEvent]) -> str | None:
    """The command that wrote events of `event_type` (None: it is written with its partner, by
    the partner's command); raises LookupError for a type `COMMAND_OF` does not know."""
    try:
        return COMMAND_OF[event_type]
    except KeyError:
        raise LookupError(f"{event_type.__qualname__} is missing from COMMAND_OF") from None


def retracted(log: Iterable[tuple[int, Iterable[int]]], also: Iterable[int] = ()) -> set[int]:
    """The positions of a record's log, given as (position, positions it retracts), that no
    longer count: those retracted by a later event that itself still counts (so retracting a
    retraction restores what it retracted), and `also`. Commands and views both go by it."""
    dropped = set(also)
    for position, retracts in sorted(log, key=lambda entry: entry[0], reverse=True):
        if position not in dropped:
            dropped.update(retracts)
    return dropped
