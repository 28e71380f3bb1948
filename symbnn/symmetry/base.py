"""Group elements acting on MLP parameters, and the group abstraction.

Every symmetry symbnn knows acts on hidden units (permute, flip the sign of, or positively rescale a
unit: its incoming weights and bias, and its outgoing weights) or on the output layer (translate the
logits of a softmax). One element type covers them all, so that any product of these groups composes
correctly (permutations and sign flips form a semidirect product, not a direct one):

- ``perm[l]``  (h_l,) int:   new unit ``j`` of layer ``l`` is old unit ``perm[l][j]``;
- ``sign[l]``  (h_l,) ±1 and ``scale[l]`` (h_l,) > 0: the new unit ``j`` is multiplied by
  ``a_j = sign[l][j] * scale[l][j]`` (incoming weights and bias times ``a_j``, outgoing weights over
  ``a_j``);
- ``shift_w`` (h_last,) and ``shift_b`` (): added to every column of ``WL`` and to ``bL``, applied
  after the unit transformations.

A group (:class:`Group`) is a NamedTuple of pure functions, in the manner of optax's
``GradientTransformation``: which components it varies is fixed by its :class:`GroupSpec`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from symbnn.nets import MLP
from symbnn.types import Array, Params, PRNGKey

__all__ = [
    "Group",
    "GroupElement",
    "GroupSpec",
    "act",
    "compose",
    "identity",
    "inverse",
]


class GroupElement(NamedTuple):
    """A symmetry transformation of an MLP's parameters (a pytree of arrays).

    Attributes
    ----------
    perm : tuple of int arrays, one (h_l,) per hidden layer
    sign : tuple of float arrays of ±1, one (h_l,) per hidden layer
    scale : tuple of positive float arrays, one (h_l,) per hidden layer
    shift_w : array (h_last,) (or (in_features,) without hidden layers)
        Added to every column of the output weights.
    shift_b : array ()
        Added to every output bias.
    """

    perm: tuple[Array, ...]
    sign: tuple[Array, ...]
    scale: tuple[Array, ...]
    shift_w: Array
    shift_b: Array


@dataclasses.dataclass(frozen=True)
class GroupSpec:
    """Which transformations a group varies (static configuration, hashable)."""

    mlp: MLP
    permute: bool = False
    flip: bool = False
    scale: bool = False
    shift: bool = False
    scale_canonical: str = "unit_norm"

    @property
    def kinds(self) -> tuple[str, ...]:
        """Names of the varied components."""
        names = ("permutation", "sign", "scale", "shift")
        flags = (self.permute, self.flip, self.scale, self.shift)
        return tuple(n for n, f in zip(names, flags, strict=True) if f)

    @property
    def finite(self) -> bool:
        """Whether the group is finite (no continuous component)."""
        return not (self.scale or self.shift)


class Group(NamedTuple):
    """A symmetry group acting on the parameters of one MLP.

    Attributes
    ----------
    identity : callable () -> GroupElement
    sample : callable (rng_key) -> GroupElement
        Uniform on finite groups; for continuous components (scale, shift) a log-normal scale and a
        normal shift, since these groups have no uniform distribution.
    inverse : callable (g) -> GroupElement
    compose : callable (g, h) -> GroupElement
        The element that applies ``h`` first, then ``g``.
    act : callable (g, params) -> params
    canonicalize : callable (params) -> (params, g)
        Hard canonical form: ``act(g, params)`` equals the returned params, which are the same
        for every member of the orbit of ``params``.
    log_size : float
        Log of the number of elements (``inf`` for continuous groups).
    spec : GroupSpec
        Static description: the MLP and which components vary.
    """

    identity: Callable[[], GroupElement]
    sample: Callable[[PRNGKey], GroupElement]
    inverse: Callable[[GroupElement], GroupElement]
    compose: Callable[[GroupElement, GroupElement], GroupElement]
    act: Callable[[GroupElement, Params], Params]
    canonicalize: Callable[[Params], tuple[Params, GroupElement]]
    log_size: float
    spec: GroupSpec

    @property
    def description(self) -> str:
        """What the group varies and what it acts on."""
        mlp = self.spec.mlp
        return (
            f"{' x '.join(self.spec.kinds) or 'trivial'} group on an MLP {mlp.in_features}"
            f"-{'-'.join(map(str, mlp.widths))}-{mlp.out_features} ({mlp.activation})"
        )


def _shift_size(mlp: MLP) -> int:
    return mlp.widths[-1] if mlp.widths else mlp.in_features


def identity(mlp: MLP, dtype=None) -> GroupElement:
    """The identity element for ``mlp``."""
    dtype = dtype or jnp.result_type(float)
    return GroupElement(
        perm=tuple(jnp.arange(h, dtype=jnp.int32) for h in mlp.widths),
        sign=tuple(jnp.ones(h, dtype) for h in mlp.widths),
        scale=tuple(jnp.ones(h, dtype) for h in mlp.widths),
        shift_w=jnp.zeros(_shift_size(mlp), dtype),
        shift_b=jnp.zeros((), dtype),
    )


def act(mlp: MLP, g: GroupElement, params: Params) -> Params:
    """Apply ``g`` to one parameter dict.

    Parameters
    ----------
    mlp : MLP
    g : GroupElement
    params : dict
        One parameter dict in the layout of ``mlp``.

    Returns
    -------
    dict
        The transformed parameters (a new dict; inputs are not modified).
    """
    p = dict(params)
    for layer in range(mlp.num_hidden):
        perm = g.perm[layer]
        a = (g.sign[layer] * g.scale[layer]).astype(p[mlp.weight_name(layer)].dtype)
        w_in, w_out = mlp.weight_name(layer), mlp.weight_name(layer + 1)
        p[w_in] = p[w_in][:, perm] * a
        if mlp.use_bias:
            b = mlp.bias_name(layer)
            p[b] = p[b][perm] * a
        p[w_out] = p[w_out][perm, :] / a[:, None]
    wl = mlp.weight_name(mlp.num_hidden)
    p[wl] = p[wl] + g.shift_w.astype(p[wl].dtype)[:, None]
    if mlp.use_bias:
        bl = mlp.bias_name(mlp.num_hidden)
        p[bl] = p[bl] + g.shift_b.astype(p[bl].dtype)
    return p


def compose(mlp: MLP, g: GroupElement, h: GroupElement) -> GroupElement:
    """The element ``g o h``: apply ``h`` first, then ``g``."""
    perm = tuple(hp[gp] for gp, hp in zip(g.perm, h.perm, strict=True))
    sign = tuple(gs * hs[gp] for gp, gs, hs in zip(g.perm, g.sign, h.sign, strict=True))
    scale = tuple(gc * hc[gp] for gp, gc, hc in zip(g.perm, g.scale, h.scale, strict=True))
    if mlp.num_hidden:
        gp, ga = g.perm[-1], g.sign[-1] * g.scale[-1]
        shift_w = h.shift_w[gp] / ga + g.shift_w
    else:
        shift_w = h.shift_w + g.shift_w
    return GroupElement(perm, sign, scale, shift_w, g.shift_b + h.shift_b)


def inverse(mlp: MLP, g: GroupElement) -> GroupElement:
    """The inverse of ``g``."""
    inv = tuple(jnp.argsort(p).astype(jnp.int32) for p in g.perm)
    sign = tuple(s[i] for s, i in zip(g.sign, inv, strict=True))
    scale = tuple(1.0 / c[i] for c, i in zip(g.scale, inv, strict=True))
    if mlp.num_hidden:
        i, a = inv[-1], g.sign[-1] * g.scale[-1]
        shift_w = -g.shift_w[i] * a[i]
    else:
        shift_w = -g.shift_w
    return GroupElement(inv, sign, scale, shift_w, -g.shift_b)


def sample_element(spec: GroupSpec, rng_key: PRNGKey, dtype=None) -> GroupElement:
    """Draw an element that varies the components of ``spec`` (uniform on finite parts)."""
    mlp = spec.mlp
    g = identity(mlp, dtype)
    dtype = g.shift_b.dtype
    k_perm, k_sign, k_scale, k_shift = jax.random.split(rng_key, 4)
    n = max(mlp.num_hidden, 1)
    perm, sign, scale = g.perm, g.sign, g.scale
    if spec.permute:
        keys = jax.random.split(k_perm, n)
        perm = tuple(
            jax.random.permutation(k, h).astype(jnp.int32)
            for k, h in zip(keys, mlp.widths, strict=False)
        )
    if spec.flip:
        keys = jax.random.split(k_sign, n)
        sign = tuple(
            jax.random.rademacher(k, (h,), dtype)
            for k, h in zip(keys, mlp.widths, strict=False)
        )
    if spec.scale:
        keys = jax.random.split(k_scale, n)
        scale = tuple(
            jnp.exp(0.5 * jax.random.normal(k, (h,), dtype))
            for k, h in zip(keys, mlp.widths, strict=False)
        )
    shift_w, shift_b = g.shift_w, g.shift_b
    if spec.shift:
        kw, kb = jax.random.split(k_shift)
        shift_w = jax.random.normal(kw, shift_w.shape, dtype)
        shift_b = jax.random.normal(kb, (), dtype)
    return GroupElement(perm, sign, scale, shift_w, shift_b)
