"""Bad input, table-driven: each case raises a clear error and leaves nothing half-written.

Runs through ``symbnn.sample`` get a checkpoint folder; after the error the folder must not
exist (nothing was started) or, for an existing checkpoint, hold exactly the bytes it held before.
``sampling_forbidden`` makes any warm-up or block of draws fail the test, so every error here is
raised before sampling. (tests/samplers/test_sample_errors.py checks the argument names of every
sample() option; tests/samplers/test_resume.py damages single files of a checkpoint.)
"""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import symbnn
from symbnn import MLP, symmetry_of
from symbnn.models import NormalPrior, bnn
from symbnn.samplers import CheckpointError
from symbnn.samplers import driver as driver_module
from symbnn.symmetry import scalings, sign_flips

REG = MLP(1, (3,), 1, "tanh")
CLF = MLP(1, (3,), 3, "tanh", "classification")
N = 8
X = np.linspace(-1.0, 1.0, N)[:, None]
Y = np.sin(X[:, 0])
LABELS = np.arange(N) % 3


@dataclasses.dataclass(frozen=True)
class SkewPrior(NormalPrior):
    """A prior that is not symmetric under sign flips (it says so, as a skewed prior would)."""

    def invariant_under(self, kind: str) -> bool:
        return kind == "permutation"


def _with(a, index, value):
    a = np.array(a, dtype=np.result_type(a, type(value)))
    a[index] = value
    return a


@pytest.fixture
def sampling_forbidden(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("sampling started")

    monkeypatch.setattr(driver_module, "_warmup_program", forbidden)
    monkeypatch.setattr(driver_module, "_block_runner", forbidden)


def _sample(folder, *, mlp=REG, x=X, y=Y, model=None, **kw):
    settings = dict(rng_key=jax.random.key(0), num_chains=1, num_warmup=2, num_draws=2,
                    progress=False, checkpoint=folder)
    settings.update(kw)
    return symbnn.sample(model or bnn(mlp), x, y, **settings)


# (id, sample() keyword arguments, exception type, message pattern)
SAMPLE_CASES = [
    ("nan-in-x", dict(x=_with(X, (2, 0), np.nan)), ValueError, r"\bx\b.*NaN or inf.*\[2\]"),
    ("inf-in-x", dict(x=_with(X, (0, 0), -np.inf)), ValueError, r"\bx\b.*NaN or inf.*\[0\]"),
    ("nan-in-y", dict(y=_with(Y, 5, np.nan)), ValueError, r"\by\b.*NaN or inf.*\[5\]"),
    ("inf-in-y", dict(y=_with(Y, 7, np.inf)), ValueError, r"\by\b.*NaN or inf.*\[7\]"),
    # finite in float64, infinite once cast to the float32 the model computes in (float32 only)
    ("x-beyond-float32", dict(x=_with(X, (1, 0), 1e39)), ValueError, r"\bx\b.*\[1\]"),
    ("y-beyond-float32", dict(y=_with(Y, 3, -1e39)), ValueError, r"\by\b.*\[3\]"),
    ("short-y", dict(y=Y[:-1]), ValueError, r"y \(targets\) must have shape \(8,\)"),
    ("long-y", dict(y=np.r_[Y, 0.0]), ValueError, r"y \(targets\) must have shape \(8,\)"),
    ("x-width", dict(x=np.c_[X, X]), ValueError, r"x must have shape \(n, 1\)"),
    ("x-1d", dict(x=X[:, 0]), ValueError, r"x must have shape \(n, 1\)"),
    ("empty", dict(x=X[:0], y=Y[:0]), ValueError, r"at least one row"),
    ("string-x", dict(x=X.astype(str)), TypeError, r"\bx\b.*numeric"),
    ("complex-y", dict(y=Y + 1j), TypeError, r"\by\b.*numeric"),
    ("label-2**40", dict(mlp=CLF, y=_with(LABELS, 4, 2**40)), ValueError,
     r"class labels in \[0, 3\).*\[4\].*1099511627776"),
    ("label-int32-wrap", dict(mlp=CLF, y=_with(LABELS, 0, 2**32 + 1)), ValueError,
     r"class labels in \[0, 3\).*\[0\]"),
    ("label-uint64-max", dict(mlp=CLF, y=_with(LABELS.astype(np.uint64), 1, 2**64 - 1)),
     ValueError, r"class labels in \[0, 3\).*\[1\]"),
    ("label-float-huge", dict(mlp=CLF, y=_with(LABELS.astype(float), 2, 1e300)), ValueError,
     r"class labels in \[0, 3\).*\[2\]"),
    ("label-negative", dict(mlp=CLF, y=_with(LABELS, 6, -1)), ValueError,
     r"class labels in \[0, 3\).*\[6\]"),
    ("label-fraction", dict(mlp=CLF, y=_with(LABELS.astype(float), 3, 1.5)), ValueError,
     r"integer class labels.*\[3\]"),
    ("num-chains-0", dict(num_chains=0), ValueError, r"num_chains must be an integer >= 1"),
    ("num-chains-neg", dict(num_chains=-3), ValueError, r"num_chains must be an integer >= 1"),
    ("quotient-non-invariant-prior",
     dict(model=bnn(REG, prior=SkewPrior(1.0)), space="quotient"), ValueError,
     r"space='quotient'.*invariant.*sign"),
    ("constrained-non-invariant-prior",
     dict(model=bnn(REG, prior=SkewPrior(1.0)), space="constrained"), ValueError,
     r"invariant.*sign"),
]


def _case(case):
    only_float32 = case[0].endswith("beyond-float32")
    return pytest.param(*case[1:], id=case[0], marks=pytest.mark.skipif(
        only_float32 and jax.config.jax_enable_x64, reason="1e39 is finite in float64"))


@pytest.mark.parametrize(("kwargs", "error", "pattern"), [_case(c) for c in SAMPLE_CASES])
def test_sample_refuses_bad_input_and_writes_nothing(tmp_path, sampling_forbidden, kwargs,
                                                      error, pattern):
    folder = tmp_path / "run"
    with pytest.raises(error, match=pattern):
        _sample(folder, **kwargs)
    assert not folder.exists(), sorted(p.name for p in folder.iterdir())


# (id, callable, exception type, message pattern): specs that cannot be built
SPEC_CASES = [
    ("width-0", lambda: MLP(1, (0,), 1), ValueError, r"widths must be positive.*bad: \[0\]"),
    ("width-negative", lambda: MLP(1, (3, -2), 1), ValueError, r"widths.*bad: \[-2\]"),
    ("width-float", lambda: MLP(1, (2.5,), 1), ValueError, r"widths"),
    ("in-features-0", lambda: MLP(0, (3,), 1), ValueError, r"in_features"),
    ("unknown-activation", lambda: MLP(1, (3,), 1, "softsign"), ValueError,
     r"activation must be one of.*'softsign'"),
    ("sign-of-relu", lambda: sign_flips(MLP(1, (3,), 1, "relu")), ValueError,
     r"'relu' has no sign-flip symmetry"),
    ("scale-of-tanh", lambda: scalings(REG), ValueError, r"'tanh' has no scaling symmetry"),
    ("kinds-sign-of-gelu", lambda: symmetry_of(MLP(1, (3,), 1, "gelu"), kinds=("sign",)),
     ValueError, r"kinds asks for 'sign'.*'gelu' is not odd"),
    ("kinds-shift-of-regression", lambda: symmetry_of(REG, kinds=("permutation", "shift")),
     ValueError, r"kinds asks for 'shift'"),
    ("constrained-non-invariant", lambda: bnn(REG, prior=SkewPrior(1.0), reparam="constrained"),
     ValueError, r"not invariant under \['sign'\]"),
]


@pytest.mark.parametrize(("build", "error", "pattern"), [c[1:] for c in SPEC_CASES],
                         ids=[c[0] for c in SPEC_CASES])
def test_invalid_specs_are_refused(build, error, pattern):
    with pytest.raises(error, match=pattern):
        build()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A finished checkpoint of a tiny run (one chain, 2 warm-up steps, 2 draws)."""
    folder = tmp_path_factory.mktemp("bad_input") / "run"
    _sample(folder)
    return folder


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _copy(src, dest):
    dest.mkdir()
    for name, data in _snapshot(src).items():
        (dest / name).write_bytes(data)
    return dest


def _rewrite_meta(folder, change):
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps(change(meta)))


# (id, damage(folder), sample() keyword arguments, message pattern)
CHECKPOINT_CASES = [
    ("meta-not-json", lambda f: (f / "meta.json").write_bytes(b"\x00\xff garbage"), {},
     r"meta.json is corrupted"),
    ("meta-a-list", lambda f: (f / "meta.json").write_text("[1, 2]"), {},
     r"not a symbnn checkpoint"),
    ("meta-foreign-format", lambda f: _rewrite_meta(f, lambda m: {**m, "format": "zarr"}), {},
     r"not a symbnn checkpoint"),
    ("meta-other-version", lambda f: _rewrite_meta(f, lambda m: {**m, "version": 99}), {},
     r"different run.*version"),
    ("block-truncated", lambda f: (f / "block_00000000.npz").write_bytes(b"PK\x03\x04"), {},
     r"block_00000000.npz is corrupted"),
    ("state-foreign-npz", lambda f: np.savez(f / "state.npz", other=np.zeros(3)), {},
     r"state.npz"),
    ("other-widths", lambda f: None, dict(mlp=MLP(1, (4,), 1, "tanh")),
     r"different run.*model"),
    ("other-activation", lambda f: None, dict(mlp=MLP(1, (3,), 1, "sin")),
     r"different run.*model"),
    ("other-likelihood", lambda f: None, dict(model=bnn(REG, prior=NormalPrior(0.5))),
     r"different run.*model"),
]


@pytest.mark.parametrize(("damage", "kwargs", "pattern"), [c[1:] for c in CHECKPOINT_CASES],
                         ids=[c[0] for c in CHECKPOINT_CASES])
def test_unusable_checkpoint_is_refused_and_left_alone(tmp_path, checkpoint, sampling_forbidden,
                                                        damage, kwargs, pattern):
    folder = _copy(checkpoint, tmp_path / "run")
    damage(folder)
    before = _snapshot(folder)
    with pytest.raises(CheckpointError, match=pattern):
        _sample(folder, resume=True, **kwargs)
    assert _snapshot(folder) == before


def test_checkpoint_of_another_model_without_resume_is_not_overwritten(tmp_path, checkpoint,
                                                                        sampling_forbidden):
    folder = _copy(checkpoint, tmp_path / "run")
    before = _snapshot(folder)
    with pytest.raises(CheckpointError, match="already holds a run"):
        _sample(folder, mlp=MLP(1, (4,), 1, "tanh"))
    assert _snapshot(folder) == before


@pytest.mark.parametrize(
    ("content", "pattern"),
    [(b"\x89HDF\r\n garbage", r"run\.nc"), (b"", r"run\.nc")],
    ids=["garbage", "empty"],
)
def test_loading_a_corrupted_saved_run_names_the_file(tmp_path, content, pattern):
    path = tmp_path / "run.nc"
    path.write_bytes(content)
    with pytest.raises((ValueError, OSError), match=pattern):
        symbnn.load(path)


def test_loading_a_foreign_netcdf_says_so(tmp_path):
    import xarray as xr

    path = tmp_path / "foreign.nc"
    xr.Dataset({"a": ("i", np.arange(3))}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ValueError, match=r"foreign\.nc.*not a symbnn run"):
        symbnn.load(path)


def test_traced_data_of_the_wrong_width_is_refused():
    # Under jit the values cannot be checked, the shapes still are.
    model = bnn(REG)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 1\)"):
        jax.jit(lambda x: numpyro_trace(model, x))(jnp.zeros((4, 2)))


def numpyro_trace(model, x):
    from numpyro.handlers import seed, trace

    return trace(seed(model, 0)).get_trace(x)["y"]["value"]
