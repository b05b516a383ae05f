"""A bounded property-based run against the gateway's own OpenAPI spec: no input gets a 5xx.

schemathesis generates requests for every operation of /openapi.json, valid and invalid, and
sends them to a running gateway (loopback, the OpenAI emulator behind it). The number of
examples per operation bounds the run (LLMGATEWAY_SCHEMATHESIS_EXAMPLES, default 40).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import make_settings, running_gateway

pytestmark = pytest.mark.slow

MAX_EXAMPLES = int(os.environ.get("LLMGATEWAY_SCHEMATHESIS_EXAMPLES", "40"))


def test_no_input_gets_a_server_error(tmp_path: Path, openai_emulator) -> None:
    with running_gateway(make_settings(tmp_path, request_timeout_s=5.0)) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 10
        failures: list[str] = []
        sent = 0
        for operation in operations:

            @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(case=operation.as_strategy())
            def check(case) -> None:  # type: ignore[no-untyped-def]
                nonlocal sent
                sent += 1
                response = case.call(timeout=30)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}")

            check()
    assert failures == []
    assert sent >= 10 * len(operations)
    print(f"schemathesis: {sent} requests over {len(operations)} operations, no 5xx")
