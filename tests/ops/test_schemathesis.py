"""Hostile API input: schemathesis generates requests from the OpenAPI schema (valid and
deliberately invalid ones) and sends them in-process to the WSGI app, as an anonymous
caller, a customer and staff. No request may produce a 500, and every response must
match the schema (status code, content type, body, headers). Bounded: a few
derandomized examples per operation and mode, so the run takes seconds."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from rest_framework_simplejwt.tokens import AccessToken
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from smartmeter.wsgi import application
from tests.factories import DeviceFactory, UserFactory

EXAMPLES_PER_OPERATION = 4
# Two heuristics do not apply to this API:
# - schema-valid is not always acceptable: a password can satisfy the schema's "string"
#   and still be too weak, an email can already be registered (those 400s are right);
# - DRF deliberately coerces a JSON number into a string field (firmware_version 2321
#   is stored as "2321"): lenient input, not a hole. Everything else is checked.
NOT_APPLICABLE = [positive_data_acceptance, negative_data_rejection]


def _headers(role: str) -> dict:
    if role == "anonymous":
        return {}
    user = UserFactory(is_staff=role == "staff")
    DeviceFactory(owner=user)
    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


def _run_operation(operation, mode: GenerationMode, headers: dict) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        case.call_and_validate(headers=headers, excluded_checks=NOT_APPLICABLE)

    check()


@pytest.fixture
def _keep_the_test_transaction_open():
    """Calling the WSGI app directly fires request_started/finished, whose
    close_old_connections would close the test's connection mid-transaction (on
    PostgreSQL it really closes). Django's own test client unhooks it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.usefixtures("_keep_the_test_transaction_open")
@pytest.mark.parametrize("role", ["anonymous", "customer", "staff"])
def test_no_generated_request_breaks_the_api_or_its_schema(role):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    headers = _headers(role)
    failures = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _run_operation(operation, mode, headers)
            except Exception as failure:  # collect them all, report together
                failures.append(f"{operation.label} [{mode.value}]: {failure}")
    assert operations >= 5
    assert not failures, "\n\n".join(failures)


@pytest.mark.django_db
def test_the_schema_documents_both_ways_of_adding_a_meter(client):
    """POST /api/devices is a claim (customers) or a provisioning (staff): both request bodies, the
    claim code in the answer, and the claim's 404 are in the schema schemathesis runs from."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/devices"]["post"]
    request_body = operation["requestBody"]["content"]["application/json"]["schema"]
    shapes = {
        ref["$ref"].rsplit("/", 1)[-1] for ref in schema["components"]["schemas"][_ref_name(request_body)]["oneOf"]
    }
    assert shapes == {"DeviceClaimInputRequest", "DeviceProvisionInputRequest"}
    created = operation["responses"]["201"]["content"]["application/json"]["schema"]
    assert {"claim_code", "secrets"} <= set(schema["components"]["schemas"][_ref_name(created)]["properties"])
    assert "404" in operation["responses"]


def _ref_name(schema: dict) -> str:
    return schema["$ref"].rsplit("/", 1)[-1]


@pytest.mark.django_db
def test_path_ids_are_documented_with_the_pattern_their_routes_accept(api):
    """The converters' patterns reach the schema, so negative generation sends ids no route
    takes (and expects the documented 404) instead of only well-formed ones."""
    from billing.converters import INVOICE_NUMBER_CHARS
    from devices.identity import DEVICE_ID_CHARS

    schema = api(UserFactory()).get("/api/schema/?format=json").json()
    patterns = {
        (path, parameter["name"]): parameter["schema"].get("pattern")
        for path, item in schema["paths"].items()
        for operation in item.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
    }
    assert patterns, "no path parameters in the schema"
    for (path, name), pattern in patterns.items():
        # Receipt numbers are document numbers like invoice numbers: the same converter.
        expected = INVOICE_NUMBER_CHARS if name in {"invoice_id", "receipt_number"} else DEVICE_ID_CHARS
        assert pattern == f"^{expected}$", (path, name)
