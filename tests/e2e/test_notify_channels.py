"""notify on real channels: a local SMTP server and loopback HTTP receivers standing in for the SMS
gateway, the WeCom / DingTalk / Feishu group robots and the OA's webhook. Signatures are checked by
recomputing them here, independently of Duban's code."""

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

import nats
import pytest

from tests.e2e.helpers import org_units, register, set_clock, wait_for_task
from tests.receivers import HttpReceiver, SmtpReceiver
from tests.support import ServiceStack, backends, wait_until

pytestmark = pytest.mark.e2e

BEIJING = ZoneInfo("Asia/Shanghai")
SECRET = {"dingtalk": "SEC-dingtalk-secret", "feishu": "feishu-secret", "oa": "oa-webhook-secret-0123456789"}


@pytest.fixture(scope="module")
def receivers():
    with SmtpReceiver() as smtp, HttpReceiver() as sms, HttpReceiver() as wecom, \
            HttpReceiver() as dingtalk, HttpReceiver() as feishu, HttpReceiver() as oa:
        yield SimpleNamespace(smtp=smtp, sms=sms, wecom=wecom, dingtalk=dingtalk, feishu=feishu, oa=oa)


@pytest.fixture(scope="module", params=backends())
def stack(request, tmp_path_factory, receivers):
    env = {
        "DUBAN_NOTIFY_SMTP_HOST": "127.0.0.1", "DUBAN_NOTIFY_SMTP_PORT": str(receivers.smtp.port),
        "DUBAN_NOTIFY_SMTP_SENDER": "督办系统 <duban@example.cn>",
        "DUBAN_NOTIFY_SMS_URL": f"{receivers.sms.url}/sms/send", "DUBAN_NOTIFY_SMS_TOKEN": "sms-token",
        "DUBAN_NOTIFY_RETRY_BASE_S": "0.3", "DUBAN_NOTIFY_RETRY_CAP_S": "1", "DUBAN_NOTIFY_MAX_ATTEMPTS": "3",
        "DUBAN_NOTIFY_DISPATCH_INTERVAL_S": "0.2", "DUBAN_NOTIFY_CHANNEL_TIMEOUT": "2",
        "DUBAN_NOTIFY_CONSOLE_URL": "http://console.example", "DUBAN_NOTIFY_DIGEST_WORKING_DAYS_AHEAD": "1",
    }
    running = ServiceStack(tmp_path_factory.mktemp(f"notify-{request.param}"), request.param, env)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def working_morning(stack, receivers):
    """Each test starts on a working day at 10:00 (no quiet hours), with quiet receivers."""
    for r in vars(receivers).values():
        r.clear()
        if hasattr(r, "recover"):
            r.recover()
    set_clock(stack, datetime(2026, 11, 18, 10, 0, tzinfo=BEIJING))  # a Wednesday
    yield
    set_clock(stack, datetime.now(UTC))


# ---- helpers ----------------------------------------------------------------------------------------

def person(stack: ServiceStack, unit_id: str | None, roles=("head",), **fields) -> dict:
    """A person registered in intake's people directory, once notify knows them."""
    body = {"person_id": f"P-{uuid.uuid4().hex[:8]}", "name": fields.pop("name", "张三"), "unit_id": unit_id,
            "roles": list(roles), **fields}
    created = stack.as_("admin", service="intake").post("/api/v1/people", json=body)
    assert created.status_code == 201, created.text
    admin = stack.as_("admin", service="notify")
    wait_until(lambda: admin.get(f"/api/v1/people/{body['person_id']}/preferences").status_code == 200,
               what="notify's copy of the person")
    return {"id": body["person_id"], **body}


def prefer(stack: ServiceStack, person_id: str, channels: list[str], language: str = "zh-CN") -> None:
    response = stack.as_("admin", service="notify").put(f"/api/v1/people/{person_id}/preferences",
                                                        json={"channels": channels, "language": language})
    assert response.status_code == 200, response.text


def robot(stack: ServiceStack, unit_id: str, channel: str, receiver: HttpReceiver) -> None:
    response = stack.as_("admin", service="notify").put(
        f"/api/v1/units/{unit_id}/robots/{channel}",
        json={"url": f"{receiver.url}/robot/send?access_token={unit_id}", "secret": SECRET.get(channel, "")})
    assert response.status_code == 200, response.text


def deliveries(stack: ServiceStack, **params) -> list[dict]:
    response = stack.notify.get("/api/v1/deliveries", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def delivery(stack: ServiceStack, channel: str, task_id: str, status: str | None = None) -> dict:
    """The (one) delivery on ``channel`` about ``task_id``, with its attempts, once it has ``status``."""
    def found():
        rows = [d for d in deliveries(stack, channel=channel) if d["task_id"] == task_id]
        assert len(rows) <= 1, rows
        if rows and (status is None or rows[0]["status"] == status):
            return stack.notify.get(f"/api/v1/deliveries/{rows[0]['id']}").json()
        return None
    return wait_until(found, timeout=30, what=f"the {channel} delivery{f' {status}' if status else ''}")


def unit_with_head(stack: ServiceStack, channels=("email", "sms"), **fields) -> tuple[str, dict]:
    """A new unit and its head (an address and a mobile of their own), on ``channels``."""
    unit_id = org_units(stack, {f"单位{uuid.uuid4().hex[:4]}": None}).popitem()[1]
    language = fields.pop("language", "zh-CN")
    head = person(stack, unit_id, email=fields.pop("email", f"head-{uuid.uuid4().hex[:6]}@example.cn"),
                  mobile=fields.pop("mobile", f"138{uuid.uuid4().int % 10**8:08d}"), **fields)
    prefer(stack, head["id"], list(channels), language)
    return unit_id, head


def mails_to(receivers, address: str, n: int = 1) -> list:
    return wait_until(lambda: len(m := [x for x in receivers.smtp.messages if address in x.rcpt_tos]) >= n and m,
                      what=f"{n} mail(s) to {address}")


def requests_for(receiver: HttpReceiver, n: int = 1, **match) -> list:
    """The requests whose query parameters (or, for the SMS gateway, ``to``) are ``match``."""
    def mine(r) -> bool:
        return all((r.param(k) if k != "to" else (r.json or {}).get("to")) == v for k, v in match.items())
    return wait_until(lambda: len(m := [r for r in receiver.requests if mine(r)]) >= n and m,
                      what=f"{n} request(s) with {match}")


def assign(stack: ServiceStack, unit_id: str) -> dict:
    item = register(stack, unit_id)
    return wait_for_task(stack, item["tasks"][0]["id"])


# ---- every channel, in its real format ----------------------------------------------------------

def test_an_assignment_reaches_the_head_by_mail_and_sms_and_the_units_robots_in_their_formats(stack, receivers):
    unit_id, head = unit_with_head(stack)
    for channel in ("wecom", "dingtalk", "feishu"):
        robot(stack, unit_id, channel, getattr(receivers, channel))
    task = assign(stack, unit_id)
    link = f"http://console.example/tasks/{task['id']}"

    [mail] = mails_to(receivers, head["email"])
    assert mail.message["Subject"] == "督办通知：落实安全生产专项整治"
    assert "已交办" in mail.message.get_content() and link in mail.message.get_content()

    [sms] = requests_for(receivers.sms, to=head["mobile"])
    assert sms.headers["Authorization"] == "Bearer sms-token" and "督办通知" in sms.json["text"]

    [wecom] = requests_for(receivers.wecom, access_token=unit_id)
    assert wecom.json["msgtype"] == "text" and wecom.json["text"]["mentioned_mobile_list"] == [head["mobile"]]
    assert "落实安全生产专项整治" in wecom.json["text"]["content"]

    [ding] = requests_for(receivers.dingtalk, access_token=unit_id)
    timestamp = ding.param("timestamp")
    expected = base64.b64encode(hmac.new(SECRET["dingtalk"].encode(), f"{timestamp}\n{SECRET['dingtalk']}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert ding.param("sign") == expected
    assert quote_plus(expected) in ding.raw_query  # sent URL-encoded, once
    assert ding.json["msgtype"] == "markdown" and ding.json["at"]["atMobiles"] == [head["mobile"]]
    assert link in ding.json["markdown"]["text"]

    [feishu] = requests_for(receivers.feishu, access_token=unit_id)
    body = feishu.json
    key = f"{body['timestamp']}\n{SECRET['feishu']}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    post = body["content"]["post"]["zh_cn"]
    assert body["msg_type"] == "post" and post["title"] == "督办通知：落实安全生产专项整治"
    assert link in json.dumps(post, ensure_ascii=False)

    for channel in ("email", "sms", "wecom", "dingtalk", "feishu"):
        sent = delivery(stack, channel, task["id"], status="sent")
        assert [a["ok"] for a in sent["history"]] == [True], channel
    inbox = stack.as_("unit_head", unit_id, service="notify").get(f"/api/v1/inbox/{head['id']}").json()
    assert [(n["kind"], n["task_id"], n["read"]) for n in inbox] == [("assigned", task["id"], False)]


def test_a_person_who_reads_english_gets_english_and_templates_are_the_administrators(stack, receivers):
    admin = stack.as_("admin", service="notify")
    unit_id, head = unit_with_head(stack, channels=["email"], language="en")
    assign(stack, unit_id)
    [mail] = mails_to(receivers, head["email"])
    assert mail.message["Subject"] == "Assigned: 落实安全生产专项整治"

    bad = admin.put("/api/v1/templates/assigned/en", json={"title": "{task_title.__class__}", "body": "{nope}"})
    assert bad.status_code == 422 and {e["loc"][1] for e in bad.json()["detail"]} == {"title", "body"}
    assert stack.notify.put("/api/v1/templates/assigned/en", json={"title": "x", "body": "y"}).status_code == 403
    changed = admin.put("/api/v1/templates/assigned/en",
                        json={"title": "New task {item_number}", "body": "Please do {task_title} by {deadline}."})
    assert changed.status_code == 200, changed.text
    task = assign(stack, unit_id)
    mails = mails_to(receivers, head["email"], 2)
    assert mails[1].message["Subject"] == f"New task {task['item_number']}"
    assert "Please do 落实安全生产专项整治 by " in mails[1].message.get_content()
    listed = {(t["kind"], t["language"]): t for t in stack.notify.get("/api/v1/templates").json()}
    assert listed[("assigned", "en")]["customised"] and not listed[("assigned", "zh-CN")]["customised"]
    assert admin.delete("/api/v1/templates/assigned/en").status_code == 204
    assert not {(t["kind"], t["language"]): t for t in stack.notify.get("/api/v1/templates").json()}[
        ("assigned", "en")]["customised"]


# ---- retries, dead letters, re-sending ------------------------------------------------------------

def test_a_receiver_that_fails_twice_then_succeeds_gets_exactly_one_delivery(stack, receivers):
    unit_id, head = unit_with_head(stack, channels=["sms"])
    receivers.sms.fail_next(2)
    task = assign(stack, unit_id)
    sent = delivery(stack, "sms", task["id"], status="sent")
    assert [a["ok"] for a in sent["history"]] == [False, False, True]
    assert "HTTP 500" in sent["history"][0]["error"]
    answered = [r.status for r in requests_for(receivers.sms, 3, to=head["mobile"])]
    assert answered == [500, 500, 200]  # one success, then nothing more


def test_a_receiver_that_always_fails_ends_dead_and_is_resent_once_it_recovers(stack, receivers):
    unit_id, _ = unit_with_head(stack, channels=[])
    robot(stack, unit_id, "wecom", receivers.wecom)
    receivers.wecom.always_fail(503)
    task = assign(stack, unit_id)
    dead = delivery(stack, "wecom", task["id"], status="dead")
    assert dead["attempts"] == 3 and [a["ok"] for a in dead["history"]] == [False] * 3
    assert dead["id"] in [d["id"] for d in deliveries(stack, status="dead")]
    head = stack.as_("unit_head", unit_id, service="notify")
    assert head.post(f"/api/v1/deliveries/{dead['id']}/resend").status_code == 403

    receivers.wecom.recover()
    resent = stack.notify.post(f"/api/v1/deliveries/{dead['id']}/resend")
    assert resent.status_code == 200 and resent.json()["status"] == "pending"
    sent = delivery(stack, "wecom", task["id"], status="sent")
    assert [a["ok"] for a in sent["history"]] == [False, False, False, True]
    assert [r.status for r in requests_for(receivers.wecom, 4, access_token=unit_id)] == [503, 503, 503, 200]
    assert stack.notify.post(f"/api/v1/deliveries/{dead['id']}/resend").status_code == 409


def test_a_slow_channel_does_not_hold_back_the_others(stack, receivers):
    unit_id, head = unit_with_head(stack, channels=["email"])
    robot(stack, unit_id, "feishu", receivers.feishu)
    receivers.feishu.delay(5)  # longer than the channel timeout (2 s)
    task = assign(stack, unit_id)
    mails_to(receivers, head["email"])
    assert delivery(stack, "feishu", task["id"])["attempts"] == 0  # the mail did not wait for it
    timed_out = wait_until(lambda: (d := delivery(stack, "feishu", task["id"]))["attempts"] and d, timeout=30,
                           what="the feishu attempt to time out")
    assert not timed_out["history"][0]["ok"] and "feishu" in timed_out["history"][0]["error"]


# ---- quiet hours, de-duplication, the digest -------------------------------------------------------

def test_quiet_hours_defer_an_sms_to_the_next_working_morning(stack, receivers):
    unit_id, head = unit_with_head(stack)
    # Friday 9 October 2026, 23:00: Saturday the 10th is a 调休 working day (after 国庆).
    set_clock(stack, datetime(2026, 10, 9, 23, 0, tzinfo=BEIJING))
    task = assign(stack, unit_id)
    mails_to(receivers, head["email"])  # e-mail is not held back at night
    waiting = delivery(stack, "sms", task["id"])
    assert (waiting["status"], waiting["deferred_reason"]) == ("pending", "quiet hours")
    assert datetime.fromisoformat(waiting["next_attempt_at"]) == datetime(2026, 10, 10, 8, 0, tzinfo=BEIJING)
    assert not [r for r in receivers.sms.requests if r.json["to"] == head["mobile"]]
    set_clock(stack, datetime(2026, 10, 10, 8, 0, 30, tzinfo=BEIJING))
    [sms] = requests_for(receivers.sms, to=head["mobile"])
    assert "督办通知" in sms.json["text"]


def test_one_reminder_per_task_per_recipient_per_firing(stack, receivers):
    unit_id, head = unit_with_head(stack, channels=["email"])
    task = assign(stack, unit_id)
    mails_to(receivers, head["email"])

    def urge(comment: str) -> None:
        urged = stack.tracking.post(f"/api/v1/tasks/{task['id']}/urge", json={"comment": comment})
        assert urged.status_code == 200, urged.text

    for comment in ("请于本周内报结", "再次催办"):
        urge(comment)
    mails = mails_to(receivers, head["email"], 3)
    assert [m.message["Subject"] for m in mails[1:]] == ["催办：落实安全生产专项整治"] * 2
    reminders = [d for d in deliveries(stack, channel="email") if d["kind"] == "reminder"
                 and d["task_id"] == task["id"]]
    assert len(reminders) == 2 and len({d["cause_event_id"] for d in reminders}) == 2

    first = reminders[-1]["cause_event_id"]
    _republish(stack, "duban.tracking.task.reminded.v1", first)  # the same firing again (a retry)
    urge("第三次催办")  # behind it on the stream: once this one is mailed, the copy was handled
    mails_to(receivers, head["email"], 4)
    assert [d["id"] for d in deliveries(stack, channel="email", cause=first)] == [reminders[-1]["id"]]
    assert len([m for m in receivers.smtp.messages if head["email"] in m.rcpt_tos]) == 4


def _republish(stack: ServiceStack, event_type: str, event_id: str) -> None:
    from tests.support import stream_messages

    async def again() -> None:
        nc = await nats.connect(stack.nats.url)
        try:
            js = nc.jetstream()
            [original] = [m for m in await stream_messages(js, event_type, "DUBAN_TRACKING", limit=10_000)
                          if json.loads(m.data)["id"] == event_id]
            await js.publish(event_type, original.data, headers={"Nats-Msg-Id": uuid.uuid4().hex})
        finally:
            await nc.close()
    asyncio.run(again())


def test_the_daily_digest_tells_each_unit_head_once_what_is_late_and_due(stack, receivers):
    set_clock(stack, datetime(2026, 11, 18, 7, 0, tzinfo=BEIJING))  # before the day's digest
    address = f"digest-{uuid.uuid4().hex[:6]}@example.cn"
    unit_id, head = unit_with_head(stack, channels=["email"], email=address)
    tasks = [register(stack, unit_id, due=datetime(2026, 11, day, 17, 30, tzinfo=BEIJING))["tasks"][0]
             for day in (24, 25, 27)]  # on the 25th: late, due that day, and not within a working day
    for t in tasks:
        wait_for_task(stack, t["id"])

    def digests() -> list:
        return [m for m in receivers.smtp.messages
                if address in m.rcpt_tos and m.message["Subject"].startswith("督办日报")]
    set_clock(stack, datetime(2026, 11, 25, 8, 31, tzinfo=BEIJING))  # Wednesday, past 08:30
    [digest] = wait_until(digests, timeout=60, what="the digest")
    assert digest.message["Subject"] == "督办日报 2026-11-25：1 项逾期，1 项临期"
    text = digest.message.get_content()
    assert text.index("【逾期】") < text.index("【临期】") and text.count("落实安全生产专项整治") == 2
    set_clock(stack, datetime(2026, 11, 25, 9, 0, tzinfo=BEIJING))  # later the same day: no second one
    marker = register(stack, unit_id)["tasks"][0]  # something to wait for behind it
    wait_until(lambda: [m for m in receivers.smtp.messages if address in m.rcpt_tos and
                        marker["id"] in m.message.get_content()], what="the marker's mail")
    assert [m.message["Subject"] for m in digests()] == [digest.message["Subject"]]
    for t in [*tasks, marker]:  # done with them: no digest for them in the tests that follow
        assert stack.tracking.post(f"/api/v1/tasks/{t['id']}/cancel", json={"comment": "测试结束"}).status_code == 200


# ---- the OA webhook: every event, signed -----------------------------------------------------------

def test_every_event_is_pushed_to_the_oas_webhook_signed_over_the_cloudevent(stack, receivers):
    from shared.signing import verify
    admin = stack.as_("admin", service="notify")
    assert admin.put("/api/v1/oa-webhook", json={"url": f"{receivers.oa.url}/duban/events", "secret": "short"}
                     ).status_code == 422
    hooked = admin.put("/api/v1/oa-webhook", json={"url": f"{receivers.oa.url}/duban/events",
                                                   "secret": SECRET["oa"], "types": ["duban.intake."]})
    assert hooked.status_code == 200 and "secret" not in hooked.json()
    unit_id, _ = unit_with_head(stack, channels=[])
    item = register(stack, unit_id)

    def about(item_id: str) -> list:
        return [r for r in receivers.oa.requests if json.loads(r.body)["data"].get("item_id") == item_id]
    pushed = wait_until(lambda: len(found := about(item["id"])) == 2 and found, what="the item's events")
    bodies = sorted((json.loads(r.body) for r in pushed), key=lambda b: b["time"])  # sent side by side
    assert [b["type"] for b in bodies] == ["duban.intake.item.registered.v1", "duban.intake.task.assigned.v1"]
    assert bodies[0]["tenant"] == "default" and bodies[0]["id"] == bodies[0]["id"].strip()
    for r in pushed:
        timestamp, signature = r.headers["X-Duban-Timestamp"], r.headers["X-Duban-Signature"]
        mine = hmac.new(SECRET["oa"].encode(), f"{timestamp}.".encode() + r.body, hashlib.sha256).hexdigest()
        assert signature == f"sha256={mine}"
        assert verify(SECRET["oa"], timestamp, r.body, signature, now=int(timestamp))
        assert r.headers["Content-Type"].startswith("application/cloudevents+json")
    wait_for_task(stack, item["tasks"][0]["id"])
    stack.tracking.post(f"/api/v1/tasks/{item['tasks'][0]['id']}/urge", json={})
    later = register(stack, unit_id)  # tracking's reminder is not of the types asked for; this is
    wait_until(lambda: about(later["id"]), what="the later item's events")
    assert not [r for r in receivers.oa.requests if json.loads(r.body)["type"].startswith("duban.tracking.")]
    assert admin.delete("/api/v1/oa-webhook").status_code == 204


# ---- inboxes, and who may do what --------------------------------------------------------------------

def test_inboxes_have_read_and_unread_per_unit_and_per_person(stack, receivers):
    unit_id, head = unit_with_head(stack, channels=[])
    other, _ = unit_with_head(stack, channels=[])
    for _ in range(2):
        assign(stack, unit_id)
    mine = stack.as_("unit_head", unit_id, service="notify")
    for recipient in (unit_id, head["id"]):
        notices = wait_until(lambda: len(n := mine.get(f"/api/v1/inbox/{recipient}").json()) == 2 and n,
                             what="two notices")
        marked = mine.post(f"/api/v1/inbox/{recipient}/read", json={"ids": [notices[0]["id"]]})
        assert marked.json() == {"marked": 1}
        assert [n["id"] for n in mine.get(f"/api/v1/inbox/{recipient}", params={"unread": "true"}).json()] == [
            notices[1]["id"]]
        assert mine.post(f"/api/v1/inbox/{recipient}/read", json={}).json() == {"marked": 1}
    outsider = stack.as_("unit_head", other, service="notify")
    assert outsider.get(f"/api/v1/inbox/{head['id']}").status_code == 404
    assert outsider.post(f"/api/v1/inbox/{unit_id}/read", json={}).status_code == 404
    for path in ("/api/v1/deliveries", "/api/v1/templates", "/api/v1/robots"):
        assert mine.get(path).status_code == 403, path
    office = stack.notify
    assert office.put(f"/api/v1/units/{unit_id}/robots/wecom", json={"url": "http://x"}).status_code == 403
    assert office.put(f"/api/v1/people/{head['id']}/preferences", json={"channels": []}).status_code == 403
    admin = stack.as_("admin", service="notify")
    assert admin.put(f"/api/v1/people/{head['id']}/preferences", json={"channels": ["fax"]}).status_code == 422
    assert admin.put("/api/v1/people/nobody/preferences", json={"channels": []}).status_code == 404
    assert admin.put(f"/api/v1/units/{unit_id}/robots/telegram", json={"url": "http://x"}).status_code == 422
    listed = admin.get("/api/v1/robots", params={"unit": unit_id}).json()
    assert listed == []


def test_an_overdue_task_also_reaches_the_items_supervising_leader_and_supervisor(stack, receivers):
    unit_id, head = unit_with_head(stack, channels=["email"])
    leader = person(stack, None, roles=("leader",), name="王副市长", email=f"leader-{uuid.uuid4().hex[:6]}@example.cn")
    supervisor = person(stack, None, roles=("supervisor",), name=f"督查员{uuid.uuid4().hex[:4]}",
                        email=f"sup-{uuid.uuid4().hex[:6]}@example.cn")
    item = stack.intake.post("/api/v1/items", json={
        "title": "城区积水点整治", "source": {"kind": "leader_instruction", "ref": "批示〔2026〕8号"},
        "supervising_leader": leader["id"], "supervisor": supervisor["name"],
        "tasks": [{"lead_unit": unit_id, "due": datetime(2026, 11, 18, 12, 0, tzinfo=BEIJING).isoformat()}]}).json()
    wait_for_task(stack, item["tasks"][0]["id"])
    set_clock(stack, datetime(2026, 11, 18, 13, 0, tzinfo=BEIJING))
    for who in (head, leader, supervisor):
        [mail] = wait_until(lambda w=who: [m for m in receivers.smtp.messages if w["email"] in m.rcpt_tos
                                           and m.message["Subject"].startswith("逾期提醒")], what="the overdue mail")
        assert mail.message["Subject"] == "逾期提醒：城区积水点整治"
    assigned = [m for m in receivers.smtp.messages if leader["email"] in m.rcpt_tos
                and m.message["Subject"].startswith("督办通知")]
    assert assigned == []  # the assignment itself goes to the unit's people only
