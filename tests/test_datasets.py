import dataclasses
import json
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symbnn import datasets
from symbnn.datasets import Dataset, Standardizer, list_datasets, load, load_table

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"

SYNTHETIC_SPECS = [
    # name, task, num_classes, in_features
    ("sinusoidal", "regression", None, 1),
    ("gap", "regression", None, 1),
    ("regression2d", "regression", None, 2),
    ("moons", "classification", 2, 2),
    ("spiral", "classification", 3, 2),
]
SKLEARN_SPECS = [
    # name, task, num_classes, rows, in_features (the sizes scikit-learn documents)
    ("diabetes", "regression", None, 442, 10),
    ("wine", "classification", 3, 178, 13),
    ("breast_cancer", "classification", 2, 569, 30),
]


def write(path, text):
    path.write_text(text)
    return path


def whole(data):
    return np.concatenate([data.x_train, data.x_test]), np.concatenate([data.y_train, data.y_test])


# ---------------------------------------------------------------- synthetic


@pytest.mark.parametrize("name, task, num_classes, in_features", SYNTHETIC_SPECS)
def test_synthetic_shapes_types_and_seeds(name, task, num_classes, in_features):
    data = load(name, seed=3, num_train=50, num_test=20, standardize=None)
    assert (data.num_train, data.num_test, data.in_features) == (50, 20, in_features)
    assert data.x_train.shape == (50, in_features) and data.y_test.shape == (20,)
    assert (data.task, data.num_classes, data.standardizer) == (task, num_classes, None)
    assert data.out_features == (1 if task == "regression" else num_classes)
    assert data.x_train.dtype == np.float64
    assert data.y_train.dtype == (np.float64 if task == "regression" else np.int64)
    again = load(name, seed=3, num_train=50, num_test=20, standardize=None)
    np.testing.assert_array_equal(again.x_train, data.x_train)
    np.testing.assert_array_equal(again.y_test, data.y_test)
    other = load(name, seed=4, num_train=50, num_test=20, standardize=None)
    assert not np.array_equal(other.x_train, data.x_train)
    # train and test come from separate streams: the training rows ignore num_test
    longer = load(name, seed=3, num_train=50, num_test=7, standardize=None)
    np.testing.assert_array_equal(longer.x_train, data.x_train)
    assert not np.array_equal(data.x_train[:20], data.x_test)


@pytest.mark.parametrize("name, task, num_classes, in_features", SYNTHETIC_SPECS)
def test_synthetic_defaults_are_standardised_on_train(name, task, num_classes, in_features):
    data = load(name)
    defaults = datasets.SYNTHETIC[name]
    assert (data.num_train, data.num_test) == defaults[3:]
    np.testing.assert_allclose(data.x_train.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(data.x_train.std(0), 1.0, rtol=1e-12)
    if task == "regression":
        np.testing.assert_allclose([data.y_train.mean(), data.y_train.std()], [0, 1], atol=1e-12)
    else:
        assert data.standardizer.y_mean is None
        assert set(np.unique(data.y_train)) == set(range(num_classes))


# With n = 4000 the sample sd of the noise has relative standard error 1/sqrt(2 n) ~ 1.1%;
# a 5% tolerance is > 4 standard errors.
@pytest.mark.parametrize("name, f, lo, hi, noise_sd", [
    ("sinusoidal", lambda x: np.sin(x[:, 0]), 0.0, 8.0, 0.3),
    ("gap", lambda x: np.sin(2 * x[:, 0]) + 0.3 * x[:, 0], -2.0, 2.0, 0.1),
    ("regression2d", lambda x: x[:, 0] * np.sin(x[:, 0]) + np.cos(x[:, 1]), -2.0, 2.0, 0.1),
])
def test_synthetic_regression_follows_its_definition(name, f, lo, hi, noise_sd):
    data = load(name, seed=0, num_train=4000, num_test=1, standardize=None)
    x = data.x_train
    assert x.min() >= lo and x.max() <= hi
    assert x.max() - x.min() > 0.95 * (hi - lo)  # covers the range
    resid = data.y_train - f(x)
    assert abs(resid.std() / noise_sd - 1) < 0.05
    assert abs(resid.mean()) < 4 * noise_sd / np.sqrt(len(resid))


def test_gap_leaves_the_gap_empty():
    x = load("gap", num_train=4000, num_test=1000, standardize=None).x_train[:, 0]
    lo, hi = datasets.GAP
    assert not ((x > lo) & (x < hi)).any()
    # both clusters are populated: each side holds about half of 4000 points (sd ~ 32)
    assert abs((x < 0).mean() - 0.5) < 0.05


# ---------------------------------------------------------------- scikit-learn sets


@pytest.mark.parametrize("name, task, num_classes, rows, in_features", SKLEARN_SPECS)
def test_sklearn_sets_split_80_20(name, task, num_classes, rows, in_features):
    data = load(name, seed=1, standardize=None)
    assert (data.task, data.num_classes, data.in_features) == (task, num_classes, in_features)
    assert data.num_train == (4 * rows) // 5 and data.num_train + data.num_test == rows
    # the split is a permutation of scikit-learn's rows: none lost, none duplicated
    import sklearn.datasets

    loader, _, options = datasets.SKLEARN[name]
    ref = np.column_stack(getattr(sklearn.datasets, loader)(return_X_y=True, **options))
    got = np.column_stack(whole(data))
    np.testing.assert_array_equal(got[np.lexsort(got.T)], ref[np.lexsort(ref.T)])
    again, other = load(name, seed=1, standardize=None), load(name, seed=2, standardize=None)
    np.testing.assert_array_equal(again.x_test, data.x_test)
    assert not np.array_equal(other.x_test, data.x_test)
    small = load(name, seed=1, num_train=10, num_test=5, standardize=None)
    np.testing.assert_array_equal(small.x_train, data.x_train[:10])
    with pytest.raises(ValueError, match="num_train"):
        load(name, num_train=rows)


# ---------------------------------------------------------------- Standardizer


def test_standardizer_round_trip_and_scales():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, [1.0, 10.0], size=(40, 2))
    y = rng.normal(-5.0, 4.0, size=40)
    s = Standardizer.fit(x, y, task="regression")
    np.testing.assert_allclose(s.transform_x(x).mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(s.transform_x(x).std(0), 1.0)
    np.testing.assert_allclose(s.inverse_x(s.transform_x(x)), x)
    np.testing.assert_allclose(s.inverse_y(s.transform_y(y)), y)
    np.testing.assert_allclose(s.inverse_y_scale(np.ones(3)), y.std())
    with pytest.raises(ValueError, match="2 features"):
        s.transform_x(np.ones((3, 3)))
    # numpy statistics applied to JAX arrays give JAX arrays (predictions stay on device)
    out = s.inverse_y_scale(jnp.ones(3))
    assert isinstance(out, jax.Array) and np.allclose(out, y.std(), rtol=1e-6)
    c = Standardizer.fit(x, np.arange(40), task="classification")
    assert c.y_mean is None and c.y_std is None
    with pytest.raises(ValueError, match="no target statistics"):
        c.transform_y(y)


@pytest.mark.parametrize("column", [0, 2])
def test_standardizer_constant_column(column):
    x = np.random.default_rng(0).normal(size=(10, 3))
    x[:, column] = 7.0
    with pytest.raises(ValueError, match=f"column {column} of x is constant"):
        Standardizer.fit(x)
    s = Standardizer.fit(x, allow_constant=True)
    assert s.x_std[column] == 1.0
    assert np.all(s.transform_x(x)[:, column] == 0.0)
    with pytest.raises(ValueError, match="y is constant"):
        Standardizer.fit(x[:, [1 - column // 2]], np.ones(10))


def test_dataset_validates_and_is_read_only():
    x, y = np.zeros((4, 2)), np.zeros(4)
    data = Dataset("d", x, y, x[:1], y[:1])
    assert (data.in_features, data.out_features, data.num_train, data.num_test) == (2, 1, 4, 1)
    with pytest.raises(ValueError):
        data.x_train[0, 0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.name = "e"
    with pytest.raises(ValueError, match="y_train"):
        Dataset("d", x, y[:3], x, y)
    with pytest.raises(TypeError, match="integer labels"):
        Dataset("d", x, y, x, y, "classification", 2)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        Dataset("d", x, np.array([0, 1, 2, 0]), x, np.zeros(4, int), "classification", 2)
    with pytest.raises(ValueError, match="finite"):
        Dataset("d", x, np.array([0, np.nan, 0, 0]), x, y)


# ---------------------------------------------------------------- load_table


def test_load_table_whitespace_csv_and_splits(tmp_path):
    rows = np.arange(30, dtype=float).reshape(10, 3) ** 1.5
    write(tmp_path / "t.data", "\n".join(" ".join(map(str, r)) for r in rows) + "\n\n")
    write(tmp_path / "t.csv", "# comment\n" + "\n".join(", ".join(map(str, r)) for r in rows))
    split = {"train": [9, 0, 3], "test": [5]}
    write(tmp_path / "splits.json", json.dumps({"t": split, "other": {"train": [1], "test": []}}))
    for path in (tmp_path / "t.data", tmp_path / "t.csv"):
        for splits in (split, tmp_path / "splits.json", str(tmp_path / "splits.json")):
            data = load_table(path, splits=splits)
            assert data.name == "t"
            np.testing.assert_array_equal(data.x_train, rows[[9, 0, 3], :2])
            np.testing.assert_array_equal(data.y_test, rows[[5], 2])
    named = load_table(tmp_path / "t.data", splits=tmp_path / "splits.json", name="other")
    assert (named.name, named.num_train, named.num_test) == ("other", 1, 0)
    seeded = load_table(tmp_path / "t.data", seed=5)
    assert (seeded.num_train, seeded.num_test) == (8, 2)
    x, y = whole(seeded)
    np.testing.assert_array_equal(np.sort(y), rows[:, 2])
    assert not np.array_equal(load_table(tmp_path / "t.data", seed=6).y_test, seeded.y_test)
    labels = write(tmp_path / "c.data", "0.5 1\n0.1 0\n0.3 2\n0.2 1\n0.9 0\n")
    cls = load_table(labels, task="classification", standardize="train")
    assert (cls.num_classes, cls.y_train.dtype) == (3, np.int64)
    assert cls.standardizer.y_mean is None


BAD_TABLES = [
    # contents, expected message (the file name is checked separately)
    ("", "empty file"),
    ("# only a comment\n\n", "empty file"),
    ("1 2 3\n4 5\n", "line 2: ragged row"),
    ("1 2 3\n4 5 6\n7 8 9 10\n", "line 3: ragged row"),
    ("x1 x2 y\n1 2 3\n", "line 1, column 1 .input.: non-numeric cell 'x1'"),
    ("1,2,3\n4,,6\n", "line 2, column 2 .input.: non-numeric cell ''"),
    ("1 2 3\n4 5 nan\n", "line 2, column 3 .target.: 'nan' is not a finite number"),
    ("1 inf 3\n", "line 1, column 2 .input.: 'inf' is not a finite number"),
    ("1\n2\n", "at least one input column"),
]


@pytest.mark.parametrize("text, message", BAD_TABLES)
def test_load_table_rejects_bad_files(tmp_path, text, message):
    path = write(tmp_path / "bad.data", text)
    with pytest.raises(ValueError, match=message) as info:
        load_table(path)
    assert str(path) in str(info.value)


BAD_SPLITS = [
    ({"train": [0, 4], "test": [1]}, "index 4 is out of range for a table of 4 rows"),
    ({"train": [-1], "test": [1]}, "index -1 is out of range"),
    ({"train": [0, 1], "test": [1, 2]}, "overlap in 1 rows, e.g. row 1"),
    ({"train": [0, 0], "test": [1]}, "repeats row index 0"),
    ({"train": [], "test": [1]}, "'train' is empty"),
    ({"train": [0.5], "test": [1]}, "integer row indices"),
    ({"train": [0], "test": [1], "val": [2]}, "keys 'train' and 'test'"),
    ({"t2": {"train": [0], "test": [1]}}, "no split named 't'"),
]


@pytest.mark.parametrize("split, message", BAD_SPLITS)
def test_load_table_rejects_bad_splits(tmp_path, split, message):
    path = write(tmp_path / "t.data", "1 2\n3 4\n5 6\n7 8\n")
    with pytest.raises(ValueError, match=message):
        load_table(path, splits=split)
    json_path = write(tmp_path / "s.json", json.dumps(split))
    with pytest.raises(ValueError, match=message) as info:
        load_table(path, splits=json_path)
    assert str(json_path) in str(info.value)


def test_load_table_missing_files_and_bad_options(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.data"):
        load_table(tmp_path / "nope.data")
    path = write(tmp_path / "t.data", "1 2\n3 4\n5 6\n")
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_table(path, splits=tmp_path / "nope.json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_table(path, splits=write(tmp_path / "s.json", "{"))
    with pytest.raises(ValueError, match="standardize"):
        load_table(path, standardize="test")
    with pytest.raises(ValueError, match="classification targets"):
        load_table(write(tmp_path / "c.data", "1 0\n2 1.5\n"), task="classification")


# ---------------------------------------------------------------- load with a data_dir


def test_load_resolves_files_in_data_dir(tmp_path):
    rng = np.random.default_rng(0)
    table = np.column_stack([rng.normal(5, 2, size=(20, 2)), rng.normal(size=20)])
    np.savetxt(tmp_path / "sinusoidal.data", table)  # shadows the built-in generator
    np.savetxt(tmp_path / "mine.csv", table, delimiter=",")
    train = list(range(15))
    write(tmp_path / "splits.json", json.dumps({"sinusoidal": {"train": train, "test": [15]}}))
    assert list_datasets(tmp_path) == [*datasets.BUILTIN, "mine"]
    data = load("sinusoidal", data_dir=tmp_path, standardize=None, num_test=1)
    np.testing.assert_array_equal(data.x_train, table[:15, :2])
    with pytest.raises(ValueError, match="num_test=2, but the split has only 1 rows"):
        load("sinusoidal", data_dir=tmp_path, num_test=2)
    with pytest.raises(ValueError, match="no split named 'mine'"):
        load("mine", data_dir=tmp_path)  # a splits.json that lacks the name is an error
    (tmp_path / "splits.json").unlink()  # without one: a seeded 80/20 split
    mine = load("mine", data_dir=tmp_path, standardize="all", seed=2)
    assert (mine.num_train, mine.num_test) == (16, 4)
    x, y = whole(mine)  # "all": whole-data statistics, so train alone is not exactly 0 / 1
    np.testing.assert_allclose(np.column_stack([x, y]).mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.column_stack([x, y]).std(0), 1.0, rtol=1e-12)
    assert abs(mine.x_train.mean()) > 1e-6
    assert not np.array_equal(load("mine", data_dir=tmp_path, seed=3).y_test, mine.y_test)
    with pytest.raises(ValueError, match="unknown data set 'nothing'.*'mine'"):
        load("nothing", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="data_dir"):
        load("sinusoidal", data_dir=tmp_path / "absent")


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")
def test_shared_data_matches_its_readme():
    readme = (SHARED_DATA / "README.md").read_text()
    sizes = {m[1]: (int(m[2]), int(m[3]))
             for m in re.finditer(r"^\| (\w+)\.data \| (\d+) \| (\d+) \|", readme, re.M)}
    assert len(sizes) >= 6
    splits = json.loads((SHARED_DATA / "splits.json").read_text())
    assert set(sizes) <= set(list_datasets(SHARED_DATA))
    for name, (rows, inputs) in sizes.items():
        data = load(name, data_dir=SHARED_DATA, standardize="all")
        assert (data.num_train, data.num_test) == (len(splits[name]["train"]),
                                                   len(splits[name]["test"]))
        assert data.num_train + data.num_test == rows and data.in_features == inputs
        assert data.num_train == (4 * rows) // 5
        x, y = whole(data)  # the published protocol: whole-data mean 0, sd 1
        np.testing.assert_allclose(x.mean(0), 0.0, atol=1e-9)
        np.testing.assert_allclose(x.std(0), 1.0, rtol=1e-9)
        np.testing.assert_allclose([y.mean(), y.std()], [0.0, 1.0], atol=1e-9)
        raw = load(name, data_dir=SHARED_DATA, standardize=None)
        np.testing.assert_allclose(data.standardizer.inverse_y(data.y_test), raw.y_test)
