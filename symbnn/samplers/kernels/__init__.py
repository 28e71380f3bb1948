"""Sampling kernels as configuration objects, and the one registry the driver reads.

A new kernel is one module (a :class:`~symbnn.samplers.kernels.base.Kernel` subclass) and one
entry in :data:`KERNELS`.
"""

from __future__ import annotations

from symbnn.samplers.kernels.base import Kernel, Tuned, TuningError
from symbnn.samplers.kernels.hmc import HMC, NUTS
from symbnn.samplers.kernels.mams import MAMS
from symbnn.samplers.kernels.mclmc import MCLMC
from symbnn.samplers.kernels.smc import SMC

__all__ = ["HMC", "KERNELS", "MAMS", "MCLMC", "NUTS", "SMC", "Kernel", "Tuned", "TuningError",
           "resolve_kernel"]

KERNELS: dict[str, type[Kernel]] = {
    "nuts": NUTS,
    "hmc": HMC,
    "mclmc": MCLMC,
    "mams": MAMS,
    "smc": SMC,
}


def resolve_kernel(kernel) -> Kernel:
    """A kernel object from a kernel object or a registered name (default settings)."""
    if isinstance(kernel, Kernel):
        return kernel
    if isinstance(kernel, str) and kernel in KERNELS:
        return KERNELS[kernel]()
    raise ValueError(
        f"kernel must be one of {sorted(KERNELS)} or a kernel object such as "
        f"symbnn.samplers.NUTS(), got {kernel!r}"
    )
