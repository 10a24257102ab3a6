"""GET /metrics: request counts and latencies in the Prometheus text format (per process; scrape every worker)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

router = APIRouter(tags=["health"])
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Counters and latency histograms keyed by method, route template and status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.buckets: defaultdict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self.sums: defaultdict[tuple[str, str], float] = defaultdict(float)
        self.counts: defaultdict[tuple[str, str], int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        with self._lock:
            self.requests[(method, route, status)] += 1
            key = (method, route)
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[key][i] += 1
            self.sums[key] += seconds
            self.counts[key] += 1

    def render(self, index_chunks: int) -> str:
        """Return the metrics in the Prometheus text exposition format (0.0.4)."""
        lines = ["# HELP coach_http_requests_total HTTP requests by method, route and status.",
                 "# TYPE coach_http_requests_total counter"]
        with self._lock:
            for (method, route, status), n in sorted(self.requests.items()):
                lines.append(f'coach_http_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
            lines += ["# HELP coach_http_request_duration_seconds HTTP request latency by method and route.",
                      "# TYPE coach_http_request_duration_seconds histogram"]
            for (method, route), counts in sorted(self.buckets.items()):
                labels = f'method="{method}",route="{route}"'
                for bound, n in zip(BUCKETS, counts, strict=True):
                    lines.append(f'coach_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {n}')
                total = self.counts[(method, route)]
                lines.append(f'coach_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}')
                lines.append(f"coach_http_request_duration_seconds_sum{{{labels}}} {self.sums[(method, route)]:.6f}")
                lines.append(f"coach_http_request_duration_seconds_count{{{labels}}} {total}")
        lines += ["# HELP coach_index_chunks Chunks in the loaded knowledge index.", "# TYPE coach_index_chunks gauge",
                  f"coach_index_chunks {index_chunks}"]
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Time every HTTP request and count it under its route template (not its raw path: bounded label values)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - start)


@router.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
def metrics(request: Request) -> PlainTextResponse:
    """Return the process's metrics for Prometheus."""
    container = request.app.state.container
    body = request.app.state.metrics.render(len(container.index) if container.index is not None else 0)
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8")
