"""What the tests and the benchmarks both run: generated fleets, the program under Pulumi's mock runtime,
a stack on the real engine, a customer's client of the gateways, bounded waits, and the signup service
in process with a stand-in for ``pulumi up``.

Plain functions and classes, no pytest fixtures: those live in the tests' conftest files.
"""
