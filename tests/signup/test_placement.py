"""Where new tenants go."""

from __future__ import annotations

from tenants.load import parse_fleet
from tenants.placement import shard_for_new_tenant

FLEET = """
version: 1
domain: example.com
defaults: {target: local, model_provider: kimi}
targets:
  local: {type: docker, capacity: {cpus: 64, memory_gib: 256, networks: 100, storage_gib: 1000}}
  spare: {type: docker, capacity: {cpus: 64, memory_gib: 256, networks: 100, storage_gib: 1000}}
  cluster: {type: kubernetes, context: prod, capacity: {cpus: 64, memory_gib: 256, storage_gib: 1000}}
tenants:
  - {id: aaa, shard: docker-a}
  - {id: bbb, shard: docker-a}
  - {id: ccc, shard: docker-a}
  - {id: ddd, target: cluster, shard: k8s-1}
  - {id: eee, target: cluster, shard: k8s-1}
  - {id: fff, target: cluster, shard: k8s-2}
"""


def test_a_docker_target_keeps_its_one_shard() -> None:
    fleet = parse_fleet(FLEET)
    assert shard_for_new_tenant(fleet, None) == "docker-a"
    assert shard_for_new_tenant(fleet, "local") == "docker-a"


def test_a_cluster_tenant_goes_to_the_least_loaded_of_its_shards() -> None:
    assert shard_for_new_tenant(parse_fleet(FLEET), "cluster") == "k8s-2"


def test_a_target_without_tenants_goes_to_the_least_loaded_shard() -> None:
    assert shard_for_new_tenant(parse_fleet(FLEET), "spare") == "k8s-2"


def test_a_given_shard_wins() -> None:
    assert shard_for_new_tenant(parse_fleet(FLEET), "cluster", "k8s-1") == "k8s-1"
