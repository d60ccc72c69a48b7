"""The service's metrics for Prometheus, at the conventional ``/metrics`` (outside /api/v1)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from bot.api.deps import MetricsAccessDep, StateDep
from bot.api.schemas.errors import refusals
from bot.metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[MetricsAccessDep],
    responses={
        200: {
            "description": "The Prometheus text format (docs/operations.md#metrics-and-logs)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **refusals(401, 403),
    },
)
def metrics(state: StateDep) -> Response:
    """Loopback clients only, or ``KEFU_METRICS_TOKEN`` as a bearer token when it is set. A
    plain function: the queue length is read from the database as Prometheus scrapes."""
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE)
