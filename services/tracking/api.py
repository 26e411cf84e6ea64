"""tracking's HTTP routes."""

from fastapi import APIRouter, Depends, HTTPException

from services.tracking import domain, store
from services.tracking.models import TaskPublic
from shared.service import Runtime, runtime_of

router = APIRouter(tags=["tasks"])


@router.get("/tasks/{task_id}", response_model=TaskPublic)
async def get_task(task_id: str, runtime: Runtime = Depends(runtime_of)) -> TaskPublic:
    async with runtime.sessions() as session:
        task = await store.get_task(session, task_id)
    if task is None:
        raise HTTPException(404, f"no task {task_id}")
    overdue = domain.is_overdue(due=task.due, status=task.status, now=runtime.clock.now())
    return TaskPublic(**task.model_dump(), overdue=overdue)
