"""The signup service: an HTTP API that declares tenants in tenants.yaml and deploys them with the
Pulumi Automation API, one worker per stack. Start it with ``tenantctl serve``.

Modules: config (environment), store (jobs and audit, SQLite), runner (``pulumi up``), worker (one
update per batch of jobs per stack), service (accepting changes, recovery, token delivery), edit_queue
(group commit of fleet edits), fleet_cache (the fleet as last parsed), schemas (bodies), errors (API
errors and refusals), app (HTTP).
"""
