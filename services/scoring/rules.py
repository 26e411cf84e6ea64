"""Rule sets (考核细则): declarative YAML or JSON, validated on load, versioned.

Every ledger entry records the version of the rule set that produced it. A tenant switches rule
sets from the start of a period on (see ``in_force``); without a switch the shipped default holds.
"""

import json
from decimal import Decimal
from importlib import resources
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Points = Decimal
Action = Literal["notice", "written_inquiry", "talk", "admonishment", "discipline"]
Triggerable = Literal["notice", "written_inquiry", "talk", "admonishment", "discipline", "award_ineligible"]
WorkingDays = Annotated[int, Field(ge=1, le=60)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ByRole(Strict):
    """Points for the task's lead unit and for each co-unit."""

    lead: Points = Field(ge=-100, le=100, decimal_places=2)
    co: Points = Field(ge=-100, le=100, decimal_places=2)


class PerDay(Strict):
    """A deduction per working day late (never a bonus), at most ``cap`` in all."""

    lead: Points = Field(ge=-100, le=0, decimal_places=2)
    co: Points = Field(ge=-100, le=0, decimal_places=2)
    cap: Points = Field(le=0, ge=-100, decimal_places=2)


class ByIssuer(Strict):
    committee: Points = Field(ge=-100, le=100, decimal_places=2)
    office: Points = Field(ge=-100, le=100, decimal_places=2)


class PointTable(Strict):
    completed_on_time: ByRole
    completed_late: ByRole
    late_per_working_day: PerDay
    returned: ByRole
    overdue: ByRole
    report_missed: ByRole
    commendation: ByIssuer
    criticism: ByIssuer


class Step(Strict):
    count: int = Field(ge=1)
    action: Action


class Thresholds(Strict):
    admonishment_after_criticisms: int = Field(ge=1)
    unit_ineligible_after_criticisms: int = Field(ge=1)
    escalation: tuple[Step, ...] = ()

    @model_validator(mode="after")
    def _ladder_climbs(self) -> "Thresholds":
        counts = [s.count for s in self.escalation]
        if counts != sorted(set(counts)):
            raise ValueError("escalation counts must rise step by step, each once")
        if self.admonishment_after_criticisms > self.unit_ineligible_after_criticisms:
            raise ValueError("admonishment cannot need more criticisms than the unit's ineligibility")
        return self


class WorkloadWeights(Strict):
    """What one task led counts for in a unit's workload, by its urgency (特急 / 紧急 / 一般)."""

    extra_urgent: Points = Field(default=Decimal(2), gt=0, le=10, decimal_places=2)
    urgent: Points = Field(default=Decimal("1.5"), gt=0, le=10, decimal_places=2)
    normal: Points = Field(default=Decimal(1), gt=0, le=10, decimal_places=2)


class Rankings(Strict):
    enabled: bool = True
    workload_weights: WorkloadWeights = WorkloadWeights()


class RuleSet(Strict):
    version: str = Field(min_length=1, max_length=64, pattern=r"^[\w.\-]+$")
    name: str = Field(min_length=1, max_length=200)
    base_score: Points = Field(ge=0, le=1000, decimal_places=2)
    points: PointTable
    thresholds: Thresholds
    rankings: Rankings = Rankings()
    # action → working days: intake opens a follow-up item for the unit, one task due that many
    # working days after the action (e.g. a written answer to a 函询).
    follow_up: dict[Triggerable, WorkingDays] = Field(default_factory=dict)


class RuleSetError(ValueError):
    """A rule set that cannot be used; ``errors`` name each bad field."""

    def __init__(self, errors: list[dict]):
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc'])) or 'document'}: {e['msg']}"
                                   for e in errors))
        self.errors = errors


def parse(text: str) -> RuleSet:
    """A rule set from JSON or YAML, or RuleSetError naming what is wrong. JSON is read as JSON
    first: PyYAML reads YAML 1.1, which refuses some valid JSON (e.g. tab-indented)."""
    try:
        document = json.loads(text)
    except ValueError:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RuleSetError([{"loc": (), "msg": f"not YAML or JSON: {exc}"}]) from None
    if not isinstance(document, dict):
        raise RuleSetError([{"loc": (), "msg": "a rule set is a mapping of its fields"}])
    try:
        return RuleSet.model_validate(document)
    except ValidationError as exc:
        raise RuleSetError([{"loc": e["loc"], "msg": e["msg"]} for e in exc.errors()]) from None


def to_json(rules: RuleSet) -> str:
    return json.dumps(rules.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)


DEFAULT = parse(resources.files("services.scoring").joinpath("rulesets/default.yaml").read_text("utf-8"))
