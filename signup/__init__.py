"""The signup service: an HTTP API that declares tenants in tenants.yaml and deploys them with the
Pulumi Automation API, one worker per stack. Start it with ``tenantctl serve``.

Modules: settings (environment), store (jobs and audit, SQLite), runner (``pulumi up``), worker (one
update per batch of jobs per stack), service (accepting changes, recovery, token delivery), app (HTTP),
cli (``serve``).
"""
