"""The result of a run: draws, statistics, the model, and conversions (arviz, netCDF)."""

from __future__ import annotations

import dataclasses
import functools
import json
import warnings
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from symbnn.nets import MLP
from symbnn.symmetry import batched
from symbnn.types import PRNGKey

__all__ = ["Posterior", "load", "model_from_config", "model_to_config"]


def _encode(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: _encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return {"__type__": type(obj).__name__, **fields}
    if isinstance(obj, tuple | list):
        return [_encode(v) for v in obj]
    if isinstance(obj, np.ndarray | jax.Array):
        return {"__array__": np.asarray(obj).tolist()}
    return obj


def _decode(obj: Any) -> Any:
    import symbnn.models as models

    if isinstance(obj, list):
        return tuple(_decode(v) for v in obj)
    if isinstance(obj, dict) and "__array__" in obj:
        return np.asarray(obj["__array__"])
    if isinstance(obj, dict) and "__type__" in obj:
        name = obj["__type__"]
        cls = MLP if name == "MLP" else getattr(models, name, None)
        if cls is None:
            raise ValueError(f"cannot rebuild a model component of unknown type {name!r}")
        kwargs = {k: _decode(v) for k, v in obj.items() if k != "__type__"}
        return cls(**kwargs)
    return obj


def model_to_config(model) -> str:
    """A JSON description of a BNN model (its spec, prior, likelihood and reparameterisation)."""
    return json.dumps(_encode(model))


def model_from_config(config: str):
    """Rebuild a model from :func:`model_to_config`'s JSON."""
    return _decode(json.loads(config))


@functools.partial(jax.jit, static_argnums=0)
def _log_likelihood(model, samples: dict, x, y):
    from numpyro.infer.util import log_likelihood

    return log_likelihood(model, samples, x, y=y, batch_ndims=2)["y"]


@dataclasses.dataclass
class Posterior:
    """Posterior draws of a BNN with leading (chain, draw) axes.

    Attributes
    ----------
    model : BNNModel
    draws : dict of numpy arrays
        Site values in constrained space, (chain, draw, ...), including ``"sigma"`` if learned.
    sample_stats : dict of numpy arrays
        Per-draw sampler statistics, (chain, draw).
    space : str
        The space sampled in ("full", "constrained", "quotient").
    x, y : numpy arrays, optional
        The training data.
    attrs : dict
        Settings and timings of the run.
    """

    model: Any
    draws: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    space: str = "full"
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    attrs: dict = dataclasses.field(default_factory=dict)

    # ------------------------------------------------------------------ basics
    @property
    def mlp(self) -> MLP:
        """The network spec."""
        return self.model.mlp

    @property
    def group(self):
        """The finite symmetry group of the model (permutations, and sign flips if odd)."""
        return self.model.group

    @property
    def num_chains(self) -> int:
        """Number of chains."""
        return int(next(iter(self.draws.values())).shape[0])

    @property
    def num_draws(self) -> int:
        """Draws per chain."""
        return int(next(iter(self.draws.values())).shape[1])

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Network parameters only, (chain, draw, ...), as the network uses them."""
        return {k: np.asarray(v) for k, v in self.model.params_of(self.draws).items()}

    def _with_params(self, params: dict, **attrs) -> Posterior:
        draws = {**self.draws, **{k: np.asarray(v) for k, v in params.items()}}
        return dataclasses.replace(self, draws=draws, attrs={**self.attrs, **attrs})

    # -------------------------------------------------------------- symmetry
    def _check_symmetric(self, what: str) -> None:
        if getattr(self.model, "reparam", None) == "asymmetric":
            raise ValueError(
                f"{what} needs a model with the group's symmetry; reparam='asymmetric' has fixed "
                "weights that the group would move"
            )

    def canonical(self, group=None) -> Posterior:
        """The draws mapped to their hard canonical form (same chains and draws)."""
        self._check_symmetric("canonical")
        group = group or self.group
        canon, _ = batched.canonicalize(group.spec, self.params)
        return self._with_params(canon, canonical=True)

    def symmetrized(self, rng_key: PRNGKey, group=None) -> Posterior:
        """Apply an independent, uniformly drawn group element to every draw.

        For draws of the quotient posterior (canonical draws) this gives exact draws of the full
        posterior, whose density is invariant under the group. The draws leave the ordered region
        of a ``reparam="constrained"`` model, so the result carries the model with
        ``reparam=None``.
        """
        self._check_symmetric("symmetrized")
        group = group or self.group
        if not group.spec.finite:
            raise ValueError("symmetrized needs a finite group (permutations and sign flips)")
        out = batched.symmetrize(group.spec, rng_key, self.params)
        post = self._with_params(out, symmetrized=True)
        if getattr(self.model, "reparam", None) == "constrained":
            post.model = dataclasses.replace(self.model, reparam=None)
        return post

    # ------------------------------------------------------------ predictions
    def predict(self, x) -> np.ndarray:
        """Predictive network outputs (chain, draw, n, out): regression means or probabilities."""
        from symbnn.models import predict_draws

        return predict_draws(self.mlp, self.params, x)

    def log_likelihood(self, x=None, y=None) -> np.ndarray:
        """Pointwise log-likelihood (chain, draw, n) of ``(x, y)`` (default: the training data)."""
        x = self.x if x is None else x
        y = self.y if y is None else y
        if x is None or y is None:
            raise ValueError("log_likelihood needs x and y (no training data stored)")
        samples = {k: jnp.asarray(v) for k, v in self.draws.items()}
        return np.asarray(_log_likelihood(self.model, samples, jnp.asarray(x), jnp.asarray(y)))

    def lppd(self, x, y):
        """Test log pointwise predictive density of ``(x, y)``: mean, se and pointwise values.

        Every (chain, draw) counts as one draw (see :func:`symbnn.diagnostics.lppd`).
        """
        from symbnn.diagnostics.lppd import lppd

        return lppd(self.log_likelihood(x, y))

    # ----------------------------------------------------------------- arviz
    def to_datatree(self, *, log_likelihood: bool = True):
        """An arviz (>= 1.0) DataTree: posterior, sample_stats, log_likelihood, observed_data."""
        from arviz_base import from_dict

        groups: dict[str, dict] = {"posterior": dict(self.draws)}
        if self.sample_stats:
            groups["sample_stats"] = dict(self.sample_stats)
        if self.x is not None and self.y is not None:
            groups["observed_data"] = {"y": np.asarray(self.y)}
            groups["constant_data"] = {"x": np.asarray(self.x)}
            if log_likelihood:
                groups["log_likelihood"] = {"y": self.log_likelihood()}
        attrs = {"symbnn_model": model_to_config(self.model), "symbnn_space": self.space,
                 "symbnn_attrs": json.dumps(self.attrs, default=str)}
        # arviz_base.from_dict takes attributes per group; "/" is the root of the tree.
        with warnings.catch_warnings():  # many chains of few draws are named right, not swapped
            warnings.filterwarnings("ignore", "Found chain dimension to be longer than draw")
            return from_dict(groups, attrs={"/": attrs})

    @classmethod
    def from_numpyro(cls, model, mcmc, x, y, *, attrs: dict | None = None, mlp=None,
                     names=None) -> Posterior:
        """Wrap a finished ``numpyro.infer.MCMC`` run of a numpyro BNN.

        Draws come from ``mcmc.get_samples(group_by_chain=True)``; extra fields recorded by
        ``mcmc.run(..., extra_fields=...)`` become sample statistics under symbnn's names
        (``potential_energy`` -> ``lp`` with the sign flipped, ``num_steps`` ->
        ``num_integration_steps``). A model symbnn did not write needs ``mlp`` (the network it
        computes) and ``names`` (its site names mapped to symbnn's, ``{"w1": "W0", ...}``); it
        is wrapped in :class:`symbnn.models.foreign.ForeignModel`.
        """
        draws = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
        if mlp is not None or names is not None:
            from symbnn.diagnostics.inputs import rename
            from symbnn.models.foreign import ForeignModel

            if mlp is None or names is None:
                raise ValueError("a model symbnn did not write needs both mlp= and names=")
            mapping = dict(names) if isinstance(names, dict) else {k: names(k) for k in draws}
            draws = rename(draws, mapping)
            model = ForeignModel(model, mlp, tuple(mapping.items()))
        elif not hasattr(model, "mlp"):
            raise TypeError(f"model {getattr(model, '__name__', model)!r} has no MLP spec (not "
                            "a symbnn.models.bnn model); pass mlp=MLP(...) and names={...} "
                            "mapping its sites to W0, b0, ..., WL, bL")
        stats = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
        if "potential_energy" in stats:
            stats["lp"] = -stats.pop("potential_energy")
        if "num_steps" in stats:
            stats["num_integration_steps"] = stats.pop("num_steps")
        return cls(model=model, draws=draws, sample_stats=stats, space="full",
                   x=np.asarray(x), y=np.asarray(y),
                   attrs={"sampler": "numpyro", **(attrs or {})})

    @classmethod
    def from_datatree(cls, dt) -> Posterior:
        """Rebuild a run from :meth:`to_datatree`'s DataTree (e.g. one read from netCDF).

        Raises
        ------
        ValueError
            ``dt`` lacks the ``symbnn_model`` root attribute (not written by symbnn).
        """
        attrs = dict(dt.attrs)
        if "symbnn_model" not in attrs:
            raise ValueError("dt is not a symbnn run (no symbnn_model attribute at its root)")
        model = model_from_config(attrs["symbnn_model"])

        def arrays(group: str) -> dict[str, np.ndarray]:
            if group not in dt.children:
                return {}
            return {k: np.asarray(v.values) for k, v in dt[group].data_vars.items()}

        obs, const = arrays("observed_data"), arrays("constant_data")
        return cls(
            model=model,
            draws=arrays("posterior"),
            sample_stats=arrays("sample_stats"),
            space=attrs.get("symbnn_space", "full"),
            x=const.get("x"),
            y=obs.get("y"),
            attrs=json.loads(attrs.get("symbnn_attrs", "{}")),
        )

    def save(self, path: str | Path) -> Path:
        """Write the run to a netCDF file (via the DataTree); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        dt = self.to_datatree(log_likelihood=False)
        dt.to_netcdf(tmp, engine="h5netcdf")
        tmp.replace(path)
        return path


def load(path: str | Path) -> Posterior:
    """Read a run written by :meth:`Posterior.save`."""
    import xarray as xr

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no symbnn run at {path}")
    try:
        opened = xr.open_datatree(path, engine="h5netcdf")
    except (OSError, ValueError) as e:  # not HDF5/netCDF at all, or truncated
        raise ValueError(f"{path} is not a readable symbnn run (netCDF): {e}") from e
    with opened as dt:
        try:
            return Posterior.from_datatree(dt.load())
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e
