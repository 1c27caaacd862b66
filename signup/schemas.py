"""Request and response bodies. Tenant fields reuse the fleet model's types and validators, so the API
refuses exactly what tenants.yaml would refuse; what depends on the fleet (known plans, targets,
capacity) is checked by validating the whole new fleet before it is written."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tenants.contract import JobKind, JobState, TenantState
from tenants.model import (
    LabelKey,
    LabelValue,
    ModelProvider,
    Overrides,
    check_name,
    check_tenant_id,
)

TenantId = Annotated[str, Field(strict=True), AfterValidator(check_tenant_id)]
Name = Annotated[str, Field(strict=True, min_length=1, max_length=64)]
ShardName = Annotated[str, Field(strict=True), AfterValidator(check_name)]


class CreateTenant(BaseModel):
    """A new tenant. ``id`` is generated when left out; ``shard`` is the least loaded one when left out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: TenantId | None = None
    plan: Name
    model_provider: ModelProvider
    target: Name | None = None
    shard: ShardName | None = None
    channel: ShardName | None = None
    labels: dict[LabelKey, LabelValue] | None = None
    overrides: Overrides | None = None

    def fields(self, tenant_id: str, shard: str, default_shard: str) -> dict[str, object]:
        """The entry to write into tenants.yaml: only what differs from the fleet's defaults is left to them."""
        fields: dict[str, object] = {"id": tenant_id, "plan": self.plan, "model_provider": self.model_provider}
        if self.target is not None:
            fields["target"] = self.target
        if shard != default_shard:
            fields["shard"] = shard
        if self.channel is not None:
            fields["channel"] = self.channel
        if self.labels:
            fields["labels"] = dict(self.labels)
        if self.overrides is not None:
            overrides = self.overrides.model_dump(exclude_none=True)
            if overrides:
                fields["overrides"] = overrides
        return fields


class JobError(BaseModel):
    code: str
    message: str


class JobOut(BaseModel):
    """A requested change and how far it got. ``gateway_token`` appears once: in the first read of a
    succeeded create job by the client that created the tenant."""

    id: str
    kind: JobKind
    state: JobState
    tenant_id: str
    shard: str
    stack: str
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    update_id: str | None = None
    attempts: int = 0
    url: str | None = None
    error: JobError | None = None
    token_delivered: bool = False
    gateway_token: str | None = None


class DeploymentOut(BaseModel):
    job_id: str
    kind: JobKind
    state: JobState
    finished_at: str | None = None


class TenantOut(BaseModel):
    """A tenant as tenants.yaml declares it, and its last deployment."""

    id: str
    state: TenantState
    plan: str
    model_provider: ModelProvider
    shard: str
    target: str
    url: str
    deployment: DeploymentOut | None = None


class AuditOut(BaseModel):
    at: str
    actor: str
    action: str
    tenant_id: str
    job_id: str | None
    result: str
    detail: str


class UsageTotalOut(BaseModel):
    """Calls added up; ``cost_usd`` is exact, with the ledger's ten decimal places."""

    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: str


class ModelUsageOut(UsageTotalOut):
    model: str


class DayUsageOut(UsageTotalOut):
    model: str
    day: str


class UsageOut(BaseModel):
    """A tenant's metered model usage of one month (UTC): in total, per model, per model and day."""

    tenant_id: str
    month: str
    total: UsageTotalOut
    models: list[ModelUsageOut]
    days: list[DayUsageOut]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[str] | None = None


class ErrorOut(BaseModel):
    error: ErrorBody
