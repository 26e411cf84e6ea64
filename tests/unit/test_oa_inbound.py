"""What comes in from the OA, as pure functions: instructions as items, people's changes, the
webhook's signature checks and settings, intake's NATS permission to forward."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from duban.nats_config import service_user, users
from services.intake import domain
from services.intake.config import IntakeSettings
from services.intake.models import OrgUnit, Person, SourceKind
from services.intake.oa_webhook import OA_TYPE, signature_problem
from shared.events import OaInstructionIssued, OaPersonUpdated, PersonFields
from shared.signing import sign, verify

NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)


def instruction(**fields) -> OaInstructionIssued:
    data = {"instruction_id": "批示〔2026〕7号", "title": "冬季安全生产大检查", "leader": "王副市长",
            "supervisor": "李明", "requirements": "月底前报送", "urgency": "extra_urgent",
            "tasks": [{"lead_unit": "U-1", "co_units": ["U-2", "U-1"], "due": "2026-12-01T17:30:00+08:00"},
                      {"lead_unit": "U-3", "title": "整改", "responsible_person": "赵", "due_working_days": 5}]}
    return OaInstructionIssued.model_validate({**data, **fields})


# ---- instructions ----------------------------------------------------------------------------------


def test_an_instruction_becomes_a_leader_instruction_item_with_its_tasks():
    item = domain.instruction_item(instruction())
    assert item.source.kind is SourceKind.leader_instruction and item.source.ref == "批示〔2026〕7号"
    assert (item.title, item.supervising_leader, item.supervisor, item.requirements, item.urgency.value,
            item.regime.value) == ("冬季安全生产大检查", "王副市长", "李明", "月底前报送", "extra_urgent", "special")
    first, second = item.tasks
    assert (first.lead_unit, first.title, first.due_working_days) == ("U-1", None, None)
    assert first.due == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert (second.title, second.responsible_person, second.due, second.due_working_days) == ("整改", "赵", None, 5)


@pytest.mark.parametrize("task,problem", [
    ({"lead_unit": "U-1"}, "tasks[0]: task: Value error, give the deadline either as due"),
    ({"lead_unit": "U-1", "due_working_days": 2, "due": "2026-12-01T00:00:00Z"}, "give the deadline either"),
    ({"lead_unit": "U-1", "due_working_days": 2, "co_units": [""]}, "tasks[0]: co_units: Value error"),
])
def test_an_instruction_the_api_would_refuse_names_the_task_and_the_problem(task, problem):
    with pytest.raises(domain.BadInstruction) as refused:
        domain.instruction_item(instruction(tasks=[task]))
    assert str(refused.value).startswith("instruction 批示〔2026〕7号: tasks[0]")
    assert problem in str(refused.value)


def test_deadlines_are_checked_against_the_instructions_time():
    item = domain.instruction_item(instruction())
    assert domain.instruction_deadline_problems(item, NOW) is None
    late = domain.instruction_deadline_problems(item, datetime(2026, 12, 2, tzinfo=UTC))
    assert late.startswith("tasks.0.due: deadline 2026-12-01T17:30:00+08:00 is not after now")


def test_an_instructions_fingerprint_is_its_content_and_its_key_its_id():
    assert domain.instruction_key("批示〔2026〕7号") == "oa-instruction:批示〔2026〕7号"
    same = instruction(unknown_field="ignored by the contract")
    assert domain.instruction_fingerprint(instruction()) == domain.instruction_fingerprint(same)
    assert domain.instruction_fingerprint(instruction()) != domain.instruction_fingerprint(instruction(title="别的"))
    with pytest.raises(ValidationError):
        instruction(tasks=[])


# ---- people ---------------------------------------------------------------------------------------


def fields(**changes) -> PersonFields:
    return PersonFields(**{"person_id": "P-1", "name": "张三", "unit_id": "U-1", "roles": ["head"], **changes})


def test_a_persons_change_is_created_updated_deactivated_reactivated_or_nothing():
    assert domain.person_change(None, fields()) == "created"
    assert domain.person_change(None, fields(active=False)) == "created"
    assert domain.person_change(fields(), fields()) is None
    assert domain.person_change(fields(), fields(email="a@b.cn")) == "updated"
    assert domain.person_change(fields(), fields(active=False, name="新")) == "deactivated"
    assert domain.person_change(fields(active=False), fields()) == "reactivated"


def test_a_persons_state_round_trips_through_the_row_roles_once_each():
    event = OaPersonUpdated(**fields(roles=["handler", "head", "handler"], mobile="138").model_dump())
    normal = domain.person_fields(event)
    assert type(normal) is PersonFields and normal.roles == ["handler", "head"]
    row = domain.new_person("acme", normal)
    assert isinstance(row, Person) and (row.tenant, row.id) == ("acme", "P-1")
    assert domain.person_state(row) == normal
    changed = domain.person_changed(normal, "created")
    assert changed.model_dump() == {**normal.model_dump(), "change": "created"}


def test_a_persons_unit_must_be_known_when_given():
    assert domain.person_unit_errors(None, None) == []
    known = OrgUnit(tenant="acme", id="U-1", name="x", path="/U-1/", active=False)
    assert domain.person_unit_errors("U-1", known) == []  # a deactivated unit still exists
    [error] = domain.person_unit_errors("U-9", None)
    assert error["loc"] == ["body", "unit_id"] and error["msg"] == "no unit U-9"


# ---- the webhook -----------------------------------------------------------------------------------


def test_signatures_bind_the_body_the_secret_and_the_time():
    body, at = b'{"id": "1"}', 1_800_000_000
    signature = sign("s3cret", at, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify("s3cret", at, body, signature, now=at + 299)
    assert verify("s3cret", str(at), body, signature, now=at - 299)
    assert not verify("s3cret", at, body + b" ", signature, now=at)
    assert not verify("other", at, body, signature, now=at)
    assert not verify("s3cret", at + 1, body, signature, now=at)
    assert not verify("s3cret", at, body, signature, now=at + 301)
    assert not verify("s3cret", None, body, signature, now=at)
    with pytest.raises(ValueError):
        sign("", at, body)


@pytest.mark.parametrize("timestamp,signature,problem", [
    (None, "sha256=00", "missing X-Duban-Timestamp or X-Duban-Signature"),
    ("1800000000", None, "missing X-Duban-Timestamp or X-Duban-Signature"),
    ("soon", "sha256=00", "X-Duban-Timestamp is not a unix time in seconds"),
    ("1799999000", "sha256=00", "stale timestamp: 1799999000 is 1000 s from now (tolerance 300 s)"),
    ("1800000000", "sha256=00", "bad signature"),
    ("1800000000", sign("s", 1_800_000_000, b"{}"), None),
])
def test_the_webhook_says_why_a_signature_does_not_hold(timestamp, signature, problem):
    assert signature_problem("s", timestamp, b"{}", signature, now=1_800_000_000, tolerance_s=300) == problem


def test_only_concrete_oa_types_are_forwarded():
    assert OA_TYPE.match("duban.oa.instruction.issued.v1") and OA_TYPE.match("duban.oa.leave.requested.v1")
    for bad in ("duban.oa", "duban.oa.", "duban.oa.*", "duban.oa.>", "duban.intake.item.registered.v1",
                "duban.oa.a b", "duban.oa..x"):
        assert not OA_TYPE.match(bad), bad


def test_webhook_secrets_come_as_json_per_tenant(monkeypatch):
    monkeypatch.setenv("DUBAN_INTAKE_OA_WEBHOOK_SECRETS", '{"acme": "k1", "beta": "k2"}')
    loaded = IntakeSettings()
    assert {t: s.get_secret_value() for t, s in loaded.oa_webhook_secrets.items()} == {"acme": "k1", "beta": "k2"}
    assert "k1" not in repr(loaded)
    monkeypatch.setenv("DUBAN_INTAKE_OA_WEBHOOK_SECRETS", '{"acme": ""}')
    with pytest.raises(ValidationError, match="empty webhook secret for tenant"):
        IntakeSettings()
    monkeypatch.delenv("DUBAN_INTAKE_OA_WEBHOOK_SECRETS")
    assert IntakeSettings().oa_webhook_secrets == {}


def test_only_intake_may_publish_the_oas_subjects_besides_the_oa():
    assert "duban.oa.>" in service_user("intake").publish
    others = [u for u in users() if u.name not in ("intake", "oa", "operator")]
    assert others and all("duban.oa.>" not in u.publish for u in others)
