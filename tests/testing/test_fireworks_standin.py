"""The Fireworks stand-in itself: caller-chosen ids, gateway error bodies, signed uploads, scripted failures."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from testing.fireworks_standin import FireworksStandIn, serve

KEY = "fw_standinTEST0123456789"


@pytest.fixture
def standin() -> Iterator[FireworksStandIn]:
    with serve(api_key=KEY, account="acme") as server:
        yield server


def call(standin: FireworksStandIn, method: str, path: str, **kwargs) -> requests.Response:  # type: ignore[no-untyped-def]
    return requests.request(method, standin.origin + "/v1/accounts/acme" + path, headers={"authorization": f"Bearer {KEY}"}, timeout=5, **kwargs)


def dataset(standin: FireworksStandIn) -> str:
    call(standin, "POST", "/datasets", json={"datasetId": "d1", "dataset": {"displayName": "d1", "userUploaded": {}}})
    call(standin, "POST", "/datasets/d1:upload", files={"file": ("a.jsonl", b"{}\n")})
    return "accounts/acme/datasets/d1"


def test_a_taken_id_is_409_already_exists(standin) -> None:
    name = dataset(standin)
    first = call(standin, "POST", "/supervisedFineTuningJobs", params={"supervisedFineTuningJobId": "job-1"}, json={"dataset": name, "baseModel": "m"})
    assert first.status_code == 200 and first.json()["name"] == "accounts/acme/supervisedFineTuningJobs/job-1"
    again = call(standin, "POST", "/supervisedFineTuningJobs", params={"supervisedFineTuningJobId": "job-1"}, json={"dataset": name, "baseModel": "m"})
    assert again.status_code == 409 and again.json() == {"code": 6, "message": 'job "accounts/acme/supervisedFineTuningJobs/job-1" already exists', "details": []}


def test_signed_uploads_need_the_signature_and_no_key(standin) -> None:
    call(standin, "POST", "/datasets", json={"datasetId": "big", "dataset": {"displayName": "big"}})
    url = call(standin, "POST", "/datasets/big:getUploadEndpoint", json={"filenameToSize": {"big.jsonl": "3"}}).json()["filenameToSignedUrls"]["big.jsonl"]
    assert requests.put(url.split("?")[0], data=b"{}\n", timeout=5).status_code == 403
    assert requests.put(url, data=b"{}\n", timeout=5).status_code == 200
    assert call(standin, "POST", "/datasets/big:validateUpload", json={}).status_code == 200
    assert call(standin, "GET", "/datasets/big").json()["state"] == "READY"


def test_failures_accounts_and_the_description(standin) -> None:
    standin.fail("datasets.get", 429, message="too many requests", headers={"retry-after": "3"})
    limited = call(standin, "GET", "/datasets/x")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3" and limited.json()["code"] == 8
    standin.drop("datasets.get")
    with pytest.raises(requests.ConnectionError):
        call(standin, "GET", "/datasets/x")
    assert call(standin, "GET", "/datasets/x").status_code == 404
    other = requests.get(standin.origin + "/v1/accounts/other/datasets/x", headers={"authorization": f"Bearer {KEY}"}, timeout=5)
    assert other.status_code == 403
    off = call(standin, "POST", "/datasets", json={"datasetId": "Not_Valid", "dataset": {}})
    assert off.status_code == 400 and "does not match" in off.json()["message"]
    assert requests.get(standin.origin + "/v1/accounts/acme/datasets/x", timeout=5).status_code == 401
