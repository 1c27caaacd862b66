"""``python -m tenantctl``."""

from tenantctl.app import app

app()
