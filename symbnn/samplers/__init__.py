"""blackjax drivers: kernels, spaces, chain layouts, orbit moves, checkpoints."""

from symbnn.samplers.checkpoint import CheckpointError
from symbnn.samplers.driver import sample
from symbnn.samplers.init import INITS
from symbnn.samplers.kernels import HMC, KERNELS, MAMS, MCLMC, NUTS, SMC, Kernel, TuningError
from symbnn.samplers.layouts import LAYOUTS
from symbnn.samplers.spaces import SPACES

__all__ = ["HMC", "INITS", "KERNELS", "LAYOUTS", "MAMS", "MCLMC", "NUTS", "SMC", "SPACES",
           "CheckpointError", "Kernel", "TuningError", "sample"]
