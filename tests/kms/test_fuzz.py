"""Fuzzing a live KME over mTLS from its own OpenAPI document (schemathesis).

Every operation gets bounded generated requests as SAE alice; the KME must answer each
with a documented status (no 5xx but the standard's 503), a JSON Error body on errors,
never an unexpected exception, and keep serving afterwards.
"""

from __future__ import annotations

import copy

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from euroqci.kms.app import create_app
from euroqci.kms.settings import Settings
from tests.kms.conftest import SAES, start_kmes, stop_kmes


def _fuzz_document() -> dict:
    """The KME's OpenAPI document, with SAE IDs, numbers and sizes drawn from valid values
    half of the time (so that generated requests get past the checks into the key logic)."""
    doc = copy.deepcopy(create_app(Settings()).openapi())
    sae = {"anyOf": [{"enum": sorted(SAES)}, {"type": "string"}]}
    number = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 4}, {"type": "integer"}]}
    size = {"anyOf": [{"enum": [64, 256, 520]}, {"type": "integer"}]}
    likely = {"slave_SAE_ID": sae, "master_SAE_ID": sae, "number": number, "size": size}
    for item in doc["paths"].values():
        for operation in item.values():
            for param in operation.get("parameters", []):
                param["schema"] = likely.get(param["name"], param["schema"])
    request = doc["components"]["schemas"]["KeyRequest"]["properties"]
    request["number"], request["size"] = number, size
    request["additional_slave_SAE_IDs"] = {"type": "array", "items": sae}
    return doc


schema = schemathesis.openapi.from_dict(_fuzz_document())


@pytest.fixture(scope="module")
def live(pki, tmp_path_factory):
    servers = start_kmes(pki, tmp_path_factory.mktemp("fuzz"))
    session = requests.Session()
    session.cert = (str(pki / "sae-alice.pem"), str(pki / "sae-alice-key.pem"))
    session.verify = str(pki / "ca.pem")
    yield servers["A"], session, {"verify": session.verify, "cert": session.cert}
    session.close()
    stop_kmes(servers)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_documented_answers(case, live):
    server, session, tls = live
    response = case.call(base_url=server.url, session=session, timeout=10, **tls)
    assert response.status_code < 500 or response.status_code == 503, response.text
    documented = set(case.operation.definition.raw["responses"])
    if case.method.upper() != case.operation.method.upper():
        documented.add("405")  # schemathesis also probes methods the path does not have
    assert str(response.status_code) in documented, (case.method, response.status_code)
    if response.status_code >= 400:
        assert isinstance(response.json()["message"], str)


def test_the_server_is_still_up_and_raised_nothing_unexpected(live):
    server, session, tls = live
    status = session.get(f"{server.url}/api/v1/keys/bob/status", timeout=10, **tls)
    assert status.status_code == 200
    assert server.ctx.metrics.value("euroqci_kms_internal_errors_total") == 0
