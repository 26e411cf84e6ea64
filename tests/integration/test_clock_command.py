"""`duban clock` against a real nats-server: show, advance, reset; refused in production."""

from datetime import timedelta

import pytest

from duban.cli import main


def clock(nats_server, *args) -> int:
    return main(["clock", "--nats", nats_server.url, *args])


def offset_shown(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("offset")).split(None, 1)[1]


def test_advance_show_and_reset(nats_server, capsys):
    assert clock(nats_server, "reset") == 0
    assert clock(nats_server, "advance", "2d") == 0
    assert clock(nats_server, "advance", "3h30m") == 0
    capsys.readouterr()
    assert clock(nats_server, "show") == 0
    assert offset_shown(capsys.readouterr().out) == str(timedelta(days=2, hours=3, minutes=30))
    assert clock(nats_server, "reset") == 0
    assert offset_shown(capsys.readouterr().out) == str(timedelta(0))


def test_bad_duration_is_refused_with_a_clear_message(nats_server, capsys):
    assert clock(nats_server, "advance", "soon") == 2
    assert "bad duration 'soon'" in capsys.readouterr().err


def test_production_refuses_to_move_the_clock(nats_server, capsys, monkeypatch):
    clock(nats_server, "reset")
    monkeypatch.setenv("DUBAN_ENV", "production")
    assert clock(nats_server, "advance", "1d") == 2
    assert "refused in production" in capsys.readouterr().err
    monkeypatch.delenv("DUBAN_ENV")
    capsys.readouterr()
    clock(nats_server, "show")
    assert offset_shown(capsys.readouterr().out) == str(timedelta(0))


@pytest.fixture(autouse=True)
def _reset_after(nats_server):
    yield
    main(["clock", "--nats", nats_server.url, "reset"])


def test_set_jumps_to_a_moment_even_backwards_and_needs_a_time_zone(nats_server, capsys):
    assert clock(nats_server, "set", "2026-09-30T10:00:00+08:00") == 0
    out = capsys.readouterr().out
    assert "2026-09-30 10:00 Asia/Shanghai" in out
    with pytest.raises(SystemExit):
        clock(nats_server, "set", "2026-09-30T10:00:00")
    assert "give a time zone" in capsys.readouterr().err


def test_a_cluster_url_list_works_when_a_node_is_down(nats_server, capsys, monkeypatch):
    from tests.support import free_port

    monkeypatch.setenv("DUBAN_NATS_URL", f"nats://127.0.0.1:{free_port()},{nats_server.url}")
    assert main(["clock", "advance", "1d"]) == 0  # the first node is down; the second answers
    capsys.readouterr()
    assert clock(nats_server, "show") == 0
    assert offset_shown(capsys.readouterr().out) == str(timedelta(days=1))
