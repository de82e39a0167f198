"""The Together stand-in itself: Together's error bodies, scripted failures and the description it is held to."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from testing.together_standin import TogetherStandIn, serve

KEY = "tgp_v1_standinTEST0123456789"


@pytest.fixture
def standin() -> Iterator[TogetherStandIn]:
    with serve(api_key=KEY) as server:
        yield server


def call(standin: TogetherStandIn, method: str, path: str, key: str = KEY, **kwargs) -> requests.Response:  # type: ignore[no-untyped-def]
    return requests.request(method, standin.base_url + path, headers={"authorization": f"Bearer {key}"}, timeout=5, **kwargs)


def test_errors_come_in_togethers_error_data_shape(standin) -> None:
    denied = call(standin, "GET", "/fine-tunes", key="wrong")
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "invalid_api_key"
    missing = call(standin, "GET", "/fine-tunes/ft-nope")
    assert missing.status_code == 404 and set(missing.json()["error"]) == {"message", "type", "param", "code"}
    assert call(standin, "GET", "/no-such-route").status_code == 404


def test_scripted_failures_429_5xx_and_drops(standin) -> None:
    standin.fail("fine_tunes.list", 429, message="Rate limit exceeded", headers={"retry-after": "7"})
    limited = call(standin, "GET", "/fine-tunes")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7" and limited.json()["error"]["message"] == "Rate limit exceeded"
    standin.fail("*", 503)
    assert call(standin, "GET", "/files").status_code == 503
    standin.drop("files.list")
    with pytest.raises(requests.ConnectionError):
        call(standin, "GET", "/files")
    assert call(standin, "GET", "/files").json() == {"data": []}
    with pytest.raises(ValueError, match="no route"):
        standin.fail("fine_tunes.nope", 500)


def test_requests_off_the_description_are_refused(standin) -> None:
    refused = call(standin, "POST", "/fine-tunes", json={"model": "m"})
    assert refused.status_code == 400 and "'training_file' is a required property" in refused.json()["error"]["message"]
    upload = call(standin, "POST", "/files/upload", files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "fine-tune"})
    assert upload.status_code == 400 and "file_name" in upload.json()["error"]["message"]


def test_a_job_moves_one_status_per_read_and_can_be_held(standin) -> None:
    file_id = call(standin, "POST", "/files/upload", files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "fine-tune", "file_name": "a.jsonl"}).json()["id"]
    standin.script_job(["pending", "running", "completed"])
    job_id = call(standin, "POST", "/fine-tunes", json={"model": "m", "training_file": file_id}).json()["id"]
    assert call(standin, "GET", f"/fine-tunes/{job_id}").json()["status"] == "running"
    standin.hold(job_id)
    assert call(standin, "GET", f"/fine-tunes/{job_id}").json()["status"] == "running"
    standin.release(job_id)
    done = call(standin, "GET", f"/fine-tunes/{job_id}").json()
    assert done["status"] == "completed" and done["total_price"] == 163_000_000 and done["token_count"] == 54_321
