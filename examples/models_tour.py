"""A tour of symbnn.models: build each model variant, list its sites, compare log densities.

Run ``python examples/models_tour.py --widths 8,8 --n 32``. For every variant (full space,
constrained quotient, W-asymmetric, a fan-in prior, and a classifier) the script prints the numpyro
sites with their shapes, and the log density at one canonical parameter point. It then checks two
facts: the full model's log density is unchanged by a random symmetry, and the constrained model's
log density exceeds the full one by exactly log|G|. The asymmetric model is a different model, so
neither fact holds for it.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.infer.util import log_density

from symbnn.models import Categorical, FanInNormalPrior, NormalPrior, bnn, predict
from symbnn.nets import MLP


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="8,8", help="hidden widths, comma separated")
    parser.add_argument("--activation", default="tanh", help="hidden activation")
    parser.add_argument("--n", type=int, default=32, help="number of data rows")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    return parser.parse_args(argv)


def make_data(seed: int, n: int):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, size=(n, 1))
    y = np.sin(2.0 * x[:, 0]) + 0.1 * rng.standard_normal(n)
    labels = (x[:, 0] > 0).astype(np.int32) + (x[:, 0] > 1).astype(np.int32)
    return x, y, labels


def describe_sites(model, sites, x, y) -> str:
    trace = handlers.trace(handlers.substitute(handlers.seed(model, 0), data=sites)).get_trace(
        x, y
    )
    parts = []
    for name, site in trace.items():
        if site["type"] != "sample":
            continue
        kind = "observed" if site["is_observed"] else "latent"
        if name == "quotient_prior":
            kind = "factor"
        parts.append(f"{name}{tuple(np.shape(site['value']))}:{kind}")
    return ", ".join(parts)


def main(argv=None) -> None:
    args = parse_args(argv)
    widths = tuple(int(w) for w in args.widths.split(",") if w)
    x, y, labels = make_data(args.seed, args.n)
    key = jax.random.PRNGKey(args.seed)
    k_init, k_group = jax.random.split(key)

    reg = MLP(1, widths, 1, args.activation, "regression")
    clf = MLP(1, widths, 3, args.activation, "classification")
    variants = {
        "full": (bnn(reg, prior=NormalPrior(1.0)), y),
        "constrained": (bnn(reg, prior=NormalPrior(1.0), reparam="constrained"), y),
        "asymmetric": (bnn(reg, prior=NormalPrior(1.0), reparam="asymmetric"), y),
        "fan-in prior": (bnn(reg, prior=FanInNormalPrior(1.0, overrides={"bL": 2.0})), y),
        "classifier": (bnn(clf, likelihood=Categorical()), labels),
    }

    results = {}
    for label, (model, obs) in variants.items():
        params, _ = model.group.canonicalize(model.mlp.init(k_init))
        sites = dict(params)
        if getattr(model.likelihood, "learned", False):
            sites["sigma"] = jnp.asarray(0.5)
        logp = float(log_density(model, (x, obs), {}, sites)[0])
        results[label] = (model, logp)
        print(f"[{label}] reparam={model.reparam!r} prior={type(model.prior).__name__} "
              f"likelihood={type(model.likelihood).__name__}")
        print(f"  sites: {describe_sites(model, sites, x, obs)}")
        print(f"  log density at a canonical point: {logp:.4f}")
        if model.reparam != "constrained":  # a moved point would leave the constrained support
            g = model.group.sample(k_group)
            moved = {**sites, **model.group.act(g, params)}
            logp_moved = float(log_density(model, (x, obs), {}, moved)[0])
            kinds = "/".join(model.group.spec.kinds)
            print(f"  after a random {kinds} element: {logp_moved:.4f}")
        if model.reparam == "asymmetric":
            counts = {name: int(mask.sum()) for name, (mask, _) in model.fixed_pattern().items()}
            print(f"  fixed (non-trainable) entries per hidden weight matrix: {counts}")
            print("  (W-asymmetric changes the model, the prior over functions: no invariance)")
        out = predict(model.mlp, model.params_of(sites), x[:3])
        print(f"  predict(x[:3]) shape {tuple(out.shape)}")

    full_model, full_logp = results["full"]
    _, constrained_logp = results["constrained"]
    log_g = full_model.group.log_size
    print(f"constrained - full = {constrained_logp - full_logp:.4f}; log|G| = {log_g:.4f}")


if __name__ == "__main__":
    main()
