"""Small fleet texts shared by the validation tests."""

# A minimal valid fleet. Line numbers below refer to it:
#  1 version     3 targets    10 defaults    13 tenants    14 acme    15 globex    17 initech
# A tenant appended with ``plus`` starts at line 20, its first field is on line 21.
BASE = """\
version: 1
domain: tenants.example.com
targets:
  local:
    type: docker
    capacity:
      cpus: 8
      memory_gib: 32
      networks: 10
defaults:
  target: local
  model_provider: kimi
tenants:
  - id: acme
  - id: globex
    plan: pro
  - id: initech
    plan: basic
    model_provider: anthropic
"""
