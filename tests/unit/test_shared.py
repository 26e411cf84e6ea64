"""Pure plumbing: durations, envelopes, URLs, stream definitions, the clock."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.bus import nats_servers
from shared.clock import Clock, ClockRefused, parse_duration
from shared.db import async_url
from shared.events import CATALOGUE, Envelope, TaskAssigned, envelope
from shared.settings import Settings, ServiceSettings
from shared.streams import StreamSpec, dead_letter_subject, stream_of


@pytest.mark.parametrize("text,expected", [
    ("2d", timedelta(days=2)), ("3h30m", timedelta(hours=3, minutes=30)),
    ("1w", timedelta(weeks=1)), ("90s", timedelta(seconds=90)), ("1.5h", timedelta(minutes=90)),
])
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "d", "2x", "2d junk", "-1d"])
def test_parse_duration_rejects_nonsense(text):
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


def test_clock_offset_moves_now_and_tells_listeners():
    clock = Clock()
    heard = []
    clock.on_change(lambda: heard.append(clock.offset))
    before = clock.now()
    clock.set_offset(timedelta(days=2))
    assert clock.now() - before >= timedelta(days=2)
    assert heard == [timedelta(days=2)]
    assert clock.now().tzinfo is UTC


def test_production_clock_refuses_an_offset():
    clock = Clock(production=True)
    with pytest.raises(ClockRefused):
        clock.set_offset(timedelta(hours=1))
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_envelope_is_cloudevents_with_tenant_and_typed_data():
    data = TaskAssigned(task_id="T1", item_id="I1", title="t", lead_unit="U-1",
                        due=datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    event = envelope(data, source="/duban/intake", tenant="acme")
    wire = Envelope.model_validate_json(event.to_bytes())
    assert wire.specversion == "1.0"
    assert wire.type == "duban.intake.task.assigned.v1" == data.TYPE
    assert wire.subject == "T1" and wire.tenant == "acme" and wire.source == "/duban/intake"
    assert CATALOGUE[wire.type].model_validate(wire.data) == data


def test_envelope_without_tenant_or_with_naive_time_is_invalid():
    good = {"id": "1", "source": "/x", "type": "t", "time": "2026-01-01T00:00:00Z",
            "tenant": "a", "data": {}}
    Envelope.model_validate(good)
    with pytest.raises(ValidationError):
        Envelope.model_validate({k: v for k, v in good.items() if k != "tenant"})
    with pytest.raises(ValidationError):
        Envelope.model_validate({**good, "time": "2026-01-01T00:00:00"})


def test_every_event_type_is_versioned_and_owned_by_its_producer_stream():
    for event_type in CATALOGUE:
        service = event_type.split(".")[1]
        assert event_type.startswith(f"duban.{service}.") and event_type.endswith(".v1")
        assert StreamSpec(service).events_subject == f"duban.{service}.>"


def test_the_oa_stream_takes_only_the_oas_subjects():
    config = stream_of("oa").config(Settings())
    assert config.name == "DUBAN_OA" and config.subjects == ["duban.oa.>"]


def test_stream_keeps_history_and_holds_its_owners_dead_letters():
    config = StreamSpec("tracking").config(Settings(stream_replicas=3, duplicate_window_s=600))
    assert config.name == "DUBAN_TRACKING"
    assert config.subjects == ["duban.tracking.>", "duban.dlq.tracking.>"]
    assert config.num_replicas == 3 and config.duplicate_window == 600
    assert dead_letter_subject("tracking", "tracking__duban_intake") == \
        "duban.dlq.tracking.tracking__duban_intake"


@pytest.mark.parametrize("given,expected", [
    ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
])
def test_database_urls_get_async_drivers(given, expected):
    assert async_url(given) == expected


@pytest.mark.parametrize("given, expected", [
    ("nats://127.0.0.1:4229", ["nats://127.0.0.1:4229"]),
    ("nats://n1:4222, nats://n2:4222,nats://n3:4222,", ["nats://n1:4222", "nats://n2:4222", "nats://n3:4222"]),
])
def test_nats_url_names_one_server_or_a_clusters(given, expected):
    assert nats_servers(given) == expected


def test_service_settings_defaults_and_overrides(monkeypatch, tmp_path):
    common = Settings(data_dir=tmp_path)
    tracking = ServiceSettings.load("tracking", common)
    assert tracking.port == 8102
    assert tracking.database_url == f"sqlite:///{tmp_path.as_posix()}/tracking.db"
    monkeypatch.setenv("DUBAN_TRACKING_PORT", "9102")
    monkeypatch.setenv("DUBAN_TRACKING_DATABASE_URL", "postgresql://db/tracking")
    tracking = ServiceSettings.load("tracking", common)
    assert (tracking.port, tracking.database_url) == (9102, "postgresql://db/tracking")
    with pytest.raises(ValueError, match="unknown service"):
        ServiceSettings.load("billing", common)


def test_every_consuming_service_keeps_a_copy_of_the_org_tree():
    from services.notify.handlers import SUBSCRIPTIONS as NOTIFY
    from services.scoring.handlers import SUBSCRIPTIONS as SCORING
    from services.tracking.handlers import SUBSCRIPTIONS as TRACKING
    from shared.events import OrgUnitChanged

    for subscriptions in (TRACKING, SCORING, NOTIFY):
        assert OrgUnitChanged.TYPE in {t for s in subscriptions for t in s.handlers}
