"""Group robots of the office suites: WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书).

Each message carries the robot's webhook URL (its access token inside) and, for DingTalk and Feishu,
the signing secret ("加签" / "签名校验"). The platforms answer HTTP 200 with an error code in the body;
only code 0 is success. Codes that mean "too many messages" or "busy" are retryable; every other
code (wrong signature, keyword missing, IP not allowed, robot removed) is configuration, not.
"""

import base64
import hashlib
import hmac
import time

import httpx

from services.notify.channels.base import (
    DeliveryError,
    Outgoing,
    json_of,
    post,
    require_url,
)

LINK_TEXT = "查看详情"


def _clip_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut (with "…") to at most ``max_bytes`` bytes of UTF-8."""
    if len(text.encode()) <= max_bytes:
        return text
    cut = text.encode()[: max_bytes - len("…".encode())].decode(errors="ignore")
    return cut + "…"


def check_answer(channel: str, data: dict, code_key: str, msg_key: str, retry_codes: frozenset[int]) -> None:
    """DeliveryError unless the platform's ``code_key`` is 0 (a missing code is not success)."""
    code = data.get(code_key)
    if code == 0:
        return
    message = data.get(msg_key) or "no message"
    retryable = isinstance(code, int) and code in retry_codes
    raise DeliveryError(f"{channel}: {code_key} {code}: {message}", retryable=retryable)


class _Robot:
    """What the three robots share: a timeout and an optional shared HTTP client."""

    name = ""
    code_key, msg_key = "errcode", "errmsg"
    retry_codes: frozenset[int] = frozenset()

    def __init__(self, timeout: float, client: httpx.AsyncClient | None = None):
        self.timeout = timeout
        self.client = client

    async def _post(self, url: httpx.URL, payload: dict) -> None:
        response = await post(self.name, url, timeout=self.timeout, client=self.client, json=payload)
        check_answer(self.name, json_of(self.name, response), self.code_key, self.msg_key, self.retry_codes)


# ---- WeCom ----------------------------------------------------------------------------------------

WECOM_MARKDOWN_BYTES = 4096  # markdown.content: at most 4096 bytes of UTF-8
WECOM_TEXT_BYTES = 2048      # text.content: at most 2048 bytes


def wecom_payload(out: Outgoing) -> dict:
    """Markdown, or text when someone is to be @-ed.

    WeCom's markdown can @ only by user id (``<@userid>``); @ by mobile number exists only in the
    text type, as ``text.mentioned_mobile_list``. Mentions are mobiles here, so a message with
    mentions goes out as text (the link as a plain URL, which WeCom makes clickable).
    """
    if out.mentions:
        content = f"{out.title}\n{out.body}" + (f"\n{LINK_TEXT}：{out.link}" if out.link else "")
        return {"msgtype": "text", "text": {
            "content": _clip_utf8(content, WECOM_TEXT_BYTES),
            "mentioned_mobile_list": list(out.mentions),
        }}
    content = f"**{out.title}**\n{out.body}" + (f"\n[{LINK_TEXT}]({out.link})" if out.link else "")
    return {"msgtype": "markdown", "markdown": {"content": _clip_utf8(content, WECOM_MARKDOWN_BYTES)}}


class WeComChannel(_Robot):
    """``POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…``; WeCom robots are not signed
    (``out.secret`` is ignored). Retryable codes: -1 (busy), 45009 (rate limit: 20 a minute)."""

    name = "wecom"
    retry_codes = frozenset({-1, 45009})

    async def send(self, out: Outgoing) -> None:
        await self._post(require_url(out.address, self.name), wecom_payload(out))


# ---- DingTalk -------------------------------------------------------------------------------------


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")); URL-encoding it is left to
    the query string (httpx), so it is encoded exactly once."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def dingtalk_url(address: str, secret: str, timestamp_ms: int | None = None) -> httpx.URL:
    """The robot URL with ``timestamp`` (ms) and ``sign`` added to its query (``access_token`` kept)
    when the robot has a secret. DingTalk accepts a timestamp within an hour of its clock."""
    url = require_url(address, "dingtalk")
    if not secret:
        return url
    ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    return url.copy_merge_params({"timestamp": str(ts), "sign": dingtalk_sign(secret, ts)})


def dingtalk_payload(out: Outgoing) -> dict:
    """Markdown; an @ shows as a mention only when ``@<mobile>`` also appears in the text, so the
    mentioned mobiles are appended to it as well as listed in ``at.atMobiles``."""
    text = f"#### {out.title}\n\n{out.body}"
    if out.link:
        text += f"\n\n[{LINK_TEXT}]({out.link})"
    if out.mentions:
        text += "\n\n" + " ".join(f"@{mobile}" for mobile in out.mentions)
    return {
        "msgtype": "markdown",
        "markdown": {"title": out.title, "text": text},
        "at": {"atMobiles": list(out.mentions), "isAtAll": False},
    }


class DingTalkChannel(_Robot):
    """``POST https://oapi.dingtalk.com/robot/send?access_token=…[&timestamp=…&sign=…]``.
    Retryable codes: -1 (busy), 130101 (sending too fast: 20 a minute)."""

    name = "dingtalk"
    retry_codes = frozenset({-1, 130101})

    async def send(self, out: Outgoing) -> None:
        await self._post(dingtalk_url(out.address, out.secret), dingtalk_payload(out))


# ---- Feishu ---------------------------------------------------------------------------------------


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")): Feishu keys the HMAC with the
    string to sign and signs nothing, unlike DingTalk."""
    mac = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def feishu_payload(out: Outgoing, timestamp_s: int | None = None) -> dict:
    """A rich-text ("post") message: a row per line of the body, a link row, a row of @s (user ids:
    open_id / union_id / user_id); ``timestamp`` (seconds, as a string) and ``sign`` with a secret."""
    rows: list[list[dict]] = [[{"tag": "text", "text": line}] for line in out.body.splitlines() or [""]]
    if out.link:
        rows.append([{"tag": "a", "text": LINK_TEXT, "href": out.link}])
    if out.mentions:
        rows.append([{"tag": "at", "user_id": user} for user in out.mentions])
    payload: dict = {}
    if out.secret:
        ts = timestamp_s if timestamp_s is not None else int(time.time())
        payload = {"timestamp": str(ts), "sign": feishu_sign(out.secret, ts)}
    payload |= {"msg_type": "post", "content": {"post": {"zh_cn": {"title": out.title, "content": rows}}}}
    return payload


class FeishuChannel(_Robot):
    """``POST https://open.feishu.cn/open-apis/bot/v2/hook/…``; the answer's ``code`` is 0 on success.
    Retryable code: 11232 (rate limit: 100 a minute, 5 a second)."""

    name = "feishu"
    code_key, msg_key = "code", "msg"
    retry_codes = frozenset({11232})

    async def send(self, out: Outgoing) -> None:
        await self._post(require_url(out.address, self.name), feishu_payload(out))
