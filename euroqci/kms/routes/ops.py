"""Operations endpoints: Prometheus metrics and a liveness probe (any certificate of the CA)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from euroqci.kms.deps import Ctx
from euroqci.kms.metrics import CONTENT_TYPE

router = APIRouter(prefix="/ops", tags=["operations"])


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(ctx: Ctx) -> PlainTextResponse:
    """Keys stored per link, issued, delivered, relayed, errors (Prometheus text format)."""
    return PlainTextResponse(ctx.metrics.render(ctx.store), media_type=CONTENT_TYPE)


@router.get("/health")
async def health(ctx: Ctx) -> dict[str, str]:
    """``{"kme_id": ..., "status": "ok"}`` while the store accepts writes, else "failed"."""
    return {"kme_id": ctx.settings.kme_id, "status": "failed" if ctx.store.failed else "ok"}
