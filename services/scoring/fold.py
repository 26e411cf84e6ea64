"""The replay's fold: scoring's whole store rebuilt in memory from its events, then written in bulk.

``duban scoring replay`` could apply each event with the service's handlers (``handlers.ALL``),
each reading the rows it changes back from the database: about a thousand events a second. The
fold keeps those rows in memory instead — each task's outcome, every ledger key, each unit's
threshold facts per year, the rule sets in force — and applies the same rules (the pure functions
of domain.py, the handlers' ``ledger_rows`` and ``action_event``), so it writes the same rows the
handlers would, in the same order; ``Writer`` then inserts them many at a time.

An event is applied whole or not at all, as the handlers' savepoint does: each ``on_*`` method
first works out every row the event adds or changes and checks them (raising, as a handler
refuses: another tenant's task, an appeal never filed, an id already taken, a rule set switched
to but never published; on PostgreSQL also a value longer than its column or holding a NUL,
which PostgreSQL refuses and SQLite keeps), and only then changes the state.

A period close needs the ranking of the period as the store holds it at that moment, so the
replay writes what the fold holds so far (``Writer.flush``) and asks ``reports.ranking``.
"""

import json
from bisect import bisect_right, insort
from datetime import UTC, date, datetime
from decimal import Decimal
from operator import itemgetter

from sqlalchemy import JSON
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from services.scoring import domain, handlers, periods, reports, rules as rule_sets
from services.scoring.models import ScoringBase
from services.scoring.periods import OFFICE_ZONE
from shared.db import PlumbingBase
from shared.events import (
    AppealDecided, AppealFiled, BulletinIssued, Envelope, OrgUnitChanged, PeriodClosed, RuleSetPublished,
    RuleSetSwitched, TaskAssigned, TaskDeadlineChanged, TaskExtensionDecided, TaskOverdue,
    TaskReportMissed, TaskStatusChanged,
)
from shared.org_copy import unit_path
from shared.outbox import outbox_values

TABLES = {**ScoringBase.metadata.tables, **PlumbingBase.metadata.tables}
# rows only ever added (a second row with the same key is refused, or skipped for the ledger) …
INSERTED = ("ledger_entry", "bulletin", "rule_set_version", "period_close", "action_sent", "outbox",
            "processed_event")
# … and rows an event may change again: written as upserts, the last state wins
UPSERTED = ("task_outcome", "appeal", "rule_set_switch", "org_unit_copy")
THRESHOLD_RULES = {"criticism.committee": True, "criticism.office": True, "overdue.lead": False}


class Fold:
    """scoring's store in memory, changed event by event (see the module's docstring)."""

    def __init__(self, *, postgres: bool, durables: dict[str, str]) -> None:
        self.check = _Limits() if postgres else None
        self.durables = durables  # stream → the consumer name processed_event records
        self.outcomes: dict[str, dict] = {}
        self.entries: dict[str, tuple] = {}  # key → (unit, centipoints, rule, item_id, task_id)
        self.facts: dict[tuple[str, str, int], list[tuple[str, bool, domain.Fact]]] = {}
        self.reversed: dict[str, dict[str, int]] = {}  # tenant → entry key → appeals reversing it
        self.sent: set[tuple[str, str, int, str]] = set()
        self.bulletins: set[str] = set()
        self.appeals: dict[str, dict] = {}
        self.published: dict[tuple[str, str], rule_sets.RuleSet] = {}
        self.switches: dict[tuple[str, date], dict] = {}
        self.starts: dict[str, list[date]] = {}  # tenant → its switches' first days, in order
        self.closed: set[tuple[str, str]] = set()
        self._in_force: dict[tuple[str, date], rule_sets.RuleSet] = {}
        self.added: dict[str, list[dict]] = {name: [] for name in INSERTED}  # not written yet
        self.changed: dict[str, dict] = {name: {} for name in UPSERTED}  # key → row, not written yet
        self.on = {
            TaskAssigned.TYPE: self.on_task_assigned, OrgUnitChanged.TYPE: self.on_org_unit_changed,
            TaskStatusChanged.TYPE: self.on_task_status_changed, TaskOverdue.TYPE: self.on_task_overdue,
            TaskReportMissed.TYPE: self.on_report_missed, TaskDeadlineChanged.TYPE: self.on_due_changed,
            TaskExtensionDecided.TYPE: self.on_due_changed, BulletinIssued.TYPE: self.on_bulletin_issued,
            AppealFiled.TYPE: self.on_appeal_filed, AppealDecided.TYPE: self.on_appeal_decided,
            RuleSetPublished.TYPE: self.on_rule_set_published,
            RuleSetSwitched.TYPE: self.on_rule_set_switched,
        }
        missing = set(handlers.ALL) - set(self.on) - {PeriodClosed.TYPE}
        assert not missing, f"the fold has no rule for {missing}"

    def pending(self) -> int:
        return sum(map(len, self.added.values())) + sum(map(len, self.changed.values()))

    def processed(self, stream: str, env: Envelope, now: datetime) -> None:
        """An applied event of another service, recorded as scoring's consumer records it."""
        if (consumer := self.durables.get(stream)) is not None:
            self.added["processed_event"].append({"consumer": consumer, "event_id": env.id, "processed_at": now})

    # ---- rule sets in force ----------------------------------------------------------------------

    def rules_at(self, tenant: str, moment: datetime) -> rule_sets.RuleSet:
        """``store.rule_set_at``: the rule set of the last switch starting on or before the day."""
        key = (tenant, moment.astimezone(OFFICE_ZONE).date())
        found = self._in_force.get(key)
        if found is None:
            found = self._in_force[key] = self._rules_on(*key)
        return found

    def _rules_on(self, tenant: str, day: date) -> rule_sets.RuleSet:
        starts = self.starts.get(tenant, [])
        i = bisect_right(starts, day)
        version = self.switches[(tenant, starts[i - 1])]["version"] if i else None
        if version is None or version == rule_sets.DEFAULT.version:
            return rule_sets.DEFAULT
        if (tenant, version) not in self.published:
            raise LookupError(f"tenant {tenant!r} switched to rule set {version!r} from {starts[i - 1]}, "
                              "which it never published")
        return self.published[(tenant, version)]

    # ---- the other services' events ----------------------------------------------------------------

    def on_task_assigned(self, event: TaskAssigned, env: Envelope) -> None:
        row, new = self._outcome(event, env)
        urgency = event.urgency or "normal"
        self._check("task_outcome", {"urgency": urgency})
        self._keep(row, new)
        row["urgency"] = urgency
        self._due(row, event.due, env.time)

    def on_due_changed(self, event: TaskDeadlineChanged | TaskExtensionDecided, env: Envelope) -> None:
        row, new = self._outcome(event, env)
        self._keep(row, new)
        self._due(row, event.due, env.time)

    def on_task_status_changed(self, event: TaskStatusChanged, env: Envelope) -> None:
        row, new = self._outcome(event, env)
        rules = self.rules_at(env.tenant, env.time)
        counter, entries = domain.status_change(
            rules, action=event.action, lead=event.lead_unit, co_units=event.co_units, title=event.title,
            at=event.at, due=event.due, working_days_late=event.working_days_late)
        lines = self._ledger(entries, env, rules, item_id=event.item_id, task_id=event.task_id)
        self._keep(row, new)
        self._due(row, event.due, env.time)
        if counter == "accepted":
            row["accepted_at"] = event.at
        elif counter is not None:
            row[counter] += 1
        self._add_entries(lines)

    def on_task_overdue(self, event: TaskOverdue, env: Envelope) -> None:
        row, new = self._outcome(event, env)
        rules = self.rules_at(env.tenant, env.time)
        entries = domain.overdue(rules, lead=event.lead_unit, co_units=event.co_units, title=event.title)
        lines = self._ledger(entries, env, rules, item_id=event.item_id, task_id=event.task_id)
        self._keep(row, new)
        self._due(row, event.due, env.time)
        self._add_entries(lines)
        self._announce(env, event.lead_unit, rules)

    def on_report_missed(self, event: TaskReportMissed, env: Envelope) -> None:
        row, new = self._outcome(event, env)
        rules = self.rules_at(env.tenant, env.time)
        entries = domain.report_missed(rules, lead=event.lead_unit, title=event.title, period=event.period)
        lines = self._ledger(entries, env, rules, item_id=event.item_id, task_id=event.task_id)
        self._keep(row, new)
        self._add_entries(lines)

    def on_org_unit_changed(self, event: OrgUnitChanged, env: Envelope) -> None:
        row = {"tenant": env.tenant, "id": event.unit_id, "name": event.name, "parent_id": event.parent_id,
               "active": event.active, "path": unit_path(event.path)}
        self._check("org_unit_copy", row)
        self.changed["org_unit_copy"][(env.tenant, event.unit_id)] = row

    # ---- scoring's own events ----------------------------------------------------------------------

    def on_bulletin_issued(self, event: BulletinIssued, env: Envelope) -> None:
        if event.bulletin_id in self.bulletins:
            raise KeyError(f"bulletin {event.bulletin_id} was issued already")
        row = {"id": event.bulletin_id, "tenant": env.tenant, "kind": event.kind, "issuer": event.issuer,
               "units": event.units, "persons": event.persons, "reason": event.reason,
               "item_ids": event.item_ids, "issued_by": event.issued_by, "issued_at": env.time}
        self._check("bulletin", row)
        rules = self.rules_at(env.tenant, env.time)
        entries = domain.bulletin(rules, kind=event.kind, issuer=event.issuer, units=event.units,
                                  reason=event.reason)
        item = event.item_ids[0] if event.item_ids else None
        lines = self._ledger(entries, env, rules, item_id=item, persons=event.persons)
        self.bulletins.add(event.bulletin_id)
        self.added["bulletin"].append(row)
        self._add_entries(lines)
        if event.kind == "criticism":
            for unit in dict.fromkeys(event.units):
                self._announce(env, unit, rules)

    def on_appeal_filed(self, event: AppealFiled, env: Envelope) -> None:
        if event.appeal_id in self.appeals:
            raise KeyError(f"appeal {event.appeal_id} was filed already")
        row = {"id": event.appeal_id, "tenant": env.tenant, "entry_key": event.entry_key, "unit": event.unit,
               "reason": event.reason, "filed_by": event.filed_by, "filed_at": env.time, "status": "pending",
               "decided_by": None, "decided_at": None, "comment": ""}
        self._check("appeal", row)
        self.appeals[event.appeal_id] = row
        self.changed["appeal"][event.appeal_id] = row

    def on_appeal_decided(self, event: AppealDecided, env: Envelope) -> None:
        appeal = self.appeals.get(event.appeal_id)
        if appeal is None:
            raise LookupError(f"appeal {event.appeal_id} was never filed")
        decision = {"status": "upheld" if event.decision == "uphold" else "reversed",
                    "decided_by": event.decided_by, "decided_at": env.time, "comment": event.comment}
        self._check("appeal", decision)
        lines = []
        contested = self.entries.get(appeal["entry_key"])
        if event.decision == "reverse":
            if contested is None:
                raise LookupError(f"appeal {event.appeal_id} contests entry {appeal['entry_key']}, "
                                  "which is not on the ledger")
            unit, centipoints, rule, item_id, task_id = contested
            undo = domain.reversal(Decimal(centipoints) / 100, rule, appeal["reason"])
            if undo:
                rules = self.rules_at(env.tenant, env.time)
                undo = domain.Entry(unit, undo.points, undo.rule, undo.reason)
                lines = self._ledger([undo], env, rules, item_id=item_id, task_id=task_id)
        self._reversing(appeal, -1)
        appeal.update(decision)
        self._reversing(appeal, +1)
        self.changed["appeal"][event.appeal_id] = appeal
        self._add_entries(lines)

    def on_rule_set_published(self, event: RuleSetPublished, env: Envelope) -> None:
        rules = rule_sets.RuleSet.model_validate(event.rules)
        if (env.tenant, rules.version) in self.published:
            raise KeyError(f"tenant {env.tenant!r} published rule set {rules.version!r} already")
        row = {"tenant": env.tenant, "version": rules.version, "body": rule_sets.to_json(rules),
               "published_by": event.published_by, "published_at": env.time}
        self._check("rule_set_version", row)
        # as store.rule_set_at reads it back from the stored body
        self.published[(env.tenant, rules.version)] = rule_sets.RuleSet.model_validate(json.loads(row["body"]))
        self.added["rule_set_version"].append(row)
        self._in_force.clear()

    def on_rule_set_switched(self, event: RuleSetSwitched, env: Envelope) -> None:
        starts = periods.parse(event.from_period).start
        row = {"tenant": env.tenant, "starts": starts, "version": event.version,
               "switched_by": event.switched_by}
        self._check("rule_set_switch", row)
        if (env.tenant, starts) not in self.switches:
            insort(self.starts.setdefault(env.tenant, []), starts)
        self.switches[(env.tenant, starts)] = row
        self.changed["rule_set_switch"][(env.tenant, starts)] = row
        self._in_force.clear()

    def period_to_close(self, event: PeriodClosed, env: Envelope) -> periods.Period:
        """The period a close names, checked (the ranking is asked of the store, then ``closed``)."""
        period = periods.parse(event.period)
        if (env.tenant, event.period) in self.closed:
            raise KeyError(f"tenant {env.tenant!r} closed {event.period} already")
        self._check("period_close", {"period": event.period, "closed_by": event.closed_by})
        return period

    def on_period_closed(self, event: PeriodClosed, env: Envelope, report: dict) -> None:
        self.closed.add((env.tenant, event.period))
        self.added["period_close"].append({"tenant": env.tenant, "period": event.period,
                                           "closed_by": event.closed_by, "closed_at": env.time,
                                           "report": report})

    # ---- the parts -------------------------------------------------------------------------------

    def _outcome(self, event, env: Envelope) -> tuple[dict, bool]:
        """The task's outcome row (a new one is kept only once the event is applied)."""
        row = self.outcomes.get(event.task_id)
        if row is None:
            row = {"task_id": event.task_id, "tenant": env.tenant, "item_id": event.item_id,
                   "lead_unit": event.lead_unit, "urgency": "normal", "due": None, "due_as_of": None,
                   "accepted_at": None, "submissions": 0, "returns": 0, "reverifications": 0}
            self._check("task_outcome", row)
            return row, True
        if row["tenant"] != env.tenant:
            raise handlers.foreign_task(event.task_id, row["tenant"], env.tenant)
        return row, False

    def _keep(self, row: dict, new: bool) -> None:
        if new:
            self.outcomes[row["task_id"]] = row
        self.changed["task_outcome"][row["task_id"]] = row

    @staticmethod
    def _due(row: dict, due: datetime | None, as_of: datetime) -> None:
        row["due"], row["due_as_of"] = domain.later_due(row["due"], row["due_as_of"], due, as_of)

    def _ledger(self, entries: list[domain.Entry], env: Envelope, rules: rule_sets.RuleSet,
                **where) -> list[dict]:
        lines = handlers.ledger_rows(entries, env, rules, **where)
        for line in lines:
            self._check("ledger_entry", line)
        return lines

    def _add_entries(self, lines: list[dict]) -> None:
        """Ledger lines; one whose key is there already is skipped (as ``store.add_entries``)."""
        for line in lines:
            key = line["key"]
            if key in self.entries:
                continue
            self.entries[key] = (line["unit"], line["centipoints"], line["rule"], line["item_id"], line["task_id"])
            self.added["ledger_entry"].append(line)
            criticism = THRESHOLD_RULES.get(line["rule"])
            if criticism is not None:
                at = line["at"]
                fact = domain.Fact(at, line["cause_event_id"], tuple(line["persons"]) if criticism else ())
                bucket = (line["tenant"], line["unit"], at.astimezone(OFFICE_ZONE).year)
                self.facts.setdefault(bucket, []).append((key, criticism, fact))

    def _reversing(self, appeal: dict, step: int) -> None:
        if appeal["status"] != "reversed":
            return
        keys = self.reversed.setdefault(appeal["tenant"], {})
        keys[appeal["entry_key"]] = keys.get(appeal["entry_key"], 0) + step
        if not keys[appeal["entry_key"]]:
            del keys[appeal["entry_key"]]

    def _announce(self, env: Envelope, unit: str, rules: rule_sets.RuleSet) -> None:
        """``handlers.announce_actions``: the actions the unit's year has triggered so far, once each."""
        year = env.time.astimezone(OFFICE_ZONE).year
        gone = self.reversed.get(env.tenant, {})
        facts = [(criticism, fact) for key, criticism, fact in self.facts.get((env.tenant, unit, year), ())
                 if key not in gone]
        criticisms = [fact for criticism, fact in facts if criticism]
        late = [fact for criticism, fact in facts if not criticism]
        for action in domain.actions(rules, unit, year, criticisms, late):
            sent = (env.tenant, action.unit, action.year, action.kind)
            if sent not in self.sent:
                self.sent.add(sent)
                self.added["action_sent"].append(dict(zip(("tenant", "unit", "year", "kind"), sent, strict=True)))
                self.added["outbox"].append({**outbox_values(handlers.action_event(rules, env, action)),
                                             "published_at": datetime.now(UTC)})

    def _check(self, table: str, row: dict) -> None:
        if self.check is not None:
            self.check(table, row)


class _Limits:
    """What PostgreSQL refuses and SQLite keeps: text longer than its column, or holding a NUL."""

    def __init__(self) -> None:
        # (sqlmodel's strings are a decorator of String, which lends them its length)
        self.lengths = {name: {c.name: getattr(c.type, "length", None) for c in table.columns
                               if not isinstance(c.type, JSON)}
                        for name, table in TABLES.items()}

    def __call__(self, table: str, row: dict) -> None:
        lengths = self.lengths[table]
        for name, value in row.items():
            if isinstance(value, str) and name in lengths:
                limit = lengths[name]
                if limit is not None and len(value) > limit:
                    raise ValueError(f"{table}.{name}: {len(value)} characters, the column holds {limit}")
                if "\x00" in value:
                    raise ValueError(f"{table}.{name}: a NUL character, which PostgreSQL text cannot hold")


class Writer:
    """Writes what the fold holds and has not written yet, on ``conn`` (one transaction: the
    caller's): each table's rows in one driver-level ``executemany``, the values converted by the
    columns' own SQLAlchemy types (the rows are what the ORM would write), without SQLAlchemy's
    per-row statement machinery."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.statements = {name: _Statement(TABLES[name], conn.dialect, upsert=name in UPSERTED)
                           for name in (*UPSERTED, *INSERTED)}

    async def flush(self, fold: Fold) -> None:
        for name in UPSERTED:  # outcomes before the ledger: the order the handlers' flushes take
            rows, fold.changed[name] = fold.changed[name], {}
            await self._write(name, rows.values())
        for name in INSERTED:
            rows, fold.added[name] = fold.added[name], []
            await self._write(name, rows)

    async def _write(self, name: str, rows) -> None:
        if not rows:
            return
        statement = self.statements[name]
        if self.conn.dialect.name == "postgresql" and name in INSERTED:
            await self._copy(name, statement, rows)
        else:
            await self.conn.exec_driver_sql(statement.sql, statement.parameters(rows))

    async def _copy(self, name: str, statement: "_Statement", rows) -> None:
        """PostgreSQL's COPY, several times faster than an INSERT per row (rows only added)."""
        raw = await self.conn.get_raw_connection()
        columns = ", ".join(f'"{n}"' for n in statement.names)
        async with raw.driver_connection.cursor() as cursor:
            async with cursor.copy(f'COPY "{name}" ({columns}) FROM STDIN') as copy:
                for values in statement.parameters(rows, as_tuples=True):
                    await copy.write_row(values)

    async def ranking(self, tenant: str, period: periods.Period) -> dict:
        """The period's ranking as the store written so far holds it (a period close keeps it)."""
        async with AsyncSession(bind=self.conn) as session:
            report = await reports.ranking(session, tenant, period, under=None, normalise=False,
                                           enforce_switch=False)
        return report.model_dump(mode="json")


class _Statement:
    """An INSERT (or upsert: the last row of a key wins) of every column but an autoincrement
    key, as the driver takes it, and the conversion of rows to its parameters."""

    def __init__(self, table, dialect, *, upsert: bool) -> None:
        columns = [c for c in table.columns if c is not table.autoincrement_column]
        names = [c.name for c in columns]
        module = postgresql if dialect.name == "postgresql" else sqlite
        stmt = module.insert(table)
        if upsert:
            keys = [c.name for c in table.primary_key.columns]
            stmt = stmt.on_conflict_do_update(index_elements=keys, set_={
                name: stmt.excluded[name] for name in names if name not in keys})
        compiled = stmt.compile(dialect=dialect, column_keys=names)
        self.sql = str(compiled)
        self.names = list(compiled.positiontup or names)
        self.positional = compiled.positiontup is not None
        self.values = itemgetter(*self.names)
        processors = {c.name: c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns}
        self.converted = [(i, processors[n]) for i, n in enumerate(self.names) if processors[n] is not None]

    def parameters(self, rows, *, as_tuples: bool = False) -> list:
        """The rows as the driver's parameters, each value converted by its column's type (the same
        object, e.g. one processed_at for many rows, converted once)."""
        values, converted = self.values, self.converted
        out = []
        last = [(None, None)] * len(converted)
        for row in rows:
            line = list(values(row))
            for k, (i, convert) in enumerate(converted):
                value = line[i]
                seen, done = last[k]
                if value is not seen or value is None:
                    done = convert(value)
                    last[k] = (value, done)
                line[i] = done
            out.append(tuple(line))
        if self.positional or as_tuples:
            return out
        return [dict(zip(self.names, line, strict=True)) for line in out]
