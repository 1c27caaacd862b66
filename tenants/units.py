"""Conversions between the units the fleet speaks (GiB, CPUs) and those the backends take.

Each conversion is done one way: memory becomes whole MiB by rounding, as a Kubernetes quantity is
read; CPUs become thousandths (millicpus). The Docker provider's own forms (CFS quota, durations)
are in ``docker_forms``.
"""

from __future__ import annotations

MIB_PER_GIB = 1024
MILLICPUS_PER_CPU = 1000


def gib_to_mib(gib: float) -> int:
    """Whole MiB, rounded: 2.5 GiB → 2560."""
    return round(gib * MIB_PER_GIB)


def millicpus(cpus: float) -> int:
    """Thousandths of a CPU, rounded: 0.5 → 500."""
    return round(cpus * MILLICPUS_PER_CPU)


def cpu_quantity(cpus: float) -> str:
    """A Kubernetes CPU quantity: 1.5 → ``1500m``."""
    return f"{millicpus(cpus)}m"


def mib_quantity(mib: int) -> str:
    """A Kubernetes memory or storage quantity: whole GiB as ``4Gi``, anything else as ``2560Mi``."""
    whole_gib, rest = divmod(mib, MIB_PER_GIB)
    return f"{whole_gib}Gi" if rest == 0 else f"{mib}Mi"


def gib_quantity(gib: float) -> str:
    """A Kubernetes quantity of ``gib`` GiB: 20 → ``20Gi``, 2.5 → ``2560Mi``."""
    return mib_quantity(gib_to_mib(gib))
