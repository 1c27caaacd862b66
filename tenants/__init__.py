"""The fleet model and pure logic of openclaw-tenants. Never imports pulumi."""
