"""notify reads its settings once per consumer batch (one transaction), yet a calendar event in
the batch is seen by the events after it, on SQLite and PostgreSQL."""

from datetime import date

from services.notify.handlers import _calendar, on_calendar_changed, once_per_batch
from services.notify.models import NotifyBase
from shared.db import create_tables
from shared.events import CalendarChanged, envelope

MONDAY = date(2031, 6, 2)


def calendar_event(holidays: list[date]) -> CalendarChanged:
    return CalendarChanged(year=2031, holiday_count=len(holidays), workday_count=0, actor="admin",
                           holidays=holidays)


async def test_a_calendar_change_in_a_batch_reaches_the_events_after_it(db, sessions):
    await create_tables(db, [NotifyBase.metadata])
    async with sessions() as session, session.begin():  # one batch
        assert (await _calendar(session)).is_workday(MONDAY)
        event = calendar_event([MONDAY])
        await on_calendar_changed(event, envelope(event, source="/duban/tracking", tenant="t"), session)
        assert not (await _calendar(session)).is_workday(MONDAY)
    async with sessions() as session:  # the next batch reads the stored copy
        assert not (await _calendar(session)).is_workday(MONDAY)


async def test_a_setting_is_read_once_per_batch(db, sessions):
    await create_tables(db, [NotifyBase.metadata])
    reads = []

    async def load():
        reads.append(1)
        return len(reads)

    async with sessions() as session:
        assert [await once_per_batch(session, ("x",), load) for _ in range(3)] == [1, 1, 1]
    async with sessions() as session:
        assert await once_per_batch(session, ("x",), load) == 2
