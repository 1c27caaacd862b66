"""The HTTP API (FastAPI). ``create_app(config, store, runner)``: tests pass a fake runner."""

import math
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tenants.contract import StateAction

from .auth import Authenticator
from .config import ServiceConfig
from .errors import ApiError, install_error_handlers
from .ratelimit import RateLimiter
from .runner import StackRunner
from .schemas import AuditOut, CreateTenant, DeploymentOut, ErrorOut, JobError, JobOut, TenantOut, UsageOut
from .service import Accepted, SignupService
from .store import Job, JobStore
from .usage import UsageReader

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (401, "missing or invalid bearer token"),
        (404, "no such tenant or job"),
        (409, "conflict: tenant exists, edit refused, or Idempotency-Key reused or in progress"),
        (422, "invalid body: the fleet model's validation messages"),
        (429, "rate limited; see Retry-After"),
        (503, "tenants.yaml is invalid or busy, or the model usage ledger is not configured or unreachable"),
    )
}

bearer = HTTPBearer(auto_error=False, description="The operator token (OPENCLAW_SIGNUP_TOKEN)")
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="A retried request with the same key returns the original job.",
    ),
]
TenantIdPath = Annotated[str, Path(min_length=1, max_length=64)]
MonthQuery = Annotated[
    str | None,
    Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM (UTC); the current month without it."),
]


def create_app(config: ServiceConfig, store: JobStore, runner: StackRunner) -> FastAPI:
    service = SignupService(config, store, runner)
    auth = Authenticator(config.tokens)
    limiter = RateLimiter(config.rate_limit_rps, config.rate_limit_burst)
    usage = UsageReader(config.ledger_url)
    app = FastAPI(
        title="OpenClaw signup",
        version="1",
        summary="Provision isolated OpenClaw gateways: tenants.yaml edited, pulumi up run, result reported.",
        lifespan=_lifespan(service, usage),
        responses=ERRORS,
    )
    app.state.service = service
    install_error_handlers(app)

    async def caller(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> str:
        """The authenticated client's name. Requests count against the client's bucket, or the
        address's when the token is wrong, so guessing tokens is rate limited too."""
        client = auth.identify(credentials.credentials if credentials else None)
        key = f"client:{client}" if client else f"ip:{request.client.host if request.client else 'unknown'}"
        wait = limiter.acquire(key)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                429, "rate_limited", f"too many requests; retry in {seconds} s", headers={"Retry-After": str(seconds)}
            )
        if client is None:
            raise ApiError(
                401, "unauthorized", "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        return client

    def accepted(result: Accepted, response: Response) -> JobOut:
        response.headers["Location"] = f"/v1/jobs/{result.job.id}"
        if result.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return job_out(result.job)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/tenants", status_code=202, tags=["tenants"])
    def create_tenant(
        body: CreateTenant, client: Annotated[str, Depends(caller)], response: Response, key: IdempotencyKey = None
    ) -> JobOut:
        """Declare a tenant in tenants.yaml and queue its deployment; poll the job for the result."""
        return accepted(service.create_tenant(client, body, key), response)

    @app.get("/v1/tenants/{tenant_id}", tags=["tenants"])
    def get_tenant(tenant_id: TenantIdPath, client: Annotated[str, Depends(caller)]) -> TenantOut:
        """The tenant as tenants.yaml declares it and its last deployment."""
        fleet, tenant, latest, deployed = service.tenant(tenant_id)
        return TenantOut(
            id=tenant.id,
            state=tenant.state,
            plan=tenant.plan,
            model_provider=tenant.model_provider,
            shard=tenant.shard,
            target=tenant.target,
            url=deployed.url if deployed and deployed.url else fleet.url(tenant),
            deployment=None
            if latest is None
            else DeploymentOut(
                job_id=latest.id, kind=latest.kind, state=latest.state, finished_at=_time(latest.finished_at)
            ),
        )

    @app.get("/v1/tenants/{tenant_id}/usage", tags=["tenants"])
    def get_usage(
        tenant_id: TenantIdPath, client: Annotated[str, Depends(caller)], month: MonthQuery = None
    ) -> UsageOut:
        """The tenant's metered model usage of a month: tokens, requests and cost per model and day, with totals."""
        service.tenant(tenant_id)  # 404 for a tenant tenants.yaml does not declare
        return usage.tenant_usage(tenant_id, month)

    def change(action: StateAction, tenant_id: str, client: str, key: str | None, response: Response) -> JobOut:
        return accepted(service.change_state(client, tenant_id, action, key), response)

    @app.post("/v1/tenants/{tenant_id}/suspend", status_code=202, tags=["tenants"])
    def suspend(
        tenant_id: TenantIdPath, client: Annotated[str, Depends(caller)], response: Response, key: IdempotencyKey = None
    ) -> JobOut:
        """Stop the tenant's gateway; its network, data and token are kept."""
        return change("suspend", tenant_id, client, key, response)

    @app.post("/v1/tenants/{tenant_id}/resume", status_code=202, tags=["tenants"])
    def resume(
        tenant_id: TenantIdPath, client: Annotated[str, Depends(caller)], response: Response, key: IdempotencyKey = None
    ) -> JobOut:
        """Run the tenant's gateway again."""
        return change("resume", tenant_id, client, key, response)

    @app.delete("/v1/tenants/{tenant_id}", status_code=202, tags=["tenants"])
    def offboard(
        tenant_id: TenantIdPath, client: Annotated[str, Depends(caller)], response: Response, key: IdempotencyKey = None
    ) -> JobOut:
        """Offboard the tenant: its gateway goes; its data volume and token are kept."""
        return change("offboard", tenant_id, client, key, response)

    @app.get("/v1/jobs/{job_id}", tags=["jobs"])
    def get_job(job_id: Annotated[str, Path(max_length=64)], client: Annotated[str, Depends(caller)]) -> JobOut:
        """A job's state. The creating client's first read of a succeeded create carries the gateway token."""
        job, token = service.job(client, job_id)
        return job_out(job, token)

    @app.post("/v1/jobs/{job_id}/retry", status_code=202, tags=["jobs"])
    def retry_job(
        job_id: Annotated[str, Path(max_length=64)],
        client: Annotated[str, Depends(caller)],
        response: Response,
        key: IdempotencyKey = None,
    ) -> JobOut:
        """Deploy a failed job's change again (its tenants.yaml entry is still there)."""
        return accepted(service.retry(client, job_id, key), response)

    @app.get("/v1/audit", tags=["audit"])
    def audit(
        client: Annotated[str, Depends(caller)],
        tenant_id: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[AuditOut]:
        """Who did what, when, and how it ended; newest first."""
        return [
            AuditOut(
                at=_time(e.at) or "",
                actor=e.actor,
                action=e.action,
                tenant_id=e.tenant_id,
                job_id=e.job_id,
                result=e.result,
                detail=e.detail,
            )
            for e in store.audit_log(tenant_id=tenant_id, limit=limit)
        ]

    return app


def _lifespan(service: SignupService, usage: UsageReader) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The workers run while the app serves; the ledger, once opened, is closed with it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()
            usage.close()

    return lifespan


def job_out(job: Job, token: str | None = None) -> JobOut:
    return JobOut(
        id=job.id,
        kind=job.kind,
        state=job.state,
        tenant_id=job.tenant_id,
        shard=job.shard,
        stack=job.stack,
        created_at=_time(job.created_at) or "",
        started_at=_time(job.started_at),
        finished_at=_time(job.finished_at),
        update_id=job.update_id,
        attempts=job.attempts,
        url=job.url,
        error=JobError(code="update_failed", message=job.error) if job.error else None,
        token_delivered=job.token_state == "delivered",
        gateway_token=token,
    )


def _time(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
