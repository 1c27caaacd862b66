"""``tenantctl``: the fleet's command line, thin over ``tenants`` and ``signup``."""
