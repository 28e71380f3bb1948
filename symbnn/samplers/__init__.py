"""blackjax drivers: adaptation, chain layouts, spaces, orbit moves, checkpoints."""

from symbnn.samplers.checkpoint import CheckpointError
from symbnn.samplers.driver import sample
from symbnn.samplers.init import INITS
from symbnn.samplers.kernels import KERNELS, KernelConfig
from symbnn.samplers.layouts import LAYOUTS
from symbnn.samplers.spaces import SPACES

__all__ = ["INITS", "KERNELS", "LAYOUTS", "SPACES", "CheckpointError", "KernelConfig", "sample"]
