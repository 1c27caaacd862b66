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
STATE_ACTIONS: Final[tuple[StateAction, ...]] = get_args(StateAction)

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

SecretRef = Literal["gateway_token", "provider_key"]
GATEWAY_TOKEN: Final[SecretRef] = "gateway_token"
PROVIDER_KEY: Final[SecretRef] = "provider_key"

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
