"""The REST API answers what its OpenAPI says: strict JSON types, documented error statuses and bodies."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

Auth = Callable[..., dict[str, str]]
CONFORMANCE: list[CheckFunction] = [status_code_conformance, content_type_conformance, response_schema_conformance]


def _conforms(client: TestClient, method: str, path: str, status: int, **request: Any) -> dict[str, Any] | bytes:
    """Send one request; assert its status and that schemathesis finds status, type and body documented."""
    template = request.pop("template", path)
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operation = schema[template][method.upper()]
    response = client.request(method, path, **request)
    assert response.status_code == status, response.text
    case = operation.Case(headers=request.get("headers"), **({"body": request["json"]} if "json" in request else {}))
    case.validate_response(response, checks=CONFORMANCE)
    if response.headers.get("content-type", "").startswith("application/json"):
        body: dict[str, Any] = response.json()
        return body
    return response.content


def _product(client: TestClient, op: dict[str, str], pid: str = "p1") -> None:
    assert client.post("/api/v1/products", json={"id": pid, "name": pid, "price_cents": 100}, headers=op).status_code
    assert client.get(f"/api/v1/products/{pid}", headers=op).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"active": 0}, "active"),
        ({"active": "true"}, "active"),
        ({"low_stock_threshold": False}, "low_stock_threshold"),
    ],
)
def test_a_number_is_not_a_boolean_nor_a_boolean_a_number(
    client: TestClient, op: dict[str, str], body: dict[str, Any], field: str
) -> None:
    _product(client, op)
    got = _conforms(
        client, "patch", "/api/v1/products/p1", 422, template="/api/v1/products/{product_id}", json=body, headers=op
    )
    assert isinstance(got, dict)
    assert isinstance(got["detail"], list)
    assert got["detail"][0]["loc"] == ["body", field]
    assert client.get("/api/v1/products/p1", headers=op).json()["active"] is True


def test_json_integers_are_accepted_however_written_and_strings_are_not(client: TestClient, op: dict[str, str]) -> None:
    body = {"id": "p2", "name": "p2", "price_cents": 150.0, "low_stock_threshold": 3}
    assert client.post("/api/v1/products", json=body, headers=op).json()["price_cents"] == 150
    refused = client.post("/api/v1/products", json=body | {"id": "p3", "price_cents": "150"}, headers=op)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "price_cents"]


def _payment(**change: Any) -> dict[str, Any]:
    return {
        "request_id": str(uuid.uuid4()),
        "store_id": "s1",
        "member_id": "hal",
        "amount_cents": 10,
        "sale_id": str(uuid.uuid4()),
        "expires_at": (datetime.now(UTC) + timedelta(seconds=30)).isoformat(),
    } | change


@pytest.mark.parametrize(
    "change", [{"ts": 0}, {"expires_at": 1893456000}, {"ts": "1700000000"}, {"amount_cents": True}]
)
def test_a_payment_time_is_date_time_text_and_cents_an_integer(
    client: TestClient, op: dict[str, str], auth: Auth, change: dict[str, Any]
) -> None:
    client.post("/api/v1/stores", json={"id": "s1", "name": "one"}, headers=op)
    client.post("/api/v1/members", json={"id": "hal", "name": "Hal"}, headers=op)
    dev = auth("device", "s1")
    got = _conforms(client, "post", "/api/v1/payments/authorize", 422, json=_payment(**change), headers=dev)
    assert isinstance(got, dict)
    assert [e["loc"] for e in got["detail"]] == [["body", next(iter(change))]]
    ok = client.post("/api/v1/payments/authorize", json=_payment(ts=datetime.now(UTC).isoformat()), headers=dev)
    assert ok.status_code == 200, ok.text


def test_a_refused_value_is_a_documented_422_with_a_sentence(client: TestClient, op: dict[str, str]) -> None:
    got = _conforms(client, "post", "/api/v1/tokens", 422, json={"name": "d", "role": "device"}, headers=op)
    assert isinstance(got, dict)
    assert isinstance(got["detail"], str) and "bound to a store" in got["detail"]


def test_error_statuses_are_documented(client: TestClient, op: dict[str, str], auth: Auth) -> None:
    assert _conforms(client, "get", "/api/v1/stores", 401) == {"detail": "missing bearer token"}
    _conforms(client, "get", "/api/v1/stores", 401, headers={"Authorization": "Bearer sst_nope"})
    _conforms(client, "post", "/api/v1/stores", 403, json={"id": "s9", "name": "x"}, headers=auth("technician"))
    _conforms(client, "get", "/api/v1/products/nope", 404, template="/api/v1/products/{product_id}", headers=op)
    _conforms(client, "post", "/api/v1/stores", 201, json={"id": "s9", "name": "x"}, headers=op)
    got = _conforms(client, "post", "/api/v1/stores", 409, json={"id": "s9", "name": "x"}, headers=op)
    assert isinstance(got, dict) and isinstance(got["detail"], str)
    schema = client.get("/openapi.json").json()
    for path, methods in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in methods.items():
            assert {"401", "403", "404", "409", "422", "503"} <= set(operation["responses"]), f"{method} {path}"


@pytest.mark.parametrize(
    ("content_type", "data"), [("image/jpeg", b"\xff\xd8\xff\xe0jpeg"), ("image/webp", b"RIFFwebp")]
)
def test_images_are_served_with_a_documented_type(
    client: TestClient, op: dict[str, str], content_type: str, data: bytes
) -> None:
    _product(client, op)
    image = client.post("/api/v1/products/p1/images", content=data, headers=op | {"Content-Type": content_type}).json()
    got = _conforms(
        client,
        "get",
        f"/api/v1/products/p1/images/{image['id']}",
        200,
        template="/api/v1/products/{product_id}/images/{image_id}",
        headers=op,
    )
    assert got == data


def test_a_405_allows_every_documented_method_of_the_path(client: TestClient, op: dict[str, str]) -> None:
    r = client.request("OPTIONS", "/api/v1/products/p1", headers=op)
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, PATCH"
    assert client.put("/api/v1/tokens", headers=op).headers["allow"] == "GET, POST"
