"""tracking's HTTP routes: a task's view, and the actions that move it through its lifecycle."""

from fastapi import APIRouter, Depends, HTTPException

from services.tracking import domain, store
from services.tracking.domain import ExtensionRefused
from services.tracking.lifecycle import (
    CLOCK_RUNNING_STATUSES, Action, HistoryEntry, Status, TransitionRefused, allowed_actions, record,
)
from services.tracking.models import (
    ActionRequest, DispatchRequest, ExtensionDecision, ExtensionPublic, ExtensionRequest,
    HistoryPublic, MilestonePublic, ReviewRequest, SubTaskPublic, TaskPublic, TrackedTask,
)
from shared.access import authorize
from shared.auth import Principal
from shared.events import (
    TaskDispatched, TaskExtensionDecided, TaskExtensionRequested, TaskMilestoneReached, TaskReminded,
    TaskStatusChanged,
)
from shared.service import Runtime, runtime_of

router = APIRouter(tags=["tasks"])


async def task_view(runtime: Runtime, session, task: TrackedTask) -> TaskPublic:
    now = runtime.clock.now()
    calendar = await store.calendar(session)
    history = await store.history(session, task.id)
    children = await store.sub_tasks(session, task.id)
    milestones = await store.milestones(session, task.id)
    suspended_from = Status(task.suspended_from) if task.suspended_from else None
    return TaskPublic(
        **task.model_dump(),
        overdue=domain.is_overdue(due=task.due, status=task.status, now=now),
        working_days_left=domain.working_days_left(due=task.due, status=task.status, now=now,
                                                   calendar=calendar),
        light=domain.task_light(task=task, now=now, calendar=calendar),
        stagnant=domain.task_stagnant(task=task, now=now, calendar=calendar),
        allowed_actions=[a.value for a in allowed_actions(task.status, suspended_from=suspended_from)],
        extension=ExtensionPublic(new_due=task.extension_due, reason=task.extension_reason or "")
        if task.extension_due else None,
        milestones=[MilestonePublic(**m.model_dump(), missed=m.missed_at is not None) for m in milestones],
        sub_tasks=[SubTaskPublic.model_validate(t, from_attributes=True) for t in children],
        sub_progress=domain.sub_progress([t.status for t in children]),
        history=[HistoryPublic.model_validate(h, from_attributes=True) for h in history],
    )


@router.get("/tasks/{task_id}", response_model=TaskPublic)
async def get_task(task_id: str, runtime: Runtime = Depends(runtime_of)) -> TaskPublic:
    async with runtime.sessions() as session:
        task = await store.get_task(session, task_id)
        if task is None:
            raise HTTPException(404, f"no task {task_id}")
        return await task_view(runtime, session, task)


async def act(runtime: Runtime, caller: Principal, task_id: str, action: Action,
              body: ActionRequest) -> TaskPublic:
    """Apply one lifecycle action: 409 with the reason if the task's state does not allow it."""
    now = runtime.clock.now()
    async with runtime.unit_of_work() as session:
        # Before the row lock: a calendar save takes its lock first, then the tasks' rows.
        calendar = await store.counting_calendar(session) if action is Action.ACCEPT else None
        task = await _locked(session, task_id)
        suspended_from = Status(task.suspended_from) if task.suspended_from else None
        try:
            new, entry = record(task.status, action, at=now, actor=caller.subject,
                                comment=body.comment, suspended_from=suspended_from)
        except TransitionRefused as refused:
            raise HTTPException(409, refused.reason) from None
        task.suspended_from = task.status if action is Action.SUSPEND else None
        task.status = new.value
        task.returns, task.reverifications = domain.counters_after(action, task.returns,
                                                                   task.reverifications)
        await _reschedule(session, task, now, activity=True)
        store.add_history(session, task.id, entry)
        late = (domain.late_working_days(action, due=task.due, at=now, calendar=calendar)
                if calendar is not None else 0)
        runtime.emit(session, TaskStatusChanged(
            task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
            action=entry.action, from_status=entry.from_status, to_status=entry.to_status,
            actor=entry.actor, comment=entry.comment, at=now, due=task.due,
            co_units=list(task.co_units), working_days_late=late,
        ), tenant=task.tenant)
        return await task_view(runtime, session, task)


async def _locked(session, task_id: str) -> TrackedTask:
    task = await store.get_task(session, task_id, for_update=True)
    if task is None:
        raise HTTPException(404, f"no task {task_id}")
    return task


async def _reschedule(session, task: TrackedTask, now, *, activity: bool = False) -> None:
    """Keep the stored moments (next reminder, yellow, stagnant) in step with the task."""
    calendar = await store.calendar(session)
    if activity:
        domain.mark_activity(task, now=now, calendar=calendar)
    task.next_reminder_at = domain.next_reminder_for(task, after=now, calendar=calendar)
    task.yellow_at = domain.yellow_at(assigned_at=task.assigned_at, due=task.due, calendar=calendar)


def _note(session, task: TrackedTask, action: str, caller: Principal, comment: str, now) -> None:
    """A history entry for something that does not change the task's status."""
    store.add_history(session, task.id, HistoryEntry(now, caller.subject, action, task.status,
                                                     task.status, comment))


def _action_route(action: Action, summary: str) -> None:
    async def route(task_id: str, body: ActionRequest | None = None,
                    runtime: Runtime = Depends(runtime_of),
                    caller: Principal = Depends(authorize)) -> TaskPublic:
        return await act(runtime, caller, task_id, action, body or ActionRequest())

    router.add_api_route(f"/tasks/{{task_id}}/{action.value}", route, methods=["POST"],
                         response_model=TaskPublic, summary=summary,
                         responses={404: {"description": "no such task"},
                                    403: {"description": "not this caller's role or unit"},
                                    409: {"description": "the task's state does not allow it"}})


for _action, _summary in (
    (Action.SIGN, "The unit signs for the task (签收)"),
    (Action.PROGRESS, "The unit reports progress"),
    (Action.SUBMIT, "The unit submits its completion report (报结)"),
    (Action.CANCEL, "The office cancels the task"),
    (Action.SUSPEND, "The office suspends the task (its clock stops)"),
    (Action.RESUME, "The office resumes a suspended task"),
):
    _action_route(_action, _summary)


@router.post("/tasks/{task_id}/review", response_model=TaskPublic,
             responses={404: {"description": "no such task"},
                        409: {"description": "only a submitted task can be reviewed"}})
async def review(task_id: str, body: ReviewRequest, runtime: Runtime = Depends(runtime_of),
                 caller: Principal = Depends(authorize)) -> TaskPublic:
    """The office accepts (办结), returns for redo (退回重办) or sends for re-verification (复核)."""
    return await act(runtime, caller, task_id, Action(body.decision), body)


@router.post("/tasks/{task_id}/extension", response_model=TaskPublic,
             responses={404: {"description": "no such task"},
                        409: {"description": "the task cannot ask for an extension now"}})
async def request_extension(task_id: str, body: ExtensionRequest,
                            runtime: Runtime = Depends(runtime_of),
                            caller: Principal = Depends(authorize)) -> TaskPublic:
    """The unit asks for a later deadline (延期申请); the task cannot turn red until it is decided."""
    now = runtime.clock.now()
    async with runtime.unit_of_work() as session:
        task = await _locked(session, task_id)
        try:
            domain.check_extension_request(status=task.status, pending=task.extension_due is not None,
                                           due=task.due, new_due=body.new_due, now=now)
        except ExtensionRefused as refused:
            raise HTTPException(409, str(refused)) from None
        task.extension_due, task.extension_reason = body.new_due, body.reason
        await _reschedule(session, task, now, activity=True)
        _note(session, task, "extension_request", caller, body.reason, now)
        runtime.emit(session, TaskExtensionRequested(
            task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
            due=task.due, new_due=body.new_due, reason=body.reason, actor=caller.subject,
        ), tenant=task.tenant)
        return await task_view(runtime, session, task)


@router.post("/tasks/{task_id}/extension/decide", response_model=TaskPublic,
             responses={404: {"description": "no such task"},
                        409: {"description": "no pending extension request"}})
async def decide_extension(task_id: str, body: ExtensionDecision,
                           runtime: Runtime = Depends(runtime_of),
                           caller: Principal = Depends(authorize)) -> TaskPublic:
    """The office grants (the deadline moves) or refuses (the old deadline stands) a request."""
    now = runtime.clock.now()
    async with runtime.unit_of_work() as session:
        task = await _locked(session, task_id)
        try:
            domain.check_extension_decision(pending=task.extension_due is not None)
        except ExtensionRefused as refused:
            raise HTTPException(409, str(refused)) from None
        previous_due, granted = task.due, body.decision == "grant"
        if granted:
            task.due = task.extension_due
        task.extension_due = task.extension_reason = None
        await _reschedule(session, task, now, activity=True)
        _note(session, task, f"extension_{body.decision}", caller, body.comment, now)
        runtime.emit(session, TaskExtensionDecided(
            task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
            granted=granted, previous_due=previous_due, due=task.due, actor=caller.subject,
            comment=body.comment,
        ), tenant=task.tenant)
        return await task_view(runtime, session, task)


@router.post("/tasks/{task_id}/urge", response_model=TaskPublic,
             responses={404: {"description": "no such task"},
                        409: {"description": "the task is closed or suspended"}})
async def urge(task_id: str, body: ActionRequest, runtime: Runtime = Depends(runtime_of),
               caller: Principal = Depends(authorize)) -> TaskPublic:
    """The office (or a leader: 领导督办) urges (催办) the unit by hand, with a comment; logged on
    the task."""
    now = runtime.clock.now()
    async with runtime.unit_of_work() as session:
        task = await _locked(session, task_id)
        if Status(task.status) not in CLOCK_RUNNING_STATUSES:
            raise HTTPException(409, f"cannot urge a task that is {task.status}")
        _note(session, task, "urge", caller, body.comment, now)
        runtime.emit(session, TaskReminded(
            task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
            due=task.due, kind="manual", scheduled_at=now, overdue=now >= task.due,
            actor=caller.subject, comment=body.comment,
        ), tenant=task.tenant)
        return await task_view(runtime, session, task)


@router.post("/tasks/{task_id}/dispatch", response_model=TaskPublic, status_code=201,
             responses={404: {"description": "no such task"},
                        409: {"description": "the task cannot be re-dispatched now"},
                        422: {"description": "a unit is not below the task's unit, or a bad deadline"}})
async def dispatch(task_id: str, body: DispatchRequest, runtime: Runtime = Depends(runtime_of),
                   caller: Principal = Depends(authorize)) -> TaskPublic:
    """The unit hands parts of its task to its own sub-units; the task's progress follows theirs."""
    now = runtime.clock.now()
    async with runtime.unit_of_work() as session:
        parent = await _locked(session, task_id)
        dues = [s.due or parent.due for s in body.sub_tasks]
        below = await store.units_below(session, parent.tenant, parent.lead_unit)
        try:
            domain.check_dispatch(status=parent.status, parent_due=parent.due, units_below=below,
                                  sub_units=[s.unit for s in body.sub_tasks], dues=dues, now=now)
        except domain.DispatchRefused as refused:
            code = 409 if Status(parent.status) not in (Status.SIGNED, Status.IN_PROGRESS) else 422
            raise HTTPException(code, str(refused)) from None
        calendar = await store.calendar(session)
        for spec, due in zip(body.sub_tasks, dues, strict=True):
            child = _sub_task(parent, spec, due, now, calendar)
            await store.add_task(session, child)
            runtime.emit(session, TaskDispatched(
                task_id=child.id, parent_task_id=parent.id, item_id=parent.item_id, title=child.title,
                lead_unit=child.lead_unit, dispatched_by=parent.lead_unit, due=due,
                actor=caller.subject, comment=body.comment,
            ), tenant=parent.tenant)
        _note(session, parent, "dispatch", caller,
              body.comment or ", ".join(s.unit for s in body.sub_tasks), now)
        return await task_view(runtime, session, parent)


def _sub_task(parent: TrackedTask, spec, due, now, calendar) -> TrackedTask:
    child = TrackedTask(**{
        **parent.model_dump(exclude={"id", "status", "suspended_from", "returns", "reverifications",
                                     "overdue_at", "extension_due", "extension_reason",
                                     "approaching_for", "stagnant_flagged"}),
        "id": domain.new_task_id(), "parent_task_id": parent.id, "lead_unit": spec.unit,
        "co_units": [], "title": spec.title or parent.title, "due": due, "due_working_days": None,
        "assigned_at": now, "last_activity_at": now,
    })
    child.next_reminder_at = domain.next_reminder_for(child, after=now, calendar=calendar)
    child.yellow_at = domain.yellow_at(assigned_at=now, due=due, calendar=calendar)
    child.stagnant_at = domain.stagnant_at(last_activity=now, calendar=calendar)
    return child


@router.post("/tasks/{task_id}/milestones/{position}/reach", response_model=TaskPublic,
             responses={404: {"description": "no such task or milestone"},
                        409: {"description": "already reached, or the task is not open"}})
async def reach_milestone(task_id: str, position: int, body: ActionRequest | None = None,
                          runtime: Runtime = Depends(runtime_of),
                          caller: Principal = Depends(authorize)) -> TaskPublic:
    """The unit reports a milestone (时间节点) reached."""
    body, now = body or ActionRequest(), runtime.clock.now()
    async with runtime.unit_of_work() as session:
        task = await _locked(session, task_id)
        milestone = next((m for m in await store.milestones(session, task_id) if m.position == position), None)
        if milestone is None:
            raise HTTPException(404, f"task {task_id} has no milestone {position}")
        if Status(task.status) not in CLOCK_RUNNING_STATUSES:
            raise HTTPException(409, f"the task is {task.status}")
        if not await store.reach_milestone(session, task_id, position, now):
            raise HTTPException(409, f"milestone {position} was reached already")
        await _reschedule(session, task, now, activity=True)
        _note(session, task, "milestone_reached", caller, body.comment or milestone.title, now)
        runtime.emit(session, TaskMilestoneReached(
            task_id=task.id, item_id=task.item_id, title=task.title, lead_unit=task.lead_unit,
            position=position, milestone=milestone.title, due=milestone.due, at=now,
            actor=caller.subject, comment=body.comment,
        ), tenant=task.tenant)
        return await task_view(runtime, session, task)
