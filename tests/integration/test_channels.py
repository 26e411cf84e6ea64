"""notify's channels against real receivers (tests/receivers.py): an SMTP server and HTTP servers
standing in for the SMS gateway, the three group robots and the OA webhook. Nothing of the transport
is mocked; signatures are checked by recomputing them here, independently of the code under test.
"""

import base64
import hashlib
import hmac
import json
import time
from email.utils import parsedate_to_datetime

import pytest
from pydantic import ValidationError

from services.notify.channels import (
    ChannelSettings,
    DeliveryError,
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    Outgoing,
    SmsChannel,
    WebhookChannel,
    WeComChannel,
    build_channels,
)
from services.notify.channels.sms import MAX_TEXT, sms_text
from shared.signing import sign, verify
from tests.receivers import HttpReceiver, SmtpReceiver
from tests.support import free_port

TITLE = "督办通知：关于推进老旧小区改造的督办事项"
BODY = "贵单位承办的督办事项「老旧小区改造」已交办，办结时限 2025-07-01 18:00，请及时签收办理。"
LINK = "https://duban.example.gov.cn/tasks/T-2025-0042"
MOBILES = ("13800138000", "13900139000")
TIMEOUT = 2.0

# SmtpReceiver(credentials=...) allows AUTH without TLS (loopback only); aiosmtpd warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


@pytest.fixture
def http():
    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp():
    with SmtpReceiver() as receiver:
        yield receiver


def settings(**overrides) -> ChannelSettings:
    return ChannelSettings(channel_timeout=TIMEOUT, **overrides)


def outgoing(channel: str, address: str, **fields) -> Outgoing:
    return Outgoing(channel=channel, address=address, title=TITLE, body=BODY, link=LINK, **fields)


def smtp_settings(receiver: SmtpReceiver, **overrides) -> ChannelSettings:
    return settings(smtp_host=receiver.host, smtp_port=receiver.port,
                    smtp_sender="督办系统 <duban@example.gov.cn>", **overrides)


async def failure(channel, out: Outgoing) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await channel.send(out)
    return caught.value


# ---- e-mail ---------------------------------------------------------------------------------------


async def test_email_with_a_chinese_subject_arrives_decoded(smtp):
    channel = EmailChannel(smtp_settings(smtp))
    await channel.send(outgoing("email", "office@example.gov.cn", key="dlv-0001"))

    [mail] = await smtp.await_for(1)
    message = mail.message
    assert mail.mail_from == "duban@example.gov.cn"
    assert mail.rcpt_tos == ["office@example.gov.cn"]
    assert message["Subject"] == TITLE
    assert b"=?utf-8?" in mail.raw.lower()  # RFC 2047 on the wire, not raw UTF-8 in a header
    assert message["From"].addresses[0].display_name == "督办系统"
    assert message["To"] == "office@example.gov.cn"
    assert message["Message-ID"] == "<dlv-0001@example.gov.cn>"
    assert abs(parsedate_to_datetime(message["Date"]).timestamp() - time.time()) < 60
    assert message.get_content_type() == "text/plain"
    text = message.get_content()
    assert BODY in text and LINK in text


async def test_email_logs_in_and_a_wrong_password_is_not_retried():
    with SmtpReceiver(credentials=("duban", "s3cret")) as server:
        await EmailChannel(smtp_settings(server, smtp_username="duban", smtp_password="s3cret")).send(
            outgoing("email", "office@example.gov.cn"))
        assert len(await server.await_for(1)) == 1

        wrong = EmailChannel(smtp_settings(server, smtp_username="duban", smtp_password="nope"))
        error = await failure(wrong, outgoing("email", "office@example.gov.cn"))
        assert error.retryable is False
        assert "535" in str(error)


async def test_email_transient_refusal_is_retryable_and_permanent_is_not(smtp):
    channel = EmailChannel(smtp_settings(smtp))
    smtp.fail_next(1, "451 4.3.0 mailbox busy")
    error = await failure(channel, outgoing("email", "office@example.gov.cn"))
    assert error.retryable is True and "451" in str(error)

    smtp.fail_next(1, "550 5.1.1 no such user")
    error = await failure(channel, outgoing("email", "office@example.gov.cn"))
    assert error.retryable is False and "550" in str(error)

    await channel.send(outgoing("email", "office@example.gov.cn"))  # the server took it this time
    assert len(await smtp.await_for(1)) == 1


async def test_email_with_the_smtp_server_down_is_retryable():
    down = settings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_sender="duban@example.gov.cn")
    error = await failure(EmailChannel(down), outgoing("email", "office@example.gov.cn"))
    assert error.retryable is True


async def test_email_to_something_not_an_address_is_not_retried(smtp):
    error = await failure(EmailChannel(smtp_settings(smtp)), outgoing("email", "13800138000"))
    assert error.retryable is False


# ---- SMS ------------------------------------------------------------------------------------------


async def test_sms_gateway_gets_json_with_the_bearer_token(http):
    channel = SmsChannel(settings(sms_url=f"{http.url}/sms/send", sms_token="tok-123", sms_sign="督办系统"))
    await channel.send(outgoing("sms", "13800138000", key="dlv-7"))

    [request] = http.requests
    assert (request.method, request.path) == ("POST", "/sms/send")
    assert request.headers["authorization"] == "Bearer tok-123"
    assert request.headers["x-duban-delivery"] == "dlv-7"
    assert request.json == {"to": "13800138000", "text": f"{TITLE}\n{BODY} {LINK}", "sign": "督办系统"}


def test_sms_text_is_cut_in_the_body_and_keeps_the_link():
    long = Outgoing(channel="sms", address="13800138000", title=TITLE, body=BODY * 20, link=LINK)
    text = sms_text(long)
    assert len(text) == MAX_TEXT
    assert text.endswith(f"… {LINK}")
    assert text.startswith(TITLE)


async def test_sms_without_a_token_sends_no_authorization(http):
    await SmsChannel(settings(sms_url=http.url)).send(outgoing("sms", "+86 138 0013 8000"))
    [request] = http.requests
    assert "authorization" not in request.headers


# ---- WeCom ----------------------------------------------------------------------------------------


async def test_wecom_gets_markdown(http):
    await WeComChannel(TIMEOUT).send(outgoing("wecom", f"{http.url}/cgi-bin/webhook/send?key=k-1"))
    [request] = http.requests
    assert request.param("key") == "k-1"
    assert request.json["msgtype"] == "markdown"
    content = request.json["markdown"]["content"]
    assert content.startswith(f"**{TITLE}**") and BODY in content and f"]({LINK})" in content


async def test_wecom_mentions_go_as_text_with_mentioned_mobiles(http):
    await WeComChannel(TIMEOUT).send(outgoing("wecom", f"{http.url}/send?key=k", mentions=MOBILES))
    [request] = http.requests
    assert request.json["msgtype"] == "text"
    assert request.json["text"]["mentioned_mobile_list"] == list(MOBILES)
    assert BODY in request.json["text"]["content"] and LINK in request.json["text"]["content"]


async def test_wecom_error_code_fails_the_delivery(http):
    http.respond({"errcode": 93000, "errmsg": "invalid webhook url"})
    error = await failure(WeComChannel(TIMEOUT), outgoing("wecom", f"{http.url}/send?key=gone"))
    assert error.retryable is False and "invalid webhook url" in str(error)

    http.respond({"errcode": 45009, "errmsg": "api freq out of limit"})
    assert (await failure(WeComChannel(TIMEOUT), outgoing("wecom", f"{http.url}/send?key=k"))).retryable


# ---- DingTalk -------------------------------------------------------------------------------------


def dingtalk_expected_sign(secret: str, timestamp: str) -> str:
    """The sign as DingTalk's documentation computes it (before URL-encoding)."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


async def test_dingtalk_request_is_signed_and_ats_the_mobiles(http):
    secret = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
    before = int(time.time() * 1000)
    await DingTalkChannel(TIMEOUT).send(
        outgoing("dingtalk", f"{http.url}/robot/send?access_token=tok", secret=secret, mentions=MOBILES))

    [request] = http.requests
    assert request.param("access_token") == "tok"
    timestamp, sign_value = request.param("timestamp"), request.param("sign")
    assert before - 1000 <= int(timestamp) <= int(time.time() * 1000)
    assert sign_value == dingtalk_expected_sign(secret, timestamp)
    assert sign_value != dingtalk_expected_sign(secret + "x", timestamp)  # a wrong secret shows
    assert "+" not in request.raw_query.split("sign=")[1]  # URL-encoded once ("+" would read as " ")

    body = request.json
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == TITLE
    assert BODY in body["markdown"]["text"] and f"]({LINK})" in body["markdown"]["text"]
    assert body["at"] == {"atMobiles": list(MOBILES), "isAtAll": False}
    assert all(f"@{mobile}" in body["markdown"]["text"] for mobile in MOBILES)


async def test_dingtalk_without_a_secret_is_not_signed(http):
    await DingTalkChannel(TIMEOUT).send(outgoing("dingtalk", f"{http.url}/robot/send?access_token=t"))
    [request] = http.requests
    assert set(request.query) == {"access_token"}


async def test_dingtalk_sign_not_match_is_an_error_naming_errmsg(http):
    http.respond({"errcode": 310000, "errmsg": "sign not match"})
    error = await failure(DingTalkChannel(TIMEOUT),
                          outgoing("dingtalk", f"{http.url}/robot/send?access_token=t", secret="SECx"))
    assert "sign not match" in str(error) and "310000" in str(error)
    assert error.retryable is False

    http.respond({"errcode": 130101, "errmsg": "send too fast"})
    error = await failure(DingTalkChannel(TIMEOUT), outgoing("dingtalk", f"{http.url}/robot/send"))
    assert error.retryable is True


async def test_a_robot_answer_that_is_not_json_is_not_retried(http):
    http.respond("<html>portal</html>", content_type="text/html")
    error = await failure(DingTalkChannel(TIMEOUT), outgoing("dingtalk", f"{http.url}/robot/send"))
    assert error.retryable is False


# ---- Feishu ---------------------------------------------------------------------------------------


async def test_feishu_post_is_signed_and_carries_the_link(http):
    secret = "feishu-secret-9f8e7d"
    await FeishuChannel(TIMEOUT).send(outgoing("feishu", f"{http.url}/open-apis/bot/v2/hook/h-1",
                                               secret=secret, mentions=("ou_a1", "ou_b2")))
    [request] = http.requests
    body = request.json
    timestamp = body["timestamp"]
    assert isinstance(timestamp, str) and abs(int(timestamp) - time.time()) < 5
    # Feishu keys the HMAC with "timestamp\nsecret" and signs the empty string.
    key = f"{timestamp}\n{secret}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    wrong = f"{timestamp}\nother".encode()
    assert body["sign"] != base64.b64encode(hmac.new(wrong, b"", hashlib.sha256).digest()).decode()

    assert body["msg_type"] == "post"
    post = body["content"]["post"]["zh_cn"]
    assert post["title"] == TITLE
    elements = [element for row in post["content"] for element in row]
    assert {"tag": "text", "text": BODY} in elements
    assert {"tag": "a", "text": "查看详情", "href": LINK} in elements
    assert [e["user_id"] for e in elements if e["tag"] == "at"] == ["ou_a1", "ou_b2"]


async def test_feishu_without_secret_has_no_sign_and_code_is_checked(http):
    await FeishuChannel(TIMEOUT).send(outgoing("feishu", f"{http.url}/hook/h"))
    [request] = http.requests
    assert "sign" not in request.json and "timestamp" not in request.json

    http.respond({"code": 19021, "msg": "sign match fail or timestamp is not within one hour"})
    error = await failure(FeishuChannel(TIMEOUT), outgoing("feishu", f"{http.url}/hook/h", secret="s"))
    assert error.retryable is False and "sign match fail" in str(error)


# ---- the OA webhook -------------------------------------------------------------------------------

CLOUDEVENT = json.dumps({
    "specversion": "1.0", "id": "evt-1", "source": "duban/notify", "type": "duban.task.assigned",
    "datacontenttype": "application/json", "data": {"title": TITLE, "link": LINK},
}, ensure_ascii=False, separators=(",", ":")).encode()


async def test_webhook_sends_the_cloudevent_byte_for_byte_and_signed(http):
    secret = "oa-shared-secret"
    await WebhookChannel(TIMEOUT).send(
        outgoing("webhook", f"{http.url}/oa/hook", secret=secret, cloudevent=CLOUDEVENT, key="dlv-42"))

    [request] = http.requests
    assert request.body == CLOUDEVENT
    assert request.headers["content-type"] == "application/cloudevents+json; charset=utf-8"
    assert request.headers["x-duban-delivery"] == "dlv-42"
    timestamp, signature = request.headers["x-duban-timestamp"], request.headers["x-duban-signature"]
    assert abs(int(timestamp) - time.time()) < 5
    assert verify(secret, timestamp, request.body, signature, now=time.time())
    recomputed = hmac.new(secret.encode(), timestamp.encode() + b"." + CLOUDEVENT, hashlib.sha256)
    assert signature == "sha256=" + recomputed.hexdigest()


def test_verify_rejects_wrong_secret_changed_body_and_stale_timestamp():
    now = 1_750_000_000
    signature = sign("secret", now, CLOUDEVENT)
    assert verify("secret", now, CLOUDEVENT, signature, now=now)
    assert verify("secret", str(now), CLOUDEVENT, signature, now=now + 299)
    assert not verify("other", now, CLOUDEVENT, signature, now=now)
    assert not verify("secret", now, CLOUDEVENT + b" ", signature, now=now)
    assert not verify("secret", now, CLOUDEVENT, signature, now=now + 301)  # stale (a replay)
    assert not verify("secret", now, CLOUDEVENT, signature, now=now - 301)  # from the future
    assert not verify("secret", now + 1, CLOUDEVENT, signature, now=now)    # timestamp is signed
    assert not verify("secret", "not-a-number", CLOUDEVENT, signature, now=now)
    assert not verify("secret", now, CLOUDEVENT, None, now=now)
    assert not verify("secret", now, CLOUDEVENT, signature.removeprefix("sha256="), now=now)
    assert not verify("", now, CLOUDEVENT, signature, now=now)
    with pytest.raises(ValueError):
        sign("", now, CLOUDEVENT)


async def test_webhook_without_a_cloudevent_or_with_a_bad_url_is_not_retried(http):
    error = await failure(WebhookChannel(TIMEOUT), outgoing("webhook", f"{http.url}/oa/hook"))
    assert error.retryable is False
    error = await failure(WebhookChannel(TIMEOUT), outgoing("webhook", "ftp://oa/hook", cloudevent=b"{}"))
    assert error.retryable is False
    assert http.requests == []


# ---- error mapping (HTTP) -------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "retryable"), [
    (500, True), (502, True), (503, True), (429, True), (408, True),
    (400, False), (401, False), (403, False), (404, False),
])
async def test_http_status_maps_to_retryable(http, status, retryable):
    http.always_fail(status)
    error = await failure(WebhookChannel(TIMEOUT),
                          outgoing("webhook", f"{http.url}/oa/hook", cloudevent=CLOUDEVENT))
    assert error.retryable is retryable
    assert str(status) in str(error)


async def test_a_failing_receiver_that_recovers_gets_the_message(http):
    channel = DingTalkChannel(TIMEOUT)
    out = outgoing("dingtalk", f"{http.url}/robot/send?access_token=t")
    http.fail_next(2, status=502)
    for _ in range(2):
        assert (await failure(channel, out)).retryable is True
    await channel.send(out)
    assert [r.status for r in http.requests] == [502, 502, 200]


async def test_a_receiver_slower_than_the_timeout_is_retryable_within_the_timeout(http):
    http.delay(TIMEOUT + 5)
    started = time.monotonic()
    error = await failure(WebhookChannel(0.5), outgoing("webhook", f"{http.url}/oa", cloudevent=CLOUDEVENT))
    elapsed = time.monotonic() - started
    assert error.retryable is True
    assert 0.4 < elapsed < 1.5
    assert "0.5s" in str(error)


async def test_nothing_listening_is_retryable():
    address = f"http://127.0.0.1:{free_port()}/robot/send?access_token=secret-token"
    error = await failure(DingTalkChannel(TIMEOUT), outgoing("dingtalk", address))
    assert error.retryable is True
    assert "secret-token" not in str(error)  # robot URLs carry credentials: only the host is named


# ---- configuration --------------------------------------------------------------------------------


def test_build_channels_leaves_out_unconfigured_channels(monkeypatch):
    for name in ("SMTP_HOST", "SMTP_SENDER", "SMS_URL"):
        monkeypatch.delenv(f"DUBAN_NOTIFY_{name}", raising=False)
    assert set(build_channels(ChannelSettings())) == {"wecom", "dingtalk", "feishu", "webhook"}

    monkeypatch.setenv("DUBAN_NOTIFY_SMTP_HOST", "smtp.example.gov.cn")
    monkeypatch.setenv("DUBAN_NOTIFY_SMTP_SENDER", "duban@example.gov.cn")
    monkeypatch.setenv("DUBAN_NOTIFY_SMS_URL", "https://sms.example.gov.cn/send")
    monkeypatch.setenv("DUBAN_NOTIFY_CHANNEL_TIMEOUT", "3.5")
    channels = build_channels()
    assert set(channels) == {"wecom", "dingtalk", "feishu", "webhook", "email", "sms"}
    assert all(channel.name == name for name, channel in channels.items())
    assert channels["sms"].timeout == 3.5


def test_inconsistent_smtp_settings_are_refused():
    with pytest.raises(ValidationError):
        ChannelSettings(smtp_host="smtp.example.gov.cn")  # no sender
    with pytest.raises(ValidationError):
        ChannelSettings(smtp_host="h", smtp_sender="a@b.cn", smtp_starttls=True, smtp_use_tls=True)


async def test_email_requiring_starttls_from_a_server_without_it_is_not_retried(smtp):
    error = await failure(EmailChannel(smtp_settings(smtp, smtp_starttls=True)),
                          outgoing("email", "office@example.gov.cn"))
    assert error.retryable is False
    assert smtp.messages == []
