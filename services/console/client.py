"""Calls to the four services with the signed-in user's bearer token."""

from dataclasses import dataclass

import httpx

from services.console.config import ConsoleSettings


class ApiError(Exception):
    """A service answered 4xx/5xx (or could not be reached): its status and its message."""

    def __init__(self, status: int, message: str, detail=None):
        super().__init__(message)
        self.status, self.message = status, message
        self.detail = detail  # the answer's "detail" as sent (e.g. an import's row-by-row errors)


def _message(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text[:500] or response.reason_phrase
    if isinstance(detail, list):  # FastAPI's validation errors
        return _errors(detail, skip=1)
    if isinstance(detail, dict) and isinstance(detail.get("errors"), list):  # e.g. a bad rule set
        return f"{detail.get('message', '')}: {_errors(detail['errors'], skip=0)}"
    if isinstance(detail, dict) and "message" in detail:  # e.g. an import's summary
        return str(detail["message"])
    return str(detail) if detail is not None else response.reason_phrase


def _errors(errors: list, skip: int) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', [])[skip:])}: {e.get('msg', '')}"
                     for e in errors if isinstance(e, dict))


def _detail(response: httpx.Response):
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("detail") if isinstance(body, dict) else None


@dataclass
class Api:
    """One signed-in user's view of the services."""

    http: httpx.AsyncClient
    settings: ConsoleSettings
    token: str

    def _url(self, service: str, path: str) -> str:
        return getattr(self.settings, f"{service}_url").rstrip("/") + path

    async def request(self, method: str, service: str, path: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        try:
            response = await self.http.request(method, self._url(service, path), headers=headers,
                                               **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(502, f"{service}: {exc.__class__.__name__} {exc}") from None
        if response.status_code >= 400:
            raise ApiError(response.status_code, _message(response), _detail(response))
        return response

    async def get(self, service: str, path: str, **params) -> dict | list:
        params = {k: v for k, v in params.items() if v not in (None, "", [])}
        return (await self.request("GET", service, path, params=params)).json()

    async def post(self, service: str, path: str, **kwargs) -> dict:
        return (await self.request("POST", service, path, **kwargs)).json()
