"""numpyro models that symbnn did not write, seen through symbnn's parameter layout.

:class:`ForeignModel` wraps a plain numpyro BNN (for example the shape of numpyro's
``examples/bnn.py``: sites ``w1``, ``w2``, ``w3`` without biases) together with the
:class:`~symbnn.nets.MLP` it computes and a map from its site names to symbnn's (``W0``, ...,
``WL``, ``b0``, ..., ``bL``). Running it renames the sites as they are sampled, so numpyro's
``log_likelihood`` and ``Predictive`` work on draws under symbnn's names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from numpyro.primitives import Messenger

from symbnn.nets import MLP
from symbnn.symmetry import symmetry_of

__all__ = ["ForeignModel"]


class _Rename(Messenger):
    """A numpyro handler that renames sample sites by a dict."""

    def __init__(self, fn, names: dict[str, str]):
        self.names = names
        super().__init__(fn)

    def process_message(self, msg):
        if msg["type"] == "sample" and msg["name"] in self.names:
            msg["name"] = self.names[msg["name"]]


@dataclasses.dataclass(frozen=True)
class ForeignModel:
    """A numpyro model ``model(x, y=None)`` with the MLP it computes and a site-name map.

    Parameters
    ----------
    model : callable
        The numpyro model; its observed site must be ``"y"``.
    mlp : MLP
        The network it computes, in symbnn's layout (``x @ W``).
    names : tuple of (str, str)
        Pairs (its site name, symbnn's name), e.g. ``(("w1", "W0"), ("w2", "W1"))``.
    """

    model: Callable
    mlp: MLP
    names: tuple[tuple[str, str], ...]
    reparam = None

    def __post_init__(self) -> None:
        if not isinstance(self.mlp, MLP):
            raise TypeError(f"mlp must be a symbnn.MLP, got {type(self.mlp).__name__}")
        targets = [new for _, new in self.names]
        missing = [k for k in self.mlp.param_names if k not in targets]
        if missing:
            raise ValueError(f"names must map a site to every network parameter "
                             f"{self.mlp.param_names}; nothing maps to {missing}")

    def __call__(self, x, y=None):
        """Run the wrapped model with its sites renamed to symbnn's names."""
        with _Rename(None, dict(self.names)):
            return self.model(x, y=y)

    @property
    def group(self):
        """The finite symmetry group of the network."""
        return symmetry_of(self.mlp, finite=True)

    def params_of(self, draws: dict) -> dict:
        """The network parameters among ``draws`` (symbnn's names)."""
        return {k: draws[k] for k in self.mlp.param_names}
