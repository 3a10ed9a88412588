"""Property-based fuzzing of every API operation from the app's own OpenAPI: never a 5xx.

Runs in-process (ASGI) with a bounded number of examples per operation so it stays fast. Some
data exists first (store, member, product, coupon, order) so that generated ids sometimes hit
real rows and the handlers past the 404s are exercised too.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

# Examples per operation: SQLite gets more, PostgreSQL (slower per request) fewer; override with
# CLOUD_FUZZ_EXAMPLES for a longer soak.
EXAMPLES = {"sqlite": 15, "postgresql": 10}


@pytest.mark.timeout(300)
def test_no_operation_answers_a_server_error(
    client: TestClient, op: dict[str, str], auth: Callable[..., dict[str, str]]
) -> None:
    app = client.app
    client.post("/api/v1/stores", json={"id": "0", "name": "zero"}, headers=op)
    client.post("/api/v1/members", json={"id": "0", "name": "zero"}, headers=op)
    client.post("/api/v1/members/0/wallet/topups", json={"amount_cents": 100000, "reference": "r"}, headers=op)
    client.post("/api/v1/products", json={"id": "0", "name": "zero", "price_cents": 1}, headers=op)
    client.post("/api/v1/stores/0/restocks", json={"lines": [{"product_id": "0", "quantity": 100}]}, headers=op)
    client.post("/api/v1/coupons", json={"id": "0", "member_id": "0", "kind": "amount", "value": 1}, headers=op)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"invalid OpenAPI operation: {result}"
        operations.append(result.ok())
    assert len(operations) >= 40
    failures: list[str] = []
    device = auth("device", "s1")
    examples = EXAMPLES[client.app.state.engine.dialect.name]  # type: ignore[attr-defined]

    def make_runner(operation: schemathesis.APIOperation, headers: dict[str, str]) -> Callable[[], None]:
        @settings(
            max_examples=int(os.environ.get("CLOUD_FUZZ_EXAMPLES", "0")) or examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        return run

    for operation in operations:
        # Operators may call everything; a device token exercises the payment path's role checks.
        try:
            make_runner(operation, device if "authorize" in operation.path else op)()
        except Exception as err:
            failures.append(f"{operation.method.upper()} {operation.path}: {str(err)[:800]}")
    assert not failures, "\n\n".join(failures)
