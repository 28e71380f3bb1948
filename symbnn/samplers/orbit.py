"""Moves applied after every transition: orbit moves, folding, and the folded kernel.

Orbit moves (``orbit_moves=True``), after each transition:

- finite groups: a uniformly drawn group element is applied. The posterior is invariant, so the move
  is always accepted, and a full-space chain visits all members of an orbit;
- positively homogeneous activations (ReLU, leaky ReLU, identity): an exact generalised Gibbs draw
  of every hidden unit's scale along its orbit, layer by layer (below); no likelihood evaluation,
  and the log density and gradient are transformed analytically.

Folding (``space="quotient"``): canonicalisation of the state after every transition. A signed
permutation is orthogonal, so the gradient and, for kernels whose state carries a persistent
momentum (MCLMC), the momentum are acted on by the same group element as the position; the chain
then continues exactly as its full-space image would. :func:`with_move` turns a blackjax
``SamplingAlgorithm`` and a move into another ``SamplingAlgorithm`` (the folded kernel).

The scale move: the network function does not change when hidden unit ``j`` of layer ``l`` is
rescaled by ``c > 0`` (incoming weights and bias times ``c``, outgoing weights over ``c``), so only
the Gaussian prior varies along that orbit. The generalised Gibbs move of Liu & Sabatti (2000,
JASA, "Generalized Gibbs sampler and multigrid Monte Carlo") draws ``c`` from
``p(c) ∝ π(g_c θ) |det J(g_c)| / c``. With ``A = Σ in² / (2 s_in²)`` over the ``n_in`` incoming
entries (bias included) and ``B = Σ out² / (2 s_out²)`` over the ``n_out`` outgoing ones,
``t = c²`` is GIG(p=k/2, a=2A, b=2B) with ``k = n_in - n_out`` (:mod:`symbnn.samplers.gig`). The
units of one layer act on disjoint coordinates, so a whole layer is drawn at once. A momentum is
left unchanged by the scale move: the extended target is the posterior times a momentum law that
does not depend on the position, and a posterior-invariant move of the position alone keeps it.
On the quotient the scale move commutes with permutations, so kernel, scale move and folding still
form a valid kernel for the quotient. The constrained space has no orbit moves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from symbnn.nets import HOMOGENEOUS_ACTIVATIONS, MLP
from symbnn.samplers.gig import log_gig

if TYPE_CHECKING:
    from blackjax.base import SamplingAlgorithm
from symbnn.symmetry import Group, scalings
from symbnn.types import Array, Params, PRNGKey

__all__ = ["apply_to_state", "finite_orbit_move", "fold_move", "identity_move", "make_move",
           "make_scale_move", "scale_conditionals", "scale_gibbs", "with_move"]


def _net_part(mlp: MLP, tree: dict) -> dict:
    return {k: tree[k] for k in mlp.param_names}


def _act_on(group: Group, g, tree: dict) -> dict:
    out = dict(tree)
    out.update(group.act(g, _net_part(group.spec.mlp, tree)))
    return out


def apply_to_state(group: Group, g, state):
    """Act with ``g`` on a blackjax state's position, gradient and (if any) momentum."""
    fields = [f for f in ("position", "logdensity_grad", "momentum") if f in state._fields]
    return state._replace(**{f: _act_on(group, g, getattr(state, f)) for f in fields})


def identity_move(rng_key: PRNGKey, state):
    """The move that does nothing."""
    del rng_key
    return state


def fold_move(group: Group) -> Callable:
    """Canonicalisation of the state: ``(rng_key, state) -> state`` (the key is not used)."""

    def fold(rng_key, state):
        del rng_key
        _, g = group.canonicalize(_net_part(group.spec.mlp, state.position))
        return apply_to_state(group, g, state)

    return fold


def finite_orbit_move(group: Group) -> Callable:
    """A uniformly drawn element of the finite group, applied to the state."""

    def orbit_move(rng_key, state):
        return apply_to_state(group, group.sample(rng_key), state)

    return orbit_move


def _then(first: Callable, second: Callable) -> Callable:
    def both(rng_key, state):
        k_first, k_second = jax.random.split(rng_key)
        return second(k_second, first(k_first, state))

    return both


def make_move(*, space: str, group: Group | None, orbit_moves: bool, model=None) -> Callable:
    """The function ``(rng_key, state) -> state`` applied after every transition.

    Parameters
    ----------
    space : {"full", "constrained", "quotient"}
    group : Group or None
        The finite symmetry group (signed permutations). Needed for ``space="quotient"`` and for
        ``orbit_moves``.
    orbit_moves : bool
        Add the orbit moves of the module doc.
    model : BNNModel, optional
        Its prior defines the scale move (positively homogeneous activations); without it only
        the finite move is made.
    """
    if orbit_moves and space == "constrained":
        raise ValueError("orbit_moves=True is not available for space='constrained'")
    if orbit_moves and model is not None and getattr(model, "reparam", None) is not None:
        raise ValueError(
            f"orbit_moves=True needs a model with reparam=None, got reparam={model.reparam!r}"
        )
    homogeneous = model is not None and model.mlp.activation in HOMOGENEOUS_ACTIVATIONS
    scale = make_scale_move(model.mlp, model.prior) if orbit_moves and homogeneous else None
    if space == "quotient":
        if group is None:
            raise ValueError("space='quotient' needs a symmetry group")
        return fold_move(group) if scale is None else _then(scale, fold_move(group))
    if orbit_moves:
        if group is None:
            raise ValueError("orbit_moves=True needs a symmetry group")
        move = finite_orbit_move(group)
        return move if scale is None else _then(move, scale)
    return identity_move


def with_move(algorithm: SamplingAlgorithm, move: Callable) -> SamplingAlgorithm:
    """The kernel of ``algorithm`` followed by ``move``: a blackjax ``SamplingAlgorithm``.

    ``step(rng_key, state)`` splits the key in two, one for the kernel and one for the move (also
    for :func:`identity_move`, so the kernel's keys do not depend on the move). With
    :func:`fold_move` this is the folded kernel of the quotient space.
    """

    def step(rng_key, state):
        k_kernel, k_move = jax.random.split(rng_key)
        state, info = algorithm.step(k_kernel, state)
        return move(k_move, state), info

    from blackjax.base import SamplingAlgorithm

    return SamplingAlgorithm(algorithm.init, step)


def _check_homogeneous(mlp: MLP) -> None:
    if not isinstance(mlp, MLP):
        raise TypeError(f"mlp must be a symbnn.MLP, got {type(mlp).__name__}")
    if mlp.activation not in HOMOGENEOUS_ACTIVATIONS:
        raise ValueError(
            f"mlp.activation must be positively homogeneous, one of "
            f"{sorted(HOMOGENEOUS_ACTIVATIONS)}, for scale moves; got {mlp.activation!r}"
        )


def scale_conditionals(mlp: MLP, prior, params: Params, layer: int) -> tuple[Array, Array, Array]:
    """GIG parameters ``(p, a, b)`` of ``c²`` for every unit of hidden layer ``layer``.

    Parameters
    ----------
    mlp : MLP
    prior : NormalPrior or FanInNormalPrior
        Anything with ``scale_of(mlp, name)``: iid centred Normal entries per array.
    params : dict
        One parameter dict.
    layer : int
        Hidden layer index, ``0 <= layer < mlp.num_hidden``.

    Returns
    -------
    p, a, b : arrays of shape (h_layer,)
    """
    _check_homogeneous(mlp)
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < mlp.num_hidden:
        raise ValueError(
            f"layer must be a hidden layer index in [0, {mlp.num_hidden}), got {layer!r}"
        )
    w_in, w_out = mlp.weight_name(layer), mlp.weight_name(layer + 1)
    a = jnp.sum(params[w_in] ** 2, axis=0) / prior.scale_of(mlp, w_in) ** 2
    n_in = mlp.sizes[layer]
    if mlp.use_bias:
        b_in = mlp.bias_name(layer)
        a = a + params[b_in] ** 2 / prior.scale_of(mlp, b_in) ** 2
        n_in += 1
    b = jnp.sum(params[w_out] ** 2, axis=1) / prior.scale_of(mlp, w_out) ** 2
    p = jnp.full_like(a, 0.5 * (n_in - mlp.sizes[layer + 2]))
    return p, a, b


def scale_gibbs(rng_key: PRNGKey, mlp: MLP, prior, params: Params) -> tuple[Params, tuple]:
    """One generalised Gibbs sweep along the scaling orbits of all hidden units.

    Layer by layer, every unit's scale ``c`` is drawn from its exact conditional (module doc) and
    applied. Where the conditional is improper (possible only when a unit's incoming or outgoing
    weights are all exactly zero, a null set under the posterior) that unit is left unchanged.

    Parameters
    ----------
    rng_key : jax.Array
    mlp : MLP
        With a positively homogeneous activation.
    prior : NormalPrior or FanInNormalPrior
    params : dict
        One parameter dict.

    Returns
    -------
    params : dict
        The moved parameters (same network function).
    scales : tuple of arrays, one (h_l,) per hidden layer
        The applied factors ``c``.
    """
    _check_homogeneous(mlp)
    group = scalings(mlp)
    params, scales = dict(params), []
    for layer, key in enumerate(jax.random.split(rng_key, mlp.num_hidden)):
        p, a, b = scale_conditionals(mlp, prior, params, layer)
        log_t = log_gig(key, p, a, b)
        c = jnp.where(jnp.isnan(log_t), 1.0, jnp.exp(0.5 * log_t)).astype(a.dtype)
        g = group.identity()
        g = g._replace(scale=tuple(c if i == layer else s for i, s in enumerate(g.scale)))
        params = group.act(g, params)
        scales.append(c)
    return params, tuple(scales)


def make_scale_move(mlp: MLP, prior) -> Callable:
    """The scale Gibbs sweep as a move ``(rng_key, state) -> state`` on blackjax HMC/NUTS states.

    The state's ``position`` holds the network arrays (unconstrained = constrained: Normal sites)
    and possibly other sites (``"sigma"``), which are left untouched. The log density and its
    gradient are transformed analytically rather than re-evaluated, so the move costs no gradient
    evaluation: with ``D`` the diagonal linear map ``θ -> g_c θ`` and the log-likelihood invariant
    under it, ``∇ loglik(Dθ) = D⁻¹ ∇ loglik(θ)`` (the gradient is acted on by ``g_{1/c}``), and
    the prior term, known in closed form, is swapped: ``L' = L - log π(θ) + log π(Dθ)``,
    ``∇L' = D⁻¹(∇L - ∇ log π(θ)) + ∇ log π(Dθ)``. This holds for any log density whose only
    non-invariant part in the network arrays is ``prior`` (the full-space BNN model).
    """
    _check_homogeneous(mlp)
    group = scalings(mlp)
    names = mlp.param_names

    def log_prior(params):
        return prior.log_prob(mlp, params)

    prior_and_grad = jax.value_and_grad(log_prior)

    def move(rng_key: PRNGKey, state):
        pos, grad = dict(state.position), dict(state.logdensity_grad)
        old = {k: pos[k] for k in names}
        new, scales = scale_gibbs(rng_key, mlp, prior, old)
        lp_old, g_old = prior_and_grad(old)
        lp_new, g_new = prior_and_grad(new)
        g = group.identity()._replace(scale=tuple(1.0 / c for c in scales))
        lik_grad = group.act(g, {k: grad[k] - g_old[k] for k in names})
        pos.update(new)
        grad.update({k: lik_grad[k] + g_new[k] for k in names})
        logdensity = state.logdensity - lp_old + lp_new
        return state._replace(position=pos, logdensity=logdensity, logdensity_grad=grad)

    return move
