"""Every API operation against the app's own OpenAPI, with all schemathesis checks.

Runs in-process (ASGI). Two phases per operation: fuzzing (a bounded number of schema-valid and
schema-violating requests) and schemathesis' deterministic coverage cases (each field at its bounds
and with each wrong type, unexpected methods and content types). Every answer must have a documented
status, content type, headers and body; valid requests must be accepted (or refused only by a value
rule), invalid ones refused; auth must be enforced. Some data exists first (store, member, product,
coupon, all with id "0") so that generated ids hit real rows and the handlers past the 404s run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from requests.structures import CaseInsensitiveDict
from schemathesis import GenerationMode
from schemathesis.checks import CheckContext, positive_data_acceptance
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.schemas import OpenApiSchema

from cloud_sync.shopper.deps import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE

# Examples per operation and generation mode: SQLite gets more, PostgreSQL (slower per request)
# fewer; override with CLOUD_FUZZ_EXAMPLES for a longer soak.
EXAMPLES = {"sqlite": 8, "postgresql": 5}

# Refusals a schema cannot express, so schema-valid data may still meet them: 402 (the wallet's
# balance, a database state) and a 422 that names a value rule rather than a schema mismatch.
STATE_OR_RULE_STATUSES = {402, 422}


def _is_rule_refusal(response: Response) -> bool:
    """A 402, or a 422 whose every reason is a value rule (a sentence, or ``value_error``s of our validators)."""
    if response.status_code == 402:
        return True
    try:
        detail = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        return False
    if isinstance(detail, str):
        return True
    return isinstance(detail, list) and all(isinstance(e, dict) and e.get("type") == "value_error" for e in detail)


def positive_data_accepted_or_rule_refused(ctx: CheckContext, response: Response, case: schemathesis.Case) -> None:
    """``positive_data_acceptance``, except refusals the schema cannot describe (time windows, key validity...).

    A pydantic type or constraint error (``bool_type``, ``missing``, ``string_pattern_mismatch``...) on a
    request the schema calls valid still fails: that is the spec and the models disagreeing.
    """
    if response.status_code in STATE_OR_RULE_STATUSES and _is_rule_refusal(response):
        return
    positive_data_acceptance(ctx, response, case)


SEEDED = {"store_id": "0", "member_id": "0", "product_id": "0", "coupon_id": "0"}


def _seed(client: TestClient, op: dict[str, str]) -> None:
    for path, body in (
        ("/api/v1/stores", {"id": "0", "name": "zero"}),
        ("/api/v1/members", {"id": "0", "name": "zero"}),
        ("/api/v1/members/0/wallet/topups", {"amount_cents": 100000, "reference": "r"}),
        ("/api/v1/products", {"id": "0", "name": "zero", "price_cents": 1}),
        ("/api/v1/stores/0/restocks", {"lines": [{"product_id": "0", "quantity": 100}]}),
        ("/api/v1/coupons", {"id": "0", "member_id": "0", "kind": "amount", "value": 1}),
    ):
        assert client.post(path, json=body, headers=op).status_code == 201, path


CHECKS: dict[str, Any] = {
    # All checks schemathesis has; only positive_data_acceptance is narrowed (see above).
    "excluded_checks": [positive_data_acceptance],
    "additional_checks": [positive_data_accepted_or_rule_refused],
}


@dataclass
class Api:
    """The app's schema, its operations and the tokens to call them with."""

    schema: OpenApiSchema
    operations: list[schemathesis.APIOperation]
    operator: dict[str, str]
    device: dict[str, str]
    spare_token_id: int
    shopper: dict[str, str]  # the signed-in phone's CSRF header
    shopper_cookies: dict[str, str]  # its session and CSRF cookies

    def pinned(self, operation: schemathesis.APIOperation, *, seeded: bool) -> dict[str, Any]:
        """Path ids to send: never a token this test calls with (revoking it would leave only 401s)."""
        ids: dict[str, Any] = {"token_id": self.spare_token_id}
        if seeded:
            # Schema-violating bodies and queries must meet real rows: a 404 for an unknown id would
            # hide an accepted bad value.
            ids |= SEEDED
        return {p.name: ids[p.name] for p in operation.path_parameters if p.name in ids}

    def headers(self, operation: schemathesis.APIOperation) -> dict[str, str]:
        """Operators may call everything; a device token exercises the payment path's role checks."""
        if operation.path.startswith("/api/shop/"):
            return self.shopper
        return self.device if "authorize" in operation.path else self.operator

    def cookies(self, operation: schemathesis.APIOperation) -> dict[str, str]:
        """The shopper API authenticates with the session cookie; the rest with the bearer token."""
        return self.shopper_cookies if operation.path.startswith("/api/shop/") else {}


@pytest.fixture
def api(client: TestClient, op: dict[str, str], auth: Callable[..., dict[str, str]]) -> Api:
    """Seeded data and the OpenAPI schema of the running app."""
    _seed(client, op)
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"invalid OpenAPI operation: {result}"
        operations.append(result.ok())
    assert len(operations) >= 40
    # Signing out would leave the shopper operations after it only 401s: it goes last.
    operations.sort(key=lambda operation: operation.path.endswith("/sessions/end"))
    device = {"Authorization": auth("device", "s1")["Authorization"]}
    spare = client.post("/api/v1/tokens", json={"name": "spare", "role": "technician"}, headers=op).json()["id"]
    shopper, cookies = _shopper_session(client)
    return Api(schema, operations, {"Authorization": op["Authorization"]}, device, spare, shopper, cookies)


def _shopper_session(client: TestClient) -> tuple[dict[str, str], dict[str, str]]:
    """Sign a shopper in as the phone app does; return its CSRF header and cookies."""
    csrf = client.get("/api/shop/csrf").json()["csrf"]
    header = {CSRF_HEADER: csrf}
    assert client.post("/api/shop/codes", json={"contact": "night@example.org"}, headers=header).status_code == 202
    code = client.app.state.shopper_sender.last_code("night@example.org")  # type: ignore[attr-defined]
    signed_in = client.post("/api/shop/sessions", json={"contact": "night@example.org", "code": code}, headers=header)
    assert signed_in.status_code == 201, signed_in.text
    cookies = {SESSION_COOKIE: client.cookies[SESSION_COOKIE], CSRF_COOKIE: csrf}
    client.cookies.clear()  # the fixture's own requests stay cookie-free
    assert client.get("/api/shop/me", headers=_cookie_header(cookies)).status_code == 200
    return header, cookies


def _cookie_header(cookies: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}


def _before(client: TestClient, api: Api, operation: schemathesis.APIOperation) -> None:
    """Before signing out (the last operation): the shopper operations ran with a live session."""
    if operation.path.endswith("/sessions/end"):
        assert client.get("/api/shop/me", headers=_cookie_header(api.shopper_cookies)).status_code == 200


def _still_authenticated(client: TestClient, api: Api) -> None:
    """The run was not blind: the tokens it called with still work."""
    assert client.get("/api/v1/tokens", headers=api.operator).status_code == 200
    assert client.get("/api/v1/sync/manifest", headers=api.device).status_code == 200


@pytest.mark.timeout(600)
def test_every_operation_keeps_its_contract_under_fuzzing(client: TestClient, api: Api) -> None:
    failures: list[str] = []
    examples = int(os.environ.get("CLOUD_FUZZ_EXAMPLES", "0")) or EXAMPLES[client.app.state.engine.dialect.name]  # type: ignore[attr-defined]

    def make_runner(
        operation: schemathesis.APIOperation, mode: GenerationMode, headers: dict[str, str]
    ) -> Callable[[], None]:
        # Negative cases name the seeded rows; positive ones fuzz ids too.
        pinned = api.pinned(operation, seeded=mode is GenerationMode.NEGATIVE)
        strategy = operation.as_strategy(
            generation_mode=mode, headers=headers, cookies=api.cookies(operation), path_parameters=pinned
        )

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(**CHECKS)

        return run

    for operation in api.operations:
        _before(client, api, operation)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                make_runner(operation, mode, api.headers(operation))()
            except Unsatisfiable:
                # No schema-violating request exists (no parameters, no body): nothing to reject.
                assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request can be generated"
            except (FailureGroup, Exception) as err:  # report every operation, not only the first
                failures.append(f"{operation.label} [{mode.value}]: {_short(err)}")
    assert not failures, "\n\n".join(failures)
    _still_authenticated(client, api)


@pytest.mark.timeout(600)
def test_every_operation_keeps_its_contract_on_coverage_cases(client: TestClient, api: Api) -> None:
    """schemathesis' deterministic coverage phase: each field at its bounds and with each wrong type.

    Random fuzzing rarely sends ``"active": 0``; this phase sends it (and ``false`` for an integer,
    a number for a date-time, unexpected methods and content types) to every operation. Minimal ids
    such as ``"0"`` hit the seeded rows, so bad values reach the handlers past the 404s.
    """
    if client.app.state.engine.dialect.name != "sqlite":  # type: ignore[attr-defined]
        pytest.skip("the schema's types and bounds do not depend on the database; fuzzing covers both")
    failures: dict[tuple[str, str], str] = {}
    sent = 0
    for operation in api.operations:
        _before(client, api, operation)
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        config = api.schema.config.generation_for(operation=operation)
        for case in api.schema.iter_coverage_cases(operation, generation_modes=modes, generation_config=config):
            data = case.meta.phase.data if case.meta is not None else None
            negative = case.meta is not None and case.meta.generation.mode is GenerationMode.NEGATIVE
            if not (negative and getattr(data, "parameter_location", None) is ParameterLocation.PATH):
                # A bad body or query reaches the handler (seeded rows, not an unknown id's 404).
                case.path_parameters = {**(case.path_parameters or {}), **api.pinned(operation, seeded=negative)}
            if (getattr(data, "parameter", None) or "").lower() != "authorization":
                # A case about the Authorization header itself (missing, malformed) keeps what it sends.
                case.headers = CaseInsensitiveDict({**dict(case.headers or {}), **api.headers(operation)})
            if api.cookies(operation) and (getattr(data, "parameter_location", None) is not ParameterLocation.COOKIE):
                case.cookies = {**(case.cookies or {}), **api.cookies(operation)}
            sent += 1
            try:
                case.call_and_validate(**CHECKS)
            except FailureGroup as group:
                for failure in group.exceptions:
                    failures.setdefault((operation.label, failure.title), _short(group))
    assert sent > 20 * len(api.operations)
    assert not failures, "\n\n".join(f"{label}: {text}" for (label, _), text in failures.items())
    _still_authenticated(client, api)


def _short(err: Any) -> str:
    return str(err)[:1500]
