"""Content-addressed files next to the database: image copies, heatmaps, thumbnails, overlays.

A file is named by the sha256 of its bytes: ``<root>/ab/abcdef...<64 hex>.<ext>``; the database keeps
the key ``ab/abcdef....ext`` (relative, so a data folder can be moved or synced to a server). The same
content is stored once. Files are written to a temporary name, flushed to disk and renamed into
place, so a key always points at a complete file, even after a crash or power cut.

Write artifacts before the inspection row that names them: then a stored row never points at a
missing file (a crash in between leaves an unreferenced file, which is harmless).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from inspector.core.processes import process_tag, tag_alive, tag_in_name
from inspector.store.errors import StoreError, translate_error

_KEY = re.compile(r"([0-9a-f]{2})/\1[0-9a-f]{62}(\.[a-z0-9]{1,8}){1,2}")
_SUFFIX = re.compile(r"(\.[a-z0-9]{1,8}){1,2}")
_CHUNK = 1 << 20
HEATMAP_SUFFIX = ".npy.gz"
HEATMAP_COMPACT_SUFFIX = ".h16.png"
_RANGE_KEY = "inspector-range"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, read in 1 MiB chunks (the station's content hash)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtifactStore:
    """Files addressed by content hash under ``root``. Safe to use from several threads."""

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync

    # -- keys and paths ------------------------------------------------------------------------

    @staticmethod
    def key_for(digest: str, suffix: str) -> str:
        suffix = suffix.lower()
        if not _SUFFIX.fullmatch(suffix):
            raise ValueError(f"artifact suffix must look like '.png' or '.npy.gz', got {suffix!r}")
        return f"{digest[:2]}/{digest}{suffix}"

    def path(self, key: str) -> Path:
        """The file for ``key``; keys that are not content-addressed names are refused."""
        if not _KEY.fullmatch(key):
            raise ValueError(f"not an artifact key: {key!r}")
        return self.root / key

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def verify(self, key: str) -> bool:
        """True when the file is present and its bytes still hash to its name."""
        path = self.path(key)
        return path.is_file() and sha256_file(path) == path.name.split(".", 1)[0]

    # -- writing -------------------------------------------------------------------------------

    def put_bytes(self, data: bytes, suffix: str) -> str:
        key = self.key_for(sha256_bytes(data), suffix)
        if not self.exists(key):
            self._write(key, [data])
        return key

    def put_file(self, source: str | os.PathLike[str], suffix: str | None = None) -> str:
        """Copy a file in (one streaming pass: hash while copying). Default suffix: the source's."""
        source = Path(source)
        suffix = (suffix if suffix is not None else source.suffix or ".bin").lower()
        self.key_for("0" * 64, suffix)  # validate before reading anything
        try:
            tmp = self._temp_in(self.root)
            digest = hashlib.sha256()
            try:
                with open(source, "rb") as src, open(tmp, "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        dst.write(chunk)
                    self._flush(dst)
                key = self.key_for(digest.hexdigest(), suffix)
                final = self.path(key)
                if final.is_file():
                    tmp.unlink()
                else:
                    final.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(tmp, final)
                    self._sync_dir(final.parent)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except FileNotFoundError as error:
            if not source.exists():
                raise StoreError(f"Cannot copy {source}: the file is gone.") from error
            raise translate_error(error, self.root, 0) from error
        except OSError as error:
            raise translate_error(error, self.root, 0) from error
        return key

    def save_image_copy(self, source: str | os.PathLike[str]) -> str:
        """Keep the original image bytes; the key's hash is then the inspection's content hash."""
        return self.put_file(source)

    def save_heatmap(self, anomaly_map: np.ndarray, *, compact: bool = False) -> str:
        """Store an anomaly map ``(H, W)``.

        Default: lossless float32 ``.npy``, gzip-compressed (deterministic bytes, readable with numpy
        alone). Float noise barely compresses, so a 1024 x 1024 map takes about 3.7 MB; with
        ``compact=True`` it is a 16-bit PNG over the map's own [min, max] range (kept in the PNG),
        about 1.6 MB, with an error below 1/131070 of the range: invisible, but not bit-exact.
        """
        array = np.ascontiguousarray(anomaly_map, dtype=np.float32)
        if array.ndim != 2:
            raise ValueError(f"an anomaly map is 2-D (H, W), got shape {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError("an anomaly map must not contain NaN or infinite values")
        if compact:
            low, high = float(array.min()), float(array.max())
            scale = (high - low) or 1.0
            levels = np.round((array - low) / scale * 65535.0).astype(np.uint16)
            info = PngImagePlugin.PngInfo()
            info.add_text(_RANGE_KEY, f"{low!r},{high!r}")
            out = io.BytesIO()
            Image.fromarray(levels).save(out, format="PNG", pnginfo=info, compress_level=1)
            return self.put_bytes(out.getvalue(), HEATMAP_COMPACT_SUFFIX)
        raw = io.BytesIO()
        np.save(raw, array, allow_pickle=False)
        return self.put_bytes(gzip.compress(raw.getvalue(), compresslevel=1, mtime=0), HEATMAP_SUFFIX)

    def load_heatmap(self, key: str) -> np.ndarray:
        """The float32 map stored by :meth:`save_heatmap` (either form)."""
        path = self.path(key)
        try:
            if key.endswith(HEATMAP_COMPACT_SUFFIX):
                with Image.open(path) as picture:
                    low, high = (float(v) for v in picture.text[_RANGE_KEY].split(","))  # type: ignore[attr-defined]  # PNG
                    levels = np.asarray(picture, dtype=np.float32)
                return (low + levels / 65535.0 * ((high - low) or 1.0)).astype(np.float32)
            return np.load(io.BytesIO(gzip.decompress(path.read_bytes())), allow_pickle=False)
        except (OSError, KeyError, ValueError) as error:
            raise StoreError(f"The heatmap {key} cannot be read from {self.root}: {error}.") from error

    def save_thumbnail(
        self, image: Image.Image | np.ndarray | str | os.PathLike[str], max_side: int = 256, quality: int = 85
    ) -> str:
        """A JPEG no larger than ``max_side`` on its long side (RGB uint8 arrays, PIL images or files)."""
        if isinstance(image, np.ndarray):
            picture = Image.fromarray(image)
        elif isinstance(image, Image.Image):
            picture = image
        else:
            try:
                with Image.open(image) as opened:
                    opened.draft("RGB", (max_side, max_side))  # JPEG: decode at reduced size, faster
                    picture = opened.convert("RGB")
            except OSError as error:
                raise StoreError(f"Cannot make a thumbnail of {image}: {error}.") from error
        picture = picture.convert("RGB") if picture.mode != "RGB" else picture.copy()
        picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        picture.save(out, format="JPEG", quality=quality, optimize=True)
        return self.put_bytes(out.getvalue(), ".jpg")

    def save_png(self, image: np.ndarray) -> str:
        """A lossless PNG of a uint8 (gray or RGB) or uint16 (gray) array, e.g. a heatmap overlay."""
        out = io.BytesIO()
        Image.fromarray(image).save(out, format="PNG", compress_level=1)
        return self.put_bytes(out.getvalue(), ".png")

    # -- housekeeping --------------------------------------------------------------------------

    def remove_stale_temp_files(self, older_than_s: float = 3600.0) -> int:
        """Delete temporary files left by a crash mid-write; returns how many were removed.

        A temporary file is named after the process writing it: it is removed as soon as that
        process is gone. Untagged ones (older stations) are removed once older than ``older_than_s``.
        """
        removed = 0
        cutoff = time.time() - older_than_s
        for tmp in self._temp_files():
            tag = tag_in_name(tmp.name)
            try:
                if (not tag_alive(tag)) if tag is not None else tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
            except OSError:
                continue
        return removed

    def _temp_files(self) -> Iterator[Path]:
        if not self.root.is_dir():
            return
        yield from self.root.glob(".tmp-*")
        yield from self.root.glob("??/.tmp-*")

    def _temp_in(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=f".tmp-{process_tag()}-")
        os.close(fd)
        os.chmod(name, 0o644)
        return Path(name)

    def _write(self, key: str, chunks: Iterable[bytes]) -> None:
        final = self.path(key)
        try:
            tmp = self._temp_in(final.parent)
            try:
                with open(tmp, "wb") as handle:
                    for chunk in chunks:
                        handle.write(chunk)
                    self._flush(handle)
                os.replace(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self._sync_dir(final.parent)
        except OSError as error:
            raise translate_error(error, self.root, 0) from error

    def _flush(self, handle: io.BufferedWriter) -> None:
        handle.flush()
        if self.fsync:
            os.fsync(handle.fileno())

    def _sync_dir(self, folder: Path) -> None:
        if not self.fsync or os.name != "posix":
            return
        try:
            fd = os.open(folder, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
