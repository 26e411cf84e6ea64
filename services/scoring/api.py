"""scoring's HTTP routes."""

from fastapi import APIRouter, Depends

from services.scoring import domain, store
from services.scoring.models import EntryPublic, ScorePublic
from shared.service import Runtime, runtime_of

router = APIRouter(tags=["scores"])


@router.get("/units/{unit}/score", response_model=ScorePublic)
async def unit_score(unit: str, runtime: Runtime = Depends(runtime_of)) -> ScorePublic:
    """A unit's counts and its point ledger, each entry naming the event that caused it."""
    async with runtime.sessions() as session:
        counts, entries = await store.unit_record(session, runtime.settings.tenant, unit)
    return ScorePublic(
        unit=unit,
        assigned=counts.assigned if counts else 0,
        overdue=counts.overdue if counts else 0,
        total=domain.total([e.points for e in entries]),
        entries=[EntryPublic.model_validate(e, from_attributes=True) for e in entries],
    )
