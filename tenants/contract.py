"""Names that more than one part of the product relies on, declared once.

The fleet file, the program, the command line, the change review and the signup service all speak of
tenant states, the actions between them, the generated secrets a spec refers to, the stack outputs
the signup runner reads back, and the life of a signup job. Each of those names lives here, so
renaming one is one change that every consumer sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, get_args

# --- tenants ------------------------------------------------------------------------------------

TenantState = Literal["active", "suspended", "offboarded"]
TENANT_STATES: Final[tuple[TenantState, ...]] = get_args(TenantState)
DEFAULT_STATE: Final[TenantState] = "active"

StateAction = Literal["suspend", "resume", "offboard"]

# What a state change is called after the fact ("tenant acme was resumed"); also the diff's kind.
StateChange = Literal["resumed", "suspended", "offboarded"]


@dataclass(frozen=True)
class Transition:
    """One action on a tenant: the state it leads to, its past tense, and what the tenant keeps."""

    action: StateAction
    state: TenantState
    past: StateChange
    keeps: str  # "" when nothing is taken away


TRANSITIONS: Final[Mapping[StateAction, Transition]] = MappingProxyType(
    {
        "suspend": Transition("suspend", "suspended", "suspended", "its gateway stops; its data and token are kept"),
        "resume": Transition("resume", "active", "resumed", ""),
        "offboard": Transition("offboard", "offboarded", "offboarded", "only its data and token are kept"),
    }
)
INTO_STATE: Final[Mapping[TenantState, Transition]] = MappingProxyType({t.state: t for t in TRANSITIONS.values()})

# --- generated secrets a spec refers to (their values never appear in a spec) ---------------------

# A tenant holds its gateway token and its virtual model key; only the model gateway holds the
# providers' master keys, one secret per provider.
SecretRef = Literal[
    "gateway_token",
    "model_key",
    "kimi_master_key",
    "minimax_master_key",
    "anthropic_master_key",
    "openai_master_key",
    "openrouter_master_key",
    "ledger_url",
    "backup_password",
    "backup_ssh_key",
    "backup_s3_access_key",
    "backup_s3_secret_key",
]
GATEWAY_TOKEN: Final[SecretRef] = "gateway_token"
MODEL_KEY: Final[SecretRef] = "model_key"
# The model gateway's ledger when the operator runs one (PostgreSQL); unset, the gateway keeps its own SQLite file.
LEDGER_URL: Final[SecretRef] = "ledger_url"
# The fleet's backup repository: its restic password, and an SFTP key or S3 keys (only the backup agents get them).
BACKUP_PASSWORD: Final[SecretRef] = "backup_password"
BACKUP_SSH_KEY: Final[SecretRef] = "backup_ssh_key"
BACKUP_S3_ACCESS_KEY: Final[SecretRef] = "backup_s3_access_key"
BACKUP_S3_SECRET_KEY: Final[SecretRef] = "backup_s3_secret_key"

# --- stack outputs (exported by __main__.py, read by the signup runner) ---------------------------

OUTPUT_TENANTS: Final = "tenants"  # tenant id → {url, state, plan, shard}
OUTPUT_TOKENS: Final = "tenantTokens"  # tenant id → gateway token (secret)
TENANT_URL: Final = "url"  # the key of a tenant's URL in OUTPUT_TENANTS and in TenantStack outputs

# --- signup jobs --------------------------------------------------------------------------------

JobKind = Literal["create", "suspend", "resume", "offboard"]
JOB_KINDS: Final[tuple[JobKind, ...]] = get_args(JobKind)
JobState = Literal["pending", "queued", "running", "succeeded", "failed"]
JOB_STATES: Final[tuple[JobState, ...]] = get_args(JobState)
FinishedState = Literal["succeeded", "failed"]
FINISHED_STATES: Final[tuple[FinishedState, ...]] = get_args(FinishedState)
UNFINISHED_STATES: Final[tuple[JobState, ...]] = tuple(s for s in JOB_STATES if s not in FINISHED_STATES)

# --- the model gateway (one per target; tenants reach it with their virtual key) -----------------

MODEL_KEY_ENV: Final = "OPENCLAW_MODEL_KEY"  # the tenant's virtual key, in its environment
MODEL_GATEWAY_PORT: Final = 4000
MODEL_GATEWAY_CONFIG_DIR: Final = "/etc/openclaw-models"
MODEL_GATEWAY_MODELS_PATH: Final = f"{MODEL_GATEWAY_CONFIG_DIR}/gateway.json"  # static: models and upstreams
MODEL_GATEWAY_REGISTRY_PATH: Final = f"{MODEL_GATEWAY_CONFIG_DIR}/tenants.json"  # key hashes, rewritten in place
MODEL_GATEWAY_DATA_DIR: Final = "/var/lib/openclaw-models"
MODEL_GATEWAY_LEDGER_ENV: Final = "OPENCLAW_LEDGER_URL"
MODEL_GATEWAY_UID: Final = 10001
MODEL_GATEWAY_FILES_VERSION: Final = 1  # the "version" of gateway.json and tenants.json
OUTPUT_MODEL_KEYS: Final = "tenantModelKeys"  # tenant id → virtual model key (secret)
