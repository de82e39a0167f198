"""One way to call a provider's REST API with `requests` (Together, Fireworks).

Read-only calls retry 429, 5xx and dropped connections with backoff (honouring Retry-After);
calls that create something billable are made once: when they fail in a way where the
provider may have acted, the ProviderError is `ambiguous`, so the caller looks before it
creates again. Every request has `ProviderOptions.request_timeout`.
"""
from __future__ import annotations

import math
import time
from datetime import datetime
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import requests

from finetune_action import __version__
from finetune_action.errors import ProviderError
from finetune_action.providers.base import ProviderOptions, shown_host
from finetune_action.redact import redact

MAX_BACKOFF = 30.0  # seconds between read retries, whatever Retry-After asks
RETRIED = frozenset({408, 425, 429, 500, 502, 503, 504})  # for reads only


class Said(NamedTuple):
    """What an error answer says, in the provider's own words."""

    message: str
    code: str | None


class Wording(NamedTuple):
    """How a provider's refusals read."""

    label: str  # "Together AI"
    key_env: str  # the variable the key came from
    where: str  # the base URL
    said: Callable[[Any], Said]  # the provider's error body -> its message and code


class RestClient:
    """Bearer-authenticated JSON calls against one base URL."""

    def __init__(self, wording: Wording, key: str, options: ProviderOptions) -> None:
        self.wording = wording
        self.options = options
        self._key = key
        self._session = requests.Session()
        self._session.headers.update({"authorization": f"Bearer {key}", "user-agent": f"finetune-action/{__version__}"})

    def call(
        self,
        method: str,
        path: str,
        *,
        action: str,
        creates: bool = False,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        files: Any = None,
        data: Any = None,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        allow: tuple[int, ...] = (),
        within: float | None = None,
    ) -> requests.Response:
        """The answer to one request; errors become ProviderErrors. `allow` lists statuses the caller handles.
        With `within` (the wait's time left), each attempt waits at most that long and only the attempts that fit are made."""
        target = url or self.wording.where.rstrip("/") + path
        attempts = 1 if creates else self.options.max_retries + 1
        timeout = self.options.request_timeout
        if within is not None and within < timeout * attempts:
            attempts = max(1, min(attempts, int(within // timeout)))
            timeout = max(min(timeout, within), 0.5)
        for attempt in range(attempts):
            try:
                # A signed upload URL is not the provider's API: send no key there.
                send = requests.request if url else self._session.request
                answer = send(method, target, json=json, params=params, files=files, data=data, headers=headers, timeout=timeout)
            except requests.RequestException as exc:
                # A connect timeout or refusal happened before the request left: nothing was made.
                sent = not isinstance(exc, (requests.ConnectTimeout, requests.exceptions.InvalidURL)) and not _refused(exc)
                if attempt + 1 < attempts:
                    time.sleep(_backoff(attempt, None))
                    continue
                raise self._connection_error(exc, action, attempts, ambiguous=creates and sent) from exc
            if answer.status_code < 400 or answer.status_code in allow:
                return answer
            if attempt + 1 < attempts and answer.status_code in RETRIED:
                time.sleep(_backoff(attempt, answer.headers.get("retry-after")))
                continue
            raise self.status_error(answer, action, attempts, creates=creates)
        raise AssertionError("unreachable")

    def status_error(self, answer: requests.Response, action: str, attempts: int = 1, *, creates: bool = False) -> ProviderError:
        """A clear ProviderError for an error answer: what the provider said and what to change."""
        status = answer.status_code
        try:
            said = self.wording.said(answer.json())
        except ValueError:
            said = Said(self.excerpt(answer.text) or "the service gave no details", None)
        shown = f", {said.code}" if said.code and said.code != str(status) else ""
        refused = f"{self.wording.label} refused to {action} (HTTP {status}{shown})"
        if status == 401:
            # The server's text may echo part of the key: leave it out.
            message = f"{refused}: the API key in {self.wording.key_env} was not accepted. Check that the secret holds a current key for {shown_host(self.wording.where)}."
        elif status == 403:
            message = f"{refused}: {said.message}. Check that the key in {self.wording.key_env} may fine-tune and upload files on this account."
        elif status == 429:
            wait = retry_after(answer.headers.get("retry-after"))
            message = f"{refused}: rate limited or over a quota ({said.message}). Retry {wait or 'in a few minutes'}; a re-run finds what was already made."
        elif status >= 500:
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            message = f"{refused}: {said.message}. The service failed{tries}; this is usually temporary, re-run later."
        elif creates and status in (400, 404, 422):
            message = f"{refused}: {said.message}. Check `model`, `method` and `hyperparameters` in finetune.yaml against what {self.wording.label} accepts; nothing was created."
        else:
            message = f"{refused}: {said.message}."
        return ProviderError(self.scrub(message), status=status, code=said.code, ambiguous=creates and status >= 500)

    def _connection_error(self, exc: requests.RequestException, action: str, attempts: int, *, ambiguous: bool) -> ProviderError:
        reason = "timed out" if isinstance(exc, requests.Timeout) else "could not be reached or dropped the connection"
        tries = f" (tried {attempts} times)" if attempts > 1 else ""
        message = (
            f"Could not {action}: {self.wording.label} at {shown_host(self.wording.where)} {reason}{tries}. "
            "Check the network and the provider settings in finetune.yaml, then re-run."
        )
        return ProviderError(self.scrub(message), ambiguous=ambiguous)

    def not_the_api(self, action: str, detail: str) -> ProviderError:
        """An answer that parses into another shape: not this provider's fine-tuning API."""
        return ProviderError(self.scrub(
            f"Could not {action}: {self.wording.label} at {shown_host(self.wording.where)} answered with something that is not "
            f"its fine-tuning API ({self.excerpt(detail)}). Check `provider` (type, base_url) in finetune.yaml."
        ))

    def made(self, answer: requests.Response, action: str, read: Callable[[dict[str, Any], str], Any]) -> Any:
        """What a creating call answered, read by `read`; an answer that does not read is `ambiguous`:
        the service accepted the call and may have made the thing (a run looks for it before creating again)."""
        try:
            return read(self.json(answer, action), action)
        except ProviderError as exc:
            raise ProviderError(f"{exc} It accepted the call (HTTP {answer.status_code}), so it may have made it: a run looks for it before creating another.", exc.status, exc.code, ambiguous=True) from None

    def json(self, answer: requests.Response, action: str) -> dict[str, Any]:
        """The JSON object of an answer, or a clear error."""
        try:
            body = answer.json()
        except ValueError:
            raise self.not_the_api(action, answer.text.strip() or "an empty answer") from None
        if not isinstance(body, dict):
            raise self.not_the_api(action, f"a JSON {type(body).__name__}")
        return body

    def scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def excerpt(self, text: str, limit: int = 200) -> str:
        """The start of a text the service sent, cut after its secrets are redacted: a key cut
        first no longer matches, and all but its last characters would be shown."""
        return redact(self.scrub(text.strip()))[:limit]


def retry_after(value: str | None) -> str | None:
    """A Retry-After header as words ("in 30 seconds"), or None."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return f"after {value[:40]}"
    if not math.isfinite(seconds) or seconds < 0:
        return None  # no wait a person can act on: "in -1 seconds", "in about nan hours"
    if seconds < 120:
        return f"in {seconds:.0f} seconds"
    if seconds < 7200:
        return f"in about {seconds / 60:.0f} minutes"
    return f"in about {seconds / 3600:.0f} hours"


def _backoff(attempt: int, header: str | None) -> float:
    try:
        asked = float(header) if header is not None else None
    except ValueError:
        asked = None
    if asked is not None and not (math.isfinite(asked) and asked >= 0):
        asked = None  # a negative or nan Retry-After: time.sleep refuses it (it was an unexpected ValueError)
    return min(MAX_BACKOFF, asked if asked is not None else 0.5 * 2**attempt)


def _refused(exc: requests.RequestException) -> bool:
    return "Connection refused" in str(exc) or "NewConnectionError" in str(exc) or "Name or service not known" in str(exc)



def iso_seconds(value: Any) -> int | None:
    """An RFC 3339 time ("2026-01-01T00:00:00.123Z") as unix seconds, None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None
