"""Service project: social-work services the government buys (政府购买社会工作服务项目).

Three parties answer for it (三方责任): the funder (the municipal bureau or the district where
it runs) approves it and pays, the contractor agency reports progress, and the district bureau
commissions the closing evaluation from a third party and answers for its conclusion.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from eventsourcing.domain import event

from hub.domain import checks
from hub.domain.agency import Agency
from hub.domain.envelope import Envelope
from hub.domain.errors import InvalidInput, InvalidState
from hub.domain.record import Record
from hub.domain.reference import DISTRICTS
from hub.domain.reference import district as known_district
from hub.domain.rules import MUNICIPAL_FUNDER, Answerable, Target, answerable, authorize
from hub.domain.vocabulary import (
    AgencyStatus,
    EntityType,
    EvaluationGrade,
    ProjectStatus,
    ServiceField,
)

CENT = Decimal("0.01")
MAX_MONEY = Decimal("999999999999.99")
"""The largest amount of yuan the read tables hold (numeric(14, 2))."""


def money(value: Decimal, field: str) -> Decimal:
    """An exact amount of yuan: positive, whole cents, kept with two decimal places."""
    if not value.is_finite():
        raise InvalidInput(f"{field} {value} is not an amount of yuan", field)
    if value <= 0:
        raise InvalidInput(f"{field} must be more than 0, got {value}", field)
    if value > MAX_MONEY:
        raise InvalidInput(f"{field} {value} is over the limit of {MAX_MONEY} yuan", field)
    if value != value.quantize(CENT):
        raise InvalidInput(f"{field} {value} has more than 2 decimal places (fen)", field)
    return value.quantize(CENT)


def _funder(funder: str, district: str) -> str:
    """MUNICIPAL, or the project's own district: a district bureau funds only its own work."""
    funder = funder.strip()
    if funder == MUNICIPAL_FUNDER:
        return funder
    if funder not in DISTRICTS:
        raise InvalidInput(
            f"funder {funder!r} is neither {MUNICIPAL_FUNDER} nor a district code", "funder"
        )
    if funder != district:
        raise InvalidInput(
            f"funder {funder} is not the project's district {district}: a district bureau "
            f"funds only projects in its own district",
            "funder",
        )
    return funder


class Project(Record):
    entity_type = EntityType.PROJECT
    answers_to = Answerable(fact="contractor")

    @classmethod
    def approve(
        cls,
        *,
        title: str,
        field: str,
        district: str,
        funder: str,
        budget: Decimal,
        programme: str | None,
        contractor: Agency,
        starts_on: date,
        ends_on: date,
        envelope: Envelope,
    ) -> Project:
        district = known_district(district).code
        funder = _funder(funder, district)
        authorize(
            "approveProject",
            envelope.actor,
            answerable(district, str(contractor.id), funder=funder),
        )
        title = checks.text(title, "title")
        chosen_field = checks.member(field, ServiceField, "field").value
        budget = money(budget, "budget")
        if programme is not None:
            programme = checks.text(programme, "programme", max_length=100)
        checks.period(starts_on, ends_on, "startsOn", "endsOn")
        if contractor.status != AgencyStatus.ACTIVE.value:
            raise InvalidState(
                f"agency {contractor.id} is {contractor.status}: only an ACTIVE agency can "
                f"be contracted",
                "contractor",
            )
        return cls(
            title=title,
            field=chosen_field,
            district=district,
            funder=funder,
            budget=budget,
            programme=programme,
            contractor=str(contractor.id),
            starts_on=starts_on,
            ends_on=ends_on,
            envelope=envelope.as_dict(),
        )

    @event("Approved")
    def __init__(
        self,
        *,
        title: str,
        field: str,
        district: str,
        funder: str,
        budget: Decimal,
        programme: str | None,
        contractor: str,
        starts_on: date,
        ends_on: date,
        envelope: dict[str, Any],
    ) -> None:
        self.title = title
        self.field = field
        self.district = district
        self.funder = funder
        self.budget = budget
        self.programme = programme
        self.contractor = contractor
        self.starts_on = starts_on
        self.ends_on = ends_on
        self.status = ProjectStatus.APPROVED.value
        self.effective_from = date.fromisoformat(envelope["effective_on"])
        self.disbursed = Decimal("0.00")
        self.percent_complete = 0
        self.evaluation: dict[str, Any] | None = None

    @property
    def target(self) -> Target:
        return answerable(self.district, self.answerable_agency, funder=self.funder)

    def _require_open(self, command: str) -> None:
        if self.status == ProjectStatus.CLOSED.value:
            raise InvalidState(f"project {self.id} is CLOSED: {command} is not possible")

    def disburse(self, *, amount: Decimal, envelope: Envelope) -> None:
        stamp = self.stamp("disburseFunds", envelope)
        self._require_open("disburseFunds")
        amount = money(amount, "amount")
        total = self.disbursed + amount
        if total > self.budget:
            raise InvalidInput(
                f"disbursing {amount} would bring the total disbursed to {total}, over the "
                f"budget of {self.budget} ({self.disbursed} disbursed so far, "
                f"{self.budget - self.disbursed} left)",
                "amount",
            )
        self._funds_disbursed(amount=amount, envelope=stamp)

    @event("FundsDisbursed")
    def _funds_disbursed(self, amount: Decimal, envelope: dict[str, Any]) -> None:
        self.disbursed += amount

    def report_progress(self, *, summary: str, percent_complete: int, envelope: Envelope) -> None:
        stamp = self.stamp("reportProjectProgress", envelope)
        self._require_open("reportProjectProgress")
        summary = checks.text(summary, "summary", max_length=4000)
        if not 0 <= percent_complete <= 100:
            raise InvalidInput(
                f"percentComplete must be between 0 and 100, got {percent_complete}",
                "percentComplete",
            )
        if percent_complete < self.percent_complete:
            raise InvalidInput(
                f"percentComplete {percent_complete} is lower than the last report's "
                f"{self.percent_complete}: progress never goes back",
                "percentComplete",
            )
        self._progress_reported(summary=summary, percent_complete=percent_complete, envelope=stamp)

    @event("ProgressReported")
    def _progress_reported(
        self, summary: str, percent_complete: int, envelope: dict[str, Any]
    ) -> None:
        self.percent_complete = percent_complete

    def commission_evaluation(self, *, evaluator: str, envelope: Envelope) -> None:
        stamp = self.stamp("commissionEvaluation", envelope)
        if self.evaluation is not None:
            raise InvalidState(
                f"the closing evaluation of project {self.id} was already commissioned from "
                f"{self.evaluation['evaluator']} on {self.evaluation['commissioned_on']}"
            )
        self._evaluation_commissioned(evaluator=checks.text(evaluator, "evaluator"), envelope=stamp)

    @event("EvaluationCommissioned")
    def _evaluation_commissioned(self, evaluator: str, envelope: dict[str, Any]) -> None:
        self.evaluation = {"evaluator": evaluator, "commissioned_on": envelope["effective_on"]}
        self.status = ProjectStatus.EVALUATION_COMMISSIONED.value

    def conclude_evaluation(self, *, score: int, grade: str, envelope: Envelope) -> None:
        stamp = self.stamp("concludeEvaluation", envelope)
        if self.evaluation is None:
            raise InvalidState(
                f"project {self.id} has no evaluation to conclude: commissionEvaluation first"
            )
        if "concluded_on" in self.evaluation:
            raise InvalidState(
                f"the closing evaluation of project {self.id} was already concluded on "
                f"{self.evaluation['concluded_on']}"
            )
        _not_before(envelope, self.evaluation["commissioned_on"], "it was commissioned")
        if not 0 <= score <= 100:
            raise InvalidInput(f"score must be between 0 and 100, got {score}", "score")
        self._evaluation_concluded(
            score=score,
            grade=checks.member(grade, EvaluationGrade, "grade").value,
            envelope=stamp,
        )

    @event("EvaluationConcluded")
    def _evaluation_concluded(self, score: int, grade: str, envelope: dict[str, Any]) -> None:
        assert self.evaluation is not None
        self.evaluation.update(score=score, grade=grade, concluded_on=envelope["effective_on"])
        self.status = ProjectStatus.EVALUATED.value

    def close(self, *, envelope: Envelope) -> None:
        stamp = self.stamp("closeProject", envelope)
        self._require_open("closeProject")
        if self.status != ProjectStatus.EVALUATED.value:
            raise InvalidState(
                f"project {self.id} is {self.status}: it closes only after its closing "
                f"evaluation is concluded"
            )
        assert self.evaluation is not None
        _not_before(envelope, self.evaluation["concluded_on"], "its evaluation was concluded")
        self._closed(envelope=stamp)

    @event("Closed")
    def _closed(self, envelope: dict[str, Any]) -> None:
        self.status = ProjectStatus.CLOSED.value


def _not_before(envelope: Envelope, earlier: str, what: str) -> None:
    """The evaluation's steps happen in order in business time too."""
    if envelope.effective_on < date.fromisoformat(earlier):
        raise InvalidInput(
            f"effectiveOn {envelope.effective_on.isoformat()} is before {what} ({earlier})",
            "effectiveOn",
        )
