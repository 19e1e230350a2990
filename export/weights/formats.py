"""Quick checks that a file is of the format it claims, before TensorFlow (or torch) is loaded.

They read a few bytes: the HDF5 signature, a zip directory, a pickle's protocol marker. A renamed
text file, a truncated download or a file of the wrong kind then fails in a second with one line,
instead of after TensorFlow's start-up inside a loader's error message.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from export.errors import ExportError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
KERAS_WEIGHTS_SUFFIXES = (".weights.h5", ".h5", ".hdf5", ".keras")
KERAS_MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


def require_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path if it is a readable file; otherwise ExportError "<what> not found: <path>"."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{what} not found: {path}")
    return path


def _head(path: Path, count: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(count)
    except OSError as error:
        raise ExportError(f"cannot read {path}: {error.strerror or error}") from None


def is_hdf5(path: Path) -> bool:
    """The HDF5 signature at offset 0 or at a user block (512, 1024, … bytes), as h5py looks for it."""
    offset, size = 0, Path(path).stat().st_size
    with open(path, "rb") as f:
        while offset + len(HDF5_SIGNATURE) <= size:
            f.seek(offset)
            if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def check_keras_weights(path: Path) -> None:
    """A Keras weights file: ``.weights.h5`` / legacy ``.h5`` (HDF5) or ``.keras`` (a zip archive)."""
    name = Path(path).name
    if not name.endswith(KERAS_WEIGHTS_SUFFIXES):
        raise ExportError(f"{path} is not a Keras weights file: expected .weights.h5, .h5 or .keras")
    _head(path, 1)
    if name.endswith(".keras"):
        if not zipfile.is_zipfile(path):
            raise ExportError(f"{path} is not a .keras file (not a zip archive written by model.save)")
    elif not is_hdf5(path):
        raise ExportError(f"{path} is not an HDF5 weights file (no HDF5 signature): damaged or of another format")


def check_keras_model(path: Path) -> None:
    """A Keras model file: ``.keras`` (zip) or legacy ``.h5`` (HDF5)."""
    if Path(path).suffix not in KERAS_MODEL_SUFFIXES:
        raise ExportError(f"{path} is not a Keras model file: expected .keras, .h5 or module:function")
    _head(path, 1)
    if Path(path).suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ExportError(f"{path} is not a .keras model file (not a zip archive written by model.save)")
    if Path(path).suffix == ".keras":
        _check_inflated_sizes(Path(path))
    if Path(path).suffix != ".keras" and not is_hdf5(path):
        raise ExportError(f"{path} is not a legacy .h5 model file (not an HDF5 file)")


# What a .keras member may inflate to before Keras reads it. model.save stores members uncompressed, so a
# genuine archive inflates ~1:1; Keras's own guard starts at 4 GiB, and reads config.json whole: a 1.5 MB
# archive holding a 1.5 GB config.json peaked at 3.7 GB. zipfile stops at the declared size, so these bound it.
MAX_CONFIG_BYTES = 64 << 20  # config.json, metadata.json
MAX_INFLATION = 100  # a larger member may inflate to at most 100x what it stores


def _check_inflated_sizes(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            if member.filename.endswith(".json") and member.file_size > MAX_CONFIG_BYTES:
                limit = f"{MAX_CONFIG_BYTES} bytes"
            elif member.file_size > MAX_CONFIG_BYTES and member.file_size > MAX_INFLATION * member.compress_size:
                limit = f"{MAX_INFLATION}x its {member.compress_size} stored bytes"
            else:
                continue
            raise ExportError(
                f"{path} is not a .keras archive written by model.save: its member {member.filename} inflates to "
                f"{member.file_size} bytes, more than {limit}"
            )


def check_torch_checkpoint(path: Path) -> None:
    """A ``torch.save`` file: a zip archive (torch >= 1.6) or a legacy pickle stream."""
    if zipfile.is_zipfile(path):
        return
    if not _head(path, 2).startswith(b"\x80"):
        raise ExportError(f"{path} is not a PyTorch checkpoint (neither a torch.save zip nor a pickle stream)")


def check_pickle(path: Path) -> None:
    """A pickle of protocol 2 or later (what every official StyleGAN pickle is)."""
    if not _head(path, 2).startswith(b"\x80"):
        raise ExportError(f"{path} is not a pickle file (no pickle protocol marker at its start)")
