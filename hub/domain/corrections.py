"""Corrections (DOMAIN.md "Time"): which command wrote each kind of event, so that retracting
an event needs the authority to have issued it, and which events go together.

A retraction names positions; a position whose event was written together with an event of
another record (a post's holder and the worker's post are one fact) takes its partner along.
"""

from __future__ import annotations

from collections.abc import Iterable

COMMAND_OF: dict[str, str | None] = {
    "AgencyRegistered": "registerAgency",
    "AgencyProfileUpdated": "updateAgencyProfile",
    "AgencyIncubated": "incubateAgency",
    "AgencyDemonstrationDesignated": "designateDemonstrationAgency",
    "AgencySuspended": "suspendAgency",
    "AgencyReinstated": "reinstateAgency",
    "AgencyDeregistered": "deregisterAgency",
    "CommunityListed": "importReference",
    "CommunityAmended": "importReference",
    "StationEstablished": "establishStation",
    "StationOperatorContracted": "contractStationOperator",
    "StationStaffAssigned": "assignStationStaff",
    "StationStaffReleased": "releaseStationStaff",
    "StationAssessed": "assessStation",
    "StationDemonstrationDesignated": "designateDemonstrationStation",
    "StationClosed": "closeStation",
    "PostCreated": "createPost",
    "PostFilled": "fillPost",
    "PostVacated": "vacatePost",
    "PostAbolished": "abolishPost",
    "WorkerRegistered": "registerWorker",
    "WorkerUpdated": "updateWorker",
    "WorkerCertificateAwarded": "awardCertificate",
    "WorkerCertificateRevoked": "revokeCertificate",
    "WorkerPersonalDataErased": "eraseWorkerPersonalData",
    "WorkerPostTaken": None,  # written by fillPost with its PostFilled partner
    "WorkerPostLeft": None,  # written by vacatePost with its PostVacated partner
    "CourseScheduled": "scheduleCourse",
    "CourseAttendanceRecorded": "recordAttendance",
    "CourseCompleted": "completeCourse",
    "CourseCancelled": "cancelCourse",
    "ProjectApproved": "approveProject",
    "ProjectFundsDisbursed": "disburseFunds",
    "ProjectProgressReported": "reportProjectProgress",
    "ProjectEvaluationCommissioned": "commissionEvaluation",
    "ProjectEvaluationConcluded": "concludeEvaluation",
    "ProjectClosed": "closeProject",
}
"""The command behind each event type; a `<Record>Retracted` event stands for the commands of
what it retracted."""

PARTNERS: dict[str, tuple[str, str, str]] = {
    "PostFilled": ("worker", "WorkerPostTaken", "post"),
    "PostVacated": ("worker", "WorkerPostLeft", "post"),
    "WorkerPostTaken": ("post", "PostFilled", "worker"),
    "WorkerPostLeft": ("post", "PostVacated", "worker"),
}
"""Event type → (fact naming the other record, the partner's type, the partner's fact naming
this record); partners share a correlation id."""

UNRETRACTABLE = {
    "WorkerPersonalDataErased": "an erasure cannot be undone: the worker's key is destroyed",
}


def retracted(log: Iterable[tuple[int, Iterable[int]]], also: Iterable[int] = ()) -> set[int]:
    """The positions of a record's log, given as (position, positions it retracts), that no
    longer count: those retracted by a later event that itself still counts (so retracting a
    retraction restores what it retracted), and `also`. Commands and views both go by it."""
    dropped = set(also)
    for position, retracts in sorted(log, key=lambda entry: entry[0], reverse=True):
        if position not in dropped:
            dropped.update(retracts)
    return dropped
