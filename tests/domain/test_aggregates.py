"""The records' command methods on their own, as the `eventsourcing` examples test aggregates:
call a command, then look at the events it collected and the state it left.

No registry and no database: what needs them (loading, concurrency, projections) is tested
through the API beside these.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest

from hub.domain.agency import Agency
from hub.domain.course import Course
from hub.domain.errors import Forbidden, InvalidInput, InvalidState
from hub.domain.identifiers import make_id_number
from hub.domain.post import Post
from hub.domain.project import Project
from hub.domain.station import ASSESSMENT_DIMENSIONS, Station
from hub.domain.worker import Worker
from tests.domain.parties import (
    DAY,
    DISTRICT,
    HOME,
    MUNICIPAL,
    OTHER_DISTRICT,
    by,
    contractor,
    credit_code,
)


def names(record: Agency | Station | Post | Worker | Course | Project) -> list[str]:
    """The types of the events `record` collected since the last call."""
    return [type(e).__name__ for e in record.collect_events()]


def agency(district: str = HOME) -> Agency:
    made = Agency.register(
        name=" 渝中区阳光社会工作服务中心 ",
        credit_code=credit_code(district=district).lower(),
        district=district,
        kind="COMPREHENSIVE",
        fields=["SOCIAL_WELFARE", "CHARITY"],
        envelope=by(DISTRICT, date(2017, 1, 1)),
    )
    made.collect_events()
    return made


def sealed(value: str) -> str:
    return f"sealed:{value}"


def worker(employer: Agency | None = None) -> Worker:
    made = Worker.register(
        id=uuid4(),
        name="王芳",
        id_number=make_id_number(HOME, date(1990, 5, 1), 12),
        district=HOME,
        education="BACHELOR",
        employer=str(employer.id) if employer else None,
        envelope=by(DISTRICT, date(2017, 1, 1)),
        seal=sealed,
    )
    made.collect_events()
    return made


# Agencies


def test_registering_an_agency_collects_one_event_and_cleans_its_input() -> None:
    made = Agency.register(
        name=" 阳光社工 ",
        credit_code=credit_code().lower(),
        district=HOME,
        kind="SPECIALIZED",
        fields=["CHARITY"],
        envelope=by(MUNICIPAL),
    )
    assert names(made) == ["Registered"]
    assert (made.name, made.credit_code, made.status) == ("阳光社工", credit_code(), "ACTIVE")
    assert made.effective_from == DAY
    assert made.version == 1


def test_a_district_bureau_registers_agencies_only_in_its_district() -> None:
    with pytest.raises(Forbidden, match="only in its own district"):
        Agency.register(
            name="江北社工",
            credit_code=credit_code(),
            district=HOME,
            kind="SPECIALIZED",
            fields=["CHARITY"],
            envelope=by(OTHER_DISTRICT),
        )


def test_a_suspended_agency_is_reinstated_with_a_reason() -> None:
    made = agency()
    made.suspend(envelope=by(DISTRICT, reason="年检不合格"))
    assert made.status == "SUSPENDED"
    with pytest.raises(InvalidInput, match="reinstateAgency requires a reason") as refused:
        made.reinstate(envelope=by(DISTRICT))
    assert refused.value.field == "reason"
    made.reinstate(envelope=by(DISTRICT, reason="整改完成"))
    assert names(made) == ["Suspended", "Reinstated"]
    assert made.status == "ACTIVE"


def test_only_a_suspended_agency_can_be_reinstated() -> None:
    with pytest.raises(InvalidState, match="only a SUSPENDED agency"):
        agency().reinstate(envelope=by(DISTRICT, reason="no"))


def test_a_deregistered_agency_takes_no_profile_update() -> None:
    made = agency()
    made.deregister(envelope=by(DISTRICT, reason="注销"))
    with pytest.raises(InvalidState, match="is deregistered"):
        made.update_profile(name="新名", kind=None, fields=None, envelope=by(DISTRICT))
    assert names(made) == ["Deregistered"]


def test_an_agency_updates_its_own_profile_and_no_other() -> None:
    made, other = agency(), agency()
    made.update_profile(name="新名", kind=None, fields=None, envelope=by(contractor(made)))
    assert (made.name, names(made)) == ("新名", ["ProfileUpdated"])
    with pytest.raises(Forbidden, match="on records its agency is answerable for"):
        other.update_profile(name="新名", kind=None, fields=None, envelope=by(contractor(made)))


def test_a_profile_update_that_changes_nothing_is_refused() -> None:
    made = agency()
    with pytest.raises(InvalidInput, match="changes nothing"):
        made.update_profile(
            name=made.name, kind="COMPREHENSIVE", fields=made.fields, envelope=by(DISTRICT)
        )
    assert names(made) == []


def test_an_event_may_not_take_effect_before_its_record() -> None:
    with pytest.raises(InvalidInput, match="before the record was created") as refused:
        agency().suspend(envelope=by(DISTRICT, date(2016, 12, 31), reason="早于登记"))
    assert refused.value.field == "effectiveOn"


def test_only_the_municipal_bureau_designates_a_demonstration_agency() -> None:
    made = agency()
    with pytest.raises(Forbidden, match="DISTRICT may not designateDemonstrationAgency"):
        made.designate_demonstration(programme="411", year=2017, envelope=by(DISTRICT))
    made.designate_demonstration(programme="411", year=2017, envelope=by(MUNICIPAL))
    assert made.demonstration == {"programme": "411", "year": 2017}


# Stations and posts


def station() -> Station:
    made = Station.establish(
        community="500103001001", district=HOME, name="某社区社会工作室", envelope=by(DISTRICT)
    )
    made.collect_events()
    return made


def test_a_contracted_operator_may_assign_staff_to_its_station() -> None:
    made, operator = station(), agency()
    person = worker()
    with pytest.raises(Forbidden):
        made.assign_staff(worker=str(person.id), full_time=True, envelope=by(contractor(operator)))
    made.contract_operator(
        agency=str(operator.id), start=DAY, end=date(2019, 2, 28), envelope=by(DISTRICT)
    )
    made.assign_staff(worker=str(person.id), full_time=True, envelope=by(contractor(operator)))
    assert names(made) == ["OperatorContracted", "StaffAssigned"]
    assert made.staff == {str(person.id): True}


def test_closing_a_station_ends_its_staff_and_its_commands() -> None:
    made = station()
    made.assign_staff(worker="w1", full_time=False, envelope=by(DISTRICT))
    made.close(envelope=by(DISTRICT, reason="撤并"))
    assert (made.status, made.staff) == ("CLOSED", {})
    with pytest.raises(InvalidState, match="needs it OPEN"):
        made.assess(scores=dict.fromkeys(ASSESSMENT_DIMENSIONS, 80), envelope=by(DISTRICT))


def test_an_assessment_score_is_between_0_and_100() -> None:
    scores = dict.fromkeys(ASSESSMENT_DIMENSIONS, 80)
    scores[ASSESSMENT_DIMENSIONS[0]] = 101
    with pytest.raises(InvalidInput, match="not between 0 and 100"):
        station().assess(scores=scores, envelope=by(DISTRICT))


def post(at: Station | None = None) -> Post:
    made = Post.create(
        sector="COMMUNITY",
        field="COMMUNITY_BUILDING",
        district=HOME,
        host_organization="社区居民委员会",
        community="500103001001",
        station=str(at.id) if at else None,
        origin="NEW",
        envelope=by(DISTRICT),
    )
    made.collect_events()
    return made


def test_filling_a_post_is_one_fact_on_the_post_and_the_worker() -> None:
    made, person = post(), worker()
    made.fill(worker=person, operator=None, envelope=by(DISTRICT))
    assert (names(made), names(person)) == (["Filled"], ["PostTaken"])
    assert (made.status, made.holder, person.post) == ("FILLED", str(person.id), str(made.id))


def test_a_worker_holds_one_post_at_a_time() -> None:
    person = worker()
    post().fill(worker=person, operator=None, envelope=by(DISTRICT))
    second = post()
    with pytest.raises(InvalidState, match="already holds post") as refused:
        second.fill(worker=person, operator=None, envelope=by(DISTRICT))
    assert refused.value.field == "worker"
    assert second.status == "VACANT"


def test_a_filled_post_is_vacated_before_it_is_abolished() -> None:
    made, person = post(), worker()
    made.fill(worker=person, operator=None, envelope=by(DISTRICT))
    with pytest.raises(InvalidState, match="vacate it first"):
        made.abolish(envelope=by(DISTRICT, reason="撤销岗位"))
    made.vacate(worker=person, operator=None, envelope=by(DISTRICT, reason="离职"))
    assert (made.status, made.holder, person.post) == ("VACANT", None, None)
    with pytest.raises(InvalidInput, match="abolishPost requires a reason"):
        made.abolish(envelope=by(DISTRICT))
    made.abolish(envelope=by(DISTRICT, reason="撤销岗位"))
    assert names(made) == ["Filled", "Vacated", "Abolished"]
    assert names(person) == ["PostTaken", "PostLeft"]


def test_the_operator_of_the_posts_station_may_fill_it() -> None:
    operator = agency()
    made, person = post(station()), worker()
    with pytest.raises(Forbidden):
        made.fill(worker=person, operator=None, envelope=by(contractor(operator)))
    made.fill(worker=person, operator=str(operator.id), envelope=by(contractor(operator)))
    assert made.holder == str(person.id)


# Workers


def test_a_workers_personal_data_is_held_only_sealed() -> None:
    person = worker()
    assert person.name == "sealed:王芳"
    assert person.id_number == sealed(make_id_number(HOME, date(1990, 5, 1), 12))


def test_a_worker_holds_one_live_certificate_of_a_level() -> None:
    person = worker()
    person.award_certificate(level="SOCIAL_WORKER", number="ZJ2017000001", envelope=by(MUNICIPAL))
    with pytest.raises(InvalidState, match="already holds the SOCIAL_WORKER certificate"):
        person.award_certificate(
            level="SOCIAL_WORKER", number="ZJ2017000002", envelope=by(MUNICIPAL)
        )
    person.revoke_certificate(number="ZJ2017000001", envelope=by(MUNICIPAL, reason="撤销"))
    person.award_certificate(level="SOCIAL_WORKER", number="ZJ2018000001", envelope=by(MUNICIPAL))
    assert names(person) == ["CertificateAwarded", "CertificateRevoked", "CertificateAwarded"]
    assert [c["revoked"] for c in person.certificates.values()] == [True, False]


def test_only_the_municipal_bureau_awards_certificates() -> None:
    with pytest.raises(Forbidden, match="DISTRICT may not awardCertificate"):
        worker().award_certificate(level="SOCIAL_WORKER", number="ZJ1", envelope=by(DISTRICT))


def test_erased_personal_data_cannot_be_set_again() -> None:
    person = worker()
    with pytest.raises(Forbidden):
        person.erase_personal_data(envelope=by(DISTRICT, reason="本人申请"))
    person.erase_personal_data(envelope=by(MUNICIPAL, reason="本人申请"))
    assert person.erased
    with pytest.raises(InvalidState, match="already erased"):
        person.erase_personal_data(envelope=by(MUNICIPAL, reason="again"))
    with pytest.raises(InvalidState, match="cannot be set again"):
        person.update(
            name="李四",
            id_number=None,
            district=None,
            education=None,
            employer=None,
            envelope=by(MUNICIPAL),
            seal=sealed,
        )
    assert names(person) == ["PersonalDataErased"]


def test_a_worker_moved_away_needs_the_authority_on_both_sides() -> None:
    person = worker()
    with pytest.raises(Forbidden):
        person.update(
            name=None,
            id_number=None,
            district=OTHER_DISTRICT.district,
            education=None,
            employer=None,
            envelope=by(DISTRICT),
            seal=sealed,
        )
    person.update(
        name=None,
        id_number=None,
        district=OTHER_DISTRICT.district,
        education=None,
        employer=None,
        envelope=by(MUNICIPAL),
        seal=sealed,
    )
    assert person.district == OTHER_DISTRICT.district


# Courses


def course(level: str = "DISTRICT", delivered_by: Agency | None = None) -> Course:
    made = Course.schedule(
        title="社会工作知识普及培训",
        category="GENERAL_AWARENESS",
        level=level,
        district=None if level == "MUNICIPAL" else HOME,
        delivered_by=delivered_by,
        starts_on=date(2018, 3, 10),
        ends_on=date(2018, 3, 11),
        hours=Decimal("12"),
        envelope=by(MUNICIPAL if level == "MUNICIPAL" else DISTRICT),
    )
    made.collect_events()
    return made


def test_a_district_level_course_needs_its_district() -> None:
    with pytest.raises(InvalidInput, match="needs the district") as refused:
        Course.schedule(
            title="t",
            category="KEY_TALENT",
            level="TOWNSHIP",
            district=None,
            delivered_by=None,
            starts_on=DAY,
            ends_on=DAY,
            hours=Decimal(6),
            envelope=by(DISTRICT),
        )
    assert refused.value.field == "district"


def test_a_course_has_at_most_its_days_hours() -> None:
    with pytest.raises(InvalidInput, match="a day for 2 day"):
        Course.schedule(
            title="t",
            category="KEY_TALENT",
            level="DISTRICT",
            district=HOME,
            delivered_by=None,
            starts_on=date(2018, 3, 10),
            ends_on=date(2018, 3, 11),
            hours=Decimal("100"),
            envelope=by(DISTRICT),
        )


def test_attendance_is_recorded_once_a_course_has_started_in_tenths_of_hours() -> None:
    made, person = course(), worker()
    on = date(2018, 3, 11)
    with pytest.raises(InvalidInput, match="before the course starts"):
        made.record_attendance(
            worker=person, hours=Decimal(6), passed=None, envelope=by(DISTRICT, date(2018, 3, 9))
        )
    with pytest.raises(InvalidInput, match="more than one decimal place"):
        made.record_attendance(
            worker=person, hours=Decimal("5.25"), passed=None, envelope=by(DISTRICT, on)
        )
    made.record_attendance(
        worker=person, hours=Decimal("5.5"), passed=True, envelope=by(DISTRICT, on)
    )
    with pytest.raises(InvalidInput, match="already has an attendance"):
        made.record_attendance(
            worker=person, hours=Decimal(1), passed=None, envelope=by(DISTRICT, on)
        )
    made.complete(envelope=by(DISTRICT, on))
    assert names(made) == ["AttendanceRecorded", "Completed"]
    assert made.attendances == {str(person.id): {"hours": Decimal("5.5"), "passed": True}}
    with pytest.raises(InvalidState, match="needs a SCHEDULED course"):
        made.cancel(envelope=by(DISTRICT, on, reason="late"))


def test_the_delivering_agency_runs_its_course_and_the_district_its_own() -> None:
    deliverer = agency()
    made = course(delivered_by=deliverer)
    made.cancel(envelope=by(contractor(deliverer), reason="报名人数不足"))
    assert made.status == "CANCELLED"
    with pytest.raises(Forbidden, match="district- and township-level courses"):
        course().cancel(envelope=by(OTHER_DISTRICT, reason="not theirs"))


def test_a_district_bureau_does_not_run_a_municipal_level_course() -> None:
    with pytest.raises(Forbidden, match="only on district- and township-level courses"):
        course("MUNICIPAL").complete(envelope=by(DISTRICT, date(2018, 3, 11)))


# Projects


def project(funder: str = "MUNICIPAL", contractor_agency: Agency | None = None) -> Project:
    made = Project.approve(
        title="渝中区社区建设社会工作服务项目",
        field="COMMUNITY_BUILDING",
        district=HOME,
        funder=funder,
        budget=Decimal("100000"),
        programme=None,
        contractor=contractor_agency or agency(),
        starts_on=date(2017, 3, 1),
        ends_on=date(2018, 2, 28),
        envelope=by(MUNICIPAL if funder == "MUNICIPAL" else DISTRICT, date(2017, 2, 1)),
    )
    made.collect_events()
    return made


def test_disbursements_add_up_to_at_most_the_budget() -> None:
    made = project()
    made.disburse(amount=Decimal("60000"), envelope=by(MUNICIPAL))
    with pytest.raises(InvalidInput, match="over the budget of 100000.00") as refused:
        made.disburse(amount=Decimal("40000.01"), envelope=by(MUNICIPAL))
    assert refused.value.field == "amount"
    made.disburse(amount=Decimal("40000"), envelope=by(MUNICIPAL))
    assert made.disbursed == Decimal("100000.00")
    assert names(made) == ["FundsDisbursed", "FundsDisbursed"]


def test_the_funder_pays_and_no_one_else() -> None:
    with pytest.raises(Forbidden, match="only on projects it funds in its own district"):
        project(funder="MUNICIPAL").disburse(amount=Decimal(1), envelope=by(DISTRICT))
    with pytest.raises(Forbidden, match="only on projects the municipal bureau funds"):
        project(funder=HOME).disburse(amount=Decimal(1), envelope=by(MUNICIPAL))


def test_a_district_funds_only_projects_in_its_own_district() -> None:
    with pytest.raises(InvalidInput, match="funds only projects in its own district"):
        project(funder=OTHER_DISTRICT.district or "")


def test_only_the_contractor_reports_progress_and_progress_never_goes_back() -> None:
    hired = agency()
    made = project(contractor_agency=hired)
    with pytest.raises(Forbidden, match="MUNICIPAL may not reportProjectProgress"):
        made.report_progress(summary="s", percent_complete=10, envelope=by(MUNICIPAL))
    made.report_progress(summary="过半", percent_complete=50, envelope=by(contractor(hired)))
    with pytest.raises(InvalidInput, match="progress never goes back"):
        made.report_progress(summary="s", percent_complete=40, envelope=by(contractor(hired)))
    assert made.percent_complete == 50


def test_a_project_closes_only_after_its_evaluation_in_order() -> None:
    made = project()
    with pytest.raises(InvalidState, match="closes only after its closing evaluation"):
        made.close(envelope=by(DISTRICT))
    with pytest.raises(InvalidState, match="commissionEvaluation first"):
        made.conclude_evaluation(score=80, grade="GOOD", envelope=by(DISTRICT))
    made.commission_evaluation(evaluator="评估中心", envelope=by(DISTRICT, date(2018, 3, 1)))
    with pytest.raises(InvalidInput, match="before it was commissioned"):
        made.conclude_evaluation(score=80, grade="GOOD", envelope=by(DISTRICT, date(2018, 2, 28)))
    made.conclude_evaluation(score=80, grade="GOOD", envelope=by(DISTRICT, date(2018, 4, 1)))
    made.close(envelope=by(DISTRICT, date(2018, 4, 2)))
    assert made.status == "CLOSED"
    assert names(made) == ["EvaluationCommissioned", "EvaluationConcluded", "Closed"]
    with pytest.raises(InvalidState, match="is CLOSED"):
        made.disburse(amount=Decimal(1), envelope=by(MUNICIPAL, date(2018, 4, 3)))
