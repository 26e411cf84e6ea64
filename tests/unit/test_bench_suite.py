"""`duban bench`'s table: goals judged from the figures, failed sections shown, sizes overridden."""

import pytest

from bench import suite


def rows(text: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in text.splitlines()[1:]}


def test_goals_are_judged_from_the_figures_of_the_same_run():
    figures = {"e2e_assignments_per_s": 300.0, "raw_jetstream_pull_ack_per_s": 1000,
               "ledger_p95_ms": 50.0, "ledger_worst_p95_ms": 50.1, "period_stats_p95_ms": 250.0}
    table = rows(suite.table(figures, ["e2e", "ledger", "stats"]))
    assert table["e2e_assignments_per_s"][-1] == "yes"  # 300 ≥ 25% of 1,000
    assert table["ledger_p95_ms"][-1] == "yes"
    assert table["ledger_worst_p95_ms"][-1] == "NO"
    assert table["period_stats_p95_ms"][-1] == "NO"
    assert table["raw_jetstream_pull_ack_per_s"] == ["raw_jetstream_pull_ack_per_s", "1,000"]

    slower = rows(suite.table({**figures, "e2e_assignments_per_s": 249.9}, ["e2e"]))
    assert slower["e2e_assignments_per_s"][-1] == "NO"


def test_a_failed_section_is_shown_and_the_others_still_judged():
    figures = {"deadlines_error": "ImportError: no bench.deadlines", "ledger_p95_ms": 12.0,
               "ledger_worst_p95_ms": 30.0}
    text = suite.table(figures, ["deadlines", "ledger"])
    failed = next(line for line in text.splitlines() if line.startswith("deadlines: FAILED"))
    assert "ImportError: no bench.deadlines" in failed
    assert rows(text)["ledger_p95_ms"][-1] == "yes"


def test_a_replay_of_fewer_events_is_not_judged_against_the_million_goal():
    figures = {"replay_events": 20_000, "replay_s": 1.0, "replay_1m_projected_s": 50.0}
    table = rows(suite.table(figures, ["replay"]))
    assert table["replay_s"][-1] == "n/a"  # a goal for a million, not for 20,000
    assert table["replay_1m_projected_s"][-1] == "yes"


def test_sizes_are_overridden_by_name_and_bad_ones_refused():
    sizes = suite.sized(suite.QUICK, ["e2e_items=50", "e2e_latency_s=1.5"])
    assert (sizes.e2e_items, sizes.e2e_latency_s, sizes.deadlines) == (50, 1.5, suite.QUICK.deadlines)
    for bad, message in (["nope=1"], "unknown size"), (["ledger_tasks=x"], "needs a number"), \
                        (["ledger_tasks=-5"], "must be positive"):
        with pytest.raises(ValueError, match=message):
            suite.sized(suite.QUICK, bad)
