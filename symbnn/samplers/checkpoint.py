"""Resumable runs: draws streamed to disk in blocks, with the sampler state.

A checkpoint is a folder:

- ``meta.json``: the fingerprint of the run (model, data, key, settings); a resume checks it;
- ``warmup.npz``: every chain's state and adapted parameters after warm-up;
- ``block_XXXXXXXX.npz``: the draws (unconstrained positions) and statistics of one block;
- ``state.npz``: the sampler state after the last complete block and the next draw index.

Every file is written to a temporary name and renamed into place, so an interrupted write leaves the
previous complete file, never a half-written one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np

__all__ = [
    "CheckpointError",
    "block_path",
    "check_writable",
    "fingerprint",
    "flat_keys",
    "load_tree",
    "load_warmup",
    "open_checkpoint",
    "require_keys",
    "restore_blocks",
    "save_tree",
    "write_block",
]

FORMAT_VERSION = 2  # 2: kernel objects; states and tuned parameters saved by field name


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupted, foreign, or from another run."""


def _hash_array(a) -> str:
    a = np.ascontiguousarray(np.asarray(a))
    h = hashlib.sha256(str((a.dtype.str, a.shape)).encode())
    h.update(a.tobytes())
    return h.hexdigest()[:16]


def fingerprint(**fields) -> dict:
    """A JSON-able description of a run; arrays are replaced by content hashes."""
    out = {"format": "symbnn-checkpoint", "version": FORMAT_VERSION}
    for k, v in fields.items():
        if v is None or isinstance(v, str | int | float | bool):
            out[k] = v
        elif isinstance(v, np.ndarray) or hasattr(v, "__array__"):
            out[k] = _hash_array(v)
        else:
            out[k] = repr(v)
    return out


def _flatten(tree, prefix="") -> dict[str, np.ndarray]:
    flat = {}
    if hasattr(tree, "_asdict"):  # a NamedTuple (blackjax state): saved by field name
        tree = tree._asdict()
    if isinstance(tree, dict):
        for k, v in tree.items():
            flat.update(_flatten(v, f"{prefix}{k}/"))
    elif isinstance(tree, tuple | list):
        for i, v in enumerate(tree):
            flat.update(_flatten(v, f"{prefix}{i}/"))
    else:
        flat[prefix.rstrip("/")] = np.asarray(tree)
    return flat


def _unflatten(flat: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for key, value in flat.items():
        node = tree
        parts = key.split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return tree


def save_tree(path: Path, tree: dict) -> None:
    """Write a nested dict of arrays atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **_flatten(tree))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_tree(path: Path) -> dict:
    """Read a nested dict written by :func:`save_tree`; a damaged file raises CheckpointError."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return _unflatten({k: data[k] for k in data.files})
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise CheckpointError(f"checkpoint file {path} is corrupted or unreadable: {e}") from e


def flat_keys(tree) -> list[str]:
    """The entries of a nested dict as ``"a/b"`` paths (the names :func:`save_tree` writes)."""
    return sorted(_flatten(tree))


def require_keys(path: Path, tree: dict, keys) -> None:
    """Raise CheckpointError naming ``path`` and the first of ``keys`` that ``tree`` lacks.

    ``tree`` is what :func:`load_tree` read from ``path``; ``keys`` are ``"a/b"`` paths.
    """
    present = set(_flatten(tree))
    for key in keys:
        if key not in present:
            raise CheckpointError(
                f"checkpoint file {path} lacks the entry {key!r}: a foreign or damaged file "
                f"(it holds {sorted(present)[:5]})"
            )


def block_path(folder: Path, start: int) -> Path:
    """The file of the block whose first draw has index ``start``."""
    return Path(folder) / f"block_{start:08d}.npz"


def check_writable(folder: Path, needed_bytes: int) -> None:
    """Fail before sampling when ``folder`` cannot be written or lacks ``needed_bytes`` of space."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write_probe"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise OSError(f"checkpoint folder {folder} is not writable: {e}") from e
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise OSError(
            f"checkpoint folder {folder} has {free} bytes free, the run needs about {needed_bytes}"
        )


def open_checkpoint(folder: Path, meta: dict, *, resume: bool) -> None:
    """Create the checkpoint folder, or check that an existing one belongs to this run.

    Raises
    ------
    CheckpointError
        The folder holds another run's checkpoint, a foreign or corrupted ``meta.json``, or
        (without ``resume``) any earlier draws, which are never overwritten.
    """
    folder = Path(folder)
    meta_file = folder / "meta.json"
    if meta_file.exists():
        if not resume:
            raise CheckpointError(
                f"checkpoint folder {folder} already holds a run; pass resume=True to continue it "
                "or choose another folder (nothing is overwritten)"
            )
        try:
            old = json.loads(meta_file.read_text())
        except (OSError, ValueError) as e:
            raise CheckpointError(f"checkpoint {meta_file} is corrupted: {e}") from e
        if not isinstance(old, dict) or old.get("format") != "symbnn-checkpoint":
            raise CheckpointError(f"{meta_file} is not a symbnn checkpoint")
        diff = sorted(k for k in set(old) | set(meta) if old.get(k) != meta.get(k))
        if diff:
            raise CheckpointError(
                f"checkpoint {folder} was written by a different run; it differs in {diff}"
            )
        return
    leftovers = sorted(p.name for pattern in ("block_*.npz", "warmup.npz", "state.npz")
                       for p in folder.glob(pattern))
    if leftovers:
        raise CheckpointError(
            f"checkpoint folder {folder} holds {leftovers[:3]} but no meta.json: files of an "
            "unknown run, which are neither used nor overwritten"
        )
    folder.mkdir(parents=True, exist_ok=True)
    tmp = meta_file.with_name("meta.json.tmp")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
    os.replace(tmp, meta_file)


def load_warmup(path: Path, kernel, site_names):
    """The every-chain :class:`~symbnn.samplers.kernels.Tuned` saved in a warm-up file."""
    tree = load_tree(path)
    require_keys(path, tree, kernel.checkpoint_keys(site_names))
    return kernel.restore(tree)


def write_block(folder: Path, start: int, block: dict, state) -> None:
    """Save a block of draws, then the state after it and the next draw index."""
    save_tree(block_path(folder, start), block)
    nxt = np.asarray(start + next(iter(block["stats"].values())).shape[1])
    save_tree(Path(folder) / "state.npz", {"state": state, "next": nxt})


def restore_blocks(folder: Path | None, kernel, warm_state, num_draws: int):
    """Blocks already on disk, the state to continue from, and the next draw index.

    Without a checkpoint, or before the first block, that is no block, ``warm_state`` and 0.
    """
    if folder is None or not (Path(folder) / "state.npz").exists():
        return [], warm_state, 0
    folder = Path(folder)
    state_file = folder / "state.npz"
    saved = load_tree(state_file)
    require_keys(state_file, saved, ["next", *(f"state/{k}" for k in flat_keys(warm_state))])
    nxt = np.asarray(saved["next"])
    if nxt.ndim != 0 or nxt.dtype.kind not in "iu" or nxt < 0:
        raise CheckpointError(f"checkpoint file {state_file} holds next={nxt!r}, not a draw index")
    start = int(nxt)
    blocks, i = [], 0
    while i < start:
        path = block_path(folder, i)
        if not path.exists():
            raise CheckpointError(f"checkpoint {folder} lacks block {path.name}")
        block = load_tree(path)
        require_keys(path, block, ["stats/lp", *(
            f"position/{k}" for k in flat_keys(warm_state.position))])
        blocks.append(block)
        i += next(iter(block["stats"].values())).shape[1]
    if i != start or start > num_draws:
        raise CheckpointError(f"checkpoint {folder} blocks do not add up to {start} draws")
    return blocks, kernel.restore_state(saved["state"]), start
