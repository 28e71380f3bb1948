"""The MLP specification, its parameter layout and its forward pass.

The parameter layout lives here and nowhere else. Parameters are a dict in ``x @ W`` convention::

    {"W0": (d_in, h0), "b0": (h0,), "W1": (h0, h1), "b1": (h1,), ..., "WL": (h_last, d_out),
     "bL": (d_out,)}

Hidden unit ``j`` of hidden layer ``l`` is column ``j`` of ``W{l}``, entry ``j`` of ``b{l}`` and row
``j`` of ``W{l+1}``. Every function acts on one parameter dict; callers ``vmap`` over draws.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from symbnn.types import Array, Params, PRNGKey

__all__ = [
    "ACTIVATIONS",
    "HOMOGENEOUS_ACTIVATIONS",
    "MLP",
    "ODD_ACTIVATIONS",
    "OUTPUTS",
]


def _leaky_relu(z: Array) -> Array:
    return jax.nn.leaky_relu(z, negative_slope=0.01)


def _identity(z: Array) -> Array:
    return z


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "leaky_relu": _leaky_relu,
    "gelu": jax.nn.gelu,
    "swish": jax.nn.swish,
    "sigmoid": jax.nn.sigmoid,
    "erf": jax.scipy.special.erf,
    "sin": jnp.sin,
    "identity": _identity,
}
"""Pointwise activations by name."""

ODD_ACTIVATIONS = frozenset({"tanh", "erf", "sin", "identity"})
"""Activations with f(-z) = -f(z): hidden units admit sign flips."""

HOMOGENEOUS_ACTIVATIONS = frozenset({"relu", "leaky_relu", "identity"})
"""Positively homogeneous activations, f(c z) = c f(z) for c > 0: units admit positive rescaling."""

OUTPUTS = ("regression", "classification")


def _is_int(v: object) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


@dataclasses.dataclass(frozen=True)
class MLP:
    """A static, hashable specification of a multilayer perceptron.

    Parameters
    ----------
    in_features : int
        Input dimension (positive).
    widths : tuple of int
        Units of each hidden layer (each positive); ``()`` gives a linear model.
    out_features : int
        Output dimension: 1 for scalar regression, the number of classes (or 1 for a Bernoulli
        model) for classification.
    activation : str
        One of :data:`ACTIVATIONS`.
    output : {"regression", "classification"}
        What the outputs are: regression means or classification logits.
    use_bias : bool
        Whether every layer has a bias vector.
    """

    in_features: int
    widths: tuple[int, ...]
    out_features: int
    activation: str = "tanh"
    output: str = "regression"
    use_bias: bool = True

    def __post_init__(self) -> None:
        if not _is_int(self.in_features) or self.in_features < 1:
            raise ValueError(f"in_features must be a positive integer, got {self.in_features!r}")
        if not _is_int(self.out_features) or self.out_features < 1:
            raise ValueError(f"out_features must be a positive integer, got {self.out_features!r}")
        try:
            widths = tuple(self.widths)
        except TypeError:
            raise TypeError(
                f"widths must be a sequence of positive integers, got {self.widths!r}"
            ) from None
        bad = [w for w in widths if not _is_int(w) or w < 1]
        if bad:
            raise ValueError(f"widths must be positive integers, got {self.widths!r} (bad: {bad})")
        object.__setattr__(self, "widths", tuple(int(w) for w in widths))
        object.__setattr__(self, "in_features", int(self.in_features))
        object.__setattr__(self, "out_features", int(self.out_features))
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )
        if not isinstance(self.output, str) or self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if not isinstance(self.use_bias, bool):
            raise TypeError(f"use_bias must be a bool, got {self.use_bias!r}")

    # ----------------------------------------------------------------- layout
    @property
    def num_hidden(self) -> int:
        """Number of hidden layers."""
        return len(self.widths)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer sizes from input to output, ``(d_in, h0, ..., d_out)``."""
        return (self.in_features, *self.widths, self.out_features)

    def weight_name(self, layer: int) -> str:
        """Name of the weight matrix of layer ``layer`` (the last one is ``"WL"``)."""
        return "WL" if layer == self.num_hidden else f"W{layer}"

    def bias_name(self, layer: int) -> str:
        """Name of the bias vector of layer ``layer`` (the last one is ``"bL"``)."""
        return "bL" if layer == self.num_hidden else f"b{layer}"

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Ordered mapping from parameter name to shape."""
        shapes: dict[str, tuple[int, ...]] = {}
        sizes = self.sizes
        for layer in range(self.num_hidden + 1):
            shapes[self.weight_name(layer)] = (sizes[layer], sizes[layer + 1])
            if self.use_bias:
                shapes[self.bias_name(layer)] = (sizes[layer + 1],)
        return shapes

    @property
    def param_names(self) -> tuple[str, ...]:
        """Parameter names in layout order."""
        return tuple(self.param_shapes)

    @property
    def num_params(self) -> int:
        """Total number of scalar parameters."""
        return int(sum(np.prod(s) for s in self.param_shapes.values()))

    # ----------------------------------------------------------------- params
    def init(self, rng_key: PRNGKey, *, dtype=None) -> Params:
        """Draw every parameter iid from N(0, 1).

        Parameters
        ----------
        rng_key : jax.Array
            A JAX PRNG key.
        dtype : optional
            Floating dtype (default: JAX's default float).

        Returns
        -------
        dict
            One parameter dict in the layout of this spec.
        """
        dtype = dtype or jnp.result_type(float)
        keys = jax.random.split(rng_key, len(self.param_shapes))
        return {
            name: jax.random.normal(k, shape, dtype)
            for k, (name, shape) in zip(keys, self.param_shapes.items(), strict=True)
        }

    def check_params(self, params: Params, *, batch_ndim: int = 0) -> None:
        """Raise a ValueError unless ``params`` has exactly this spec's names and shapes.

        Parameters
        ----------
        params : dict
            A parameter dict, optionally with ``batch_ndim`` leading batch axes.
        batch_ndim : int
            Number of leading axes (e.g. 2 for (chain, draw)) before each parameter's shape.
        """
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
        expected = self.param_shapes
        missing = sorted(set(expected) - set(params))
        extra = sorted(set(params) - set(expected))
        if missing or extra:
            raise ValueError(
                f"params must have exactly the keys {list(expected)}; missing {missing}, "
                f"unexpected {extra}"
            )
        for name, shape in expected.items():
            got = tuple(jnp.shape(params[name]))
            if got[batch_ndim:] != shape or len(got) != batch_ndim + len(shape):
                raise ValueError(
                    f"params[{name!r}] must have shape {shape} after {batch_ndim} batch axes, "
                    f"got {got}"
                )

    # ---------------------------------------------------------------- forward
    def hidden(self, params: Params, x: Array) -> list[Array]:
        """Post-activation values of every hidden layer for inputs ``x`` of shape (n, d_in)."""
        act = ACTIVATIONS[self.activation]
        h = x
        out = []
        for layer in range(self.num_hidden):
            z = h @ params[self.weight_name(layer)]
            if self.use_bias:
                z = z + params[self.bias_name(layer)]
            h = act(z)
            out.append(h)
        return out

    def apply(self, params: Params, x: Array) -> Array:
        """Network outputs (regression means or logits).

        Parameters
        ----------
        params : dict
            One parameter dict.
        x : array, shape (n, in_features) or (in_features,)
            Inputs.

        Returns
        -------
        array, shape (n, out_features) or (out_features,)
        """
        x = jnp.asarray(x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.in_features:
            raise ValueError(
                f"x must have shape (n, {self.in_features}) or ({self.in_features},), "
                f"got {x.shape}"
            )
        squeeze = x.ndim == 1
        h = x[None] if squeeze else x
        hs = self.hidden(params, h)
        h = hs[-1] if hs else h
        out = h @ params[self.weight_name(self.num_hidden)]
        if self.use_bias:
            out = out + params[self.bias_name(self.num_hidden)]
        return out[0] if squeeze else out

    def __call__(self, params: Params, x: Array) -> Array:
        """Alias of :meth:`apply`."""
        return self.apply(params, x)
