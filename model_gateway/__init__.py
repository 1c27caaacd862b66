"""The shared model gateway: the only holder of provider keys, in front of every upstream model API.

It runs LiteLLM's proxy with this package's custom auth and usage hooks: each tenant calls it with its
own virtual key, within its plan's budget, rate limits and model allowlist, and every call is metered
per tenant in a durable ledger. The ledger module is also read on the operator's machine for reports.
"""
