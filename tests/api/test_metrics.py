"""GET /metrics: Prometheus text format, requests counted under their route template."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.main import create_app
from tests.roleplay.conftest import roleplay_settings


def test_metrics_count_requests_by_route_template_in_prometheus_text(tmp_path):
    with TestClient(create_app(roleplay_settings(tmp_path / "data"))) as client:
        client.get("/v1/roleplay/scenarios")
        client.get("/v1/roleplay/sessions/nope-1")
        client.get("/v1/roleplay/sessions/nope-2")
        client.get("/no/such/path")
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    lines = response.text.splitlines()
    assert "# TYPE coach_http_requests_total counter" in lines
    assert 'coach_http_requests_total{method="GET",route="/v1/roleplay/scenarios",status="200"} 1' in lines
    assert 'coach_http_requests_total{method="GET",route="/v1/roleplay/sessions/{session_id}",status="404"} 2' in lines
    assert 'coach_http_requests_total{method="GET",route="unmatched",status="404"} 1' in lines
    assert 'coach_http_request_duration_seconds_count{method="GET",route="/v1/roleplay/scenarios"} 1' in lines
    bucket = 'coach_http_request_duration_seconds_bucket{method="GET",route="/v1/roleplay/scenarios",le="+Inf"} 1'
    assert bucket in lines
    assert "coach_index_chunks 0" in lines
    assert all(line.startswith("#") or line.split()[-1].replace(".", "").isdigit() for line in lines)
