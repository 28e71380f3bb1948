"""Type aliases shared across symbnn."""

from __future__ import annotations

from typing import Any

import jax

Array = jax.Array
PRNGKey = jax.Array
Params = dict[str, Array]
PyTree = Any

__all__ = ["Array", "PRNGKey", "Params", "PyTree"]
