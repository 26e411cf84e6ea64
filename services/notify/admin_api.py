"""The administrator's routes: notice templates, people's channel preferences, units' group
robots and the OA webhook. Secrets and robot URLs (which carry access tokens) are never shown."""

import httpx
from fastapi import APIRouter, Depends, HTTPException, Path, Response

from services.notify import domain, store, templates
from services.notify.models import (
    OaWebhook, OaWebhookBody, OaWebhookPublic, PersonCopy, Preference, PreferenceBody, PreferencePublic,
    RobotBody, RobotPublic, Template, TemplateBody, TemplatePublic, UnitRobot,
)
from shared.access import authorize
from shared.auth import Principal
from shared.service import Runtime, runtime_of

router = APIRouter(tags=["notification settings"])
Kind = Path(pattern="^(" + "|".join(templates.KINDS) + ")$")
Language = Path(pattern="^(" + "|".join(templates.LANGUAGES) + ")$")
RobotChannel = Path(pattern="^(" + "|".join(domain.ROBOT_CHANNELS) + ")$")


@router.get("/templates", response_model=list[TemplatePublic])
async def list_templates(caller: Principal = Depends(authorize),
                         runtime: Runtime = Depends(runtime_of)) -> list[TemplatePublic]:
    """Every kind of notice in every language: the tenant's wording, else Duban's default."""
    async with runtime.sessions() as session:
        custom = await store.templates(session, caller.tenant)
    out = []
    for (kind, language), (title, body) in templates.DEFAULTS.items():
        mine = custom.get((kind, language))
        out.append(TemplatePublic(kind=kind, language=language, title=mine.title if mine else title,
                                  body=mine.body if mine else body, customised=mine is not None))
    return out


@router.put("/templates/{kind}/{language}", response_model=TemplatePublic,
            responses={422: {"description": "an unknown placeholder or bad braces"}})
async def put_template(body: TemplateBody, kind: str = Kind, language: str = Language,
                       caller: Principal = Depends(authorize),
                       runtime: Runtime = Depends(runtime_of)) -> TemplatePublic:
    """Reword one kind of notice in one language; placeholders are checked against the fields."""
    errors = [{"loc": ["body", field], "msg": problem}
              for field in ("title", "body") for problem in templates.problems(getattr(body, field))]
    if errors:
        raise HTTPException(422, errors)
    async with runtime.unit_of_work() as session:
        await session.merge(Template(tenant=caller.tenant, kind=kind, language=language, title=body.title,
                                     body=body.body, updated_by=caller.subject, updated_at=runtime.clock.now()))
    return TemplatePublic(kind=kind, language=language, title=body.title, body=body.body, customised=True)


@router.delete("/templates/{kind}/{language}", status_code=204)
async def reset_template(kind: str = Kind, language: str = Language, caller: Principal = Depends(authorize),
                         runtime: Runtime = Depends(runtime_of)) -> Response:
    """Back to Duban's default wording."""
    async with runtime.unit_of_work() as session:
        if found := await session.get(Template, (caller.tenant, kind, language)):
            await session.delete(found)
    return Response(status_code=204)


@router.get("/people/{person_id}/preferences", response_model=PreferencePublic)
async def get_preferences(person_id: str, caller: Principal = Depends(authorize),
                          runtime: Runtime = Depends(runtime_of)) -> PreferencePublic:
    async with runtime.sessions() as session:
        await _person(session, caller.tenant, person_id)
        found = await session.get(Preference, (caller.tenant, person_id))
    if found is None:
        return PreferencePublic(person_id=person_id, channels=list(domain.DEFAULT_CHANNELS), default=True)
    return PreferencePublic(person_id=person_id, channels=found.channels, language=found.language, default=False)


@router.put("/people/{person_id}/preferences", response_model=PreferencePublic)
async def put_preferences(person_id: str, body: PreferenceBody, caller: Principal = Depends(authorize),
                          runtime: Runtime = Depends(runtime_of)) -> PreferencePublic:
    """The person's channels besides the in-app inbox (e-mail, SMS) and language."""
    async with runtime.unit_of_work() as session:
        await _person(session, caller.tenant, person_id)
        await session.merge(Preference(tenant=caller.tenant, person_id=person_id,
                                       channels=list(dict.fromkeys(body.channels)), language=body.language))
    return PreferencePublic(person_id=person_id, channels=list(dict.fromkeys(body.channels)),
                            language=body.language, default=False)


async def _person(session, tenant: str, person_id: str) -> PersonCopy:
    found = await session.get(PersonCopy, (tenant, person_id))
    if found is None:
        raise HTTPException(404, f"no person {person_id} (people come from intake)")
    return found


def _robot(r: UnitRobot) -> RobotPublic:
    return RobotPublic(unit=r.unit_id, channel=r.channel, host=httpx.URL(r.url).host, signed=bool(r.secret))


@router.get("/robots", response_model=list[RobotPublic])
async def list_robots(unit: str | None = None, caller: Principal = Depends(authorize),
                      runtime: Runtime = Depends(runtime_of)) -> list[RobotPublic]:
    async with runtime.sessions() as session:
        found = await store.all_robots(session, caller.tenant, unit)
    return [_robot(r) for r in found]


@router.put("/units/{unit}/robots/{channel}", response_model=RobotPublic)
async def put_robot(unit: str, body: RobotBody, channel: str = RobotChannel, caller: Principal = Depends(authorize),
                    runtime: Runtime = Depends(runtime_of)) -> RobotPublic:
    """The unit's group robot on WeCom, DingTalk or Feishu: its webhook URL and signing secret."""
    robot = UnitRobot(tenant=caller.tenant, unit_id=unit, channel=channel, url=body.url, secret=body.secret)
    async with runtime.unit_of_work() as session:
        await session.merge(robot)
    return _robot(robot)


@router.delete("/units/{unit}/robots/{channel}", status_code=204)
async def delete_robot(unit: str, channel: str = RobotChannel, caller: Principal = Depends(authorize),
                       runtime: Runtime = Depends(runtime_of)) -> Response:
    async with runtime.unit_of_work() as session:
        if found := await session.get(UnitRobot, (caller.tenant, unit, channel)):
            await session.delete(found)
    return Response(status_code=204)


@router.get("/oa-webhook", response_model=OaWebhookPublic)
async def get_oa_webhook(caller: Principal = Depends(authorize),
                         runtime: Runtime = Depends(runtime_of)) -> OaWebhookPublic:
    async with runtime.sessions() as session:
        found = await store.oa_webhook(session, caller.tenant)
    if found is None:
        raise HTTPException(404, "no OA webhook is configured")
    return OaWebhookPublic(url=found.url, types=found.types)


@router.put("/oa-webhook", response_model=OaWebhookPublic)
async def put_oa_webhook(body: OaWebhookBody, caller: Principal = Depends(authorize),
                         runtime: Runtime = Depends(runtime_of)) -> OaWebhookPublic:
    """Push every Duban event of the tenant (or those whose type starts with one of ``types``) to
    the OA, signed with HMAC-SHA256 over the timestamp and the CloudEvent (README: OA integration)."""
    async with runtime.unit_of_work() as session:
        await session.merge(OaWebhook(tenant=caller.tenant, url=body.url, secret=body.secret, types=body.types))
    return OaWebhookPublic(url=body.url, types=body.types)


@router.delete("/oa-webhook", status_code=204)
async def delete_oa_webhook(caller: Principal = Depends(authorize),
                            runtime: Runtime = Depends(runtime_of)) -> Response:
    async with runtime.unit_of_work() as session:
        if found := await store.oa_webhook(session, caller.tenant):
            await session.delete(found)
    return Response(status_code=204)
