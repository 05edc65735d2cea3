"""Reading part images and ground-truth masks from disk.

Every image the station scores goes through :func:`load_image`, which returns RGB ``uint8`` whatever
the file holds, and refuses (with :class:`ImageLoadError`) anything it cannot decode completely:
a truncated JPEG is an error, never a silently grey-padded image. PIL's global
``ImageFile.LOAD_TRUNCATED_IMAGES`` must stay ``False`` for that guarantee; this module never sets it.

Conversions (documented choices):

- 16-bit samples (grayscale or colour) map to 8 bits by their high byte, ``v >> 8``: the full
  16-bit range ``0..65535`` maps onto ``0..255`` (never clipped), and an 8-bit image saved as 16-bit
  (``v * 257``) comes back unchanged. 12-bit sensor data stored in a 16-bit file therefore looks
  dark; no per-image stretching is done, so images of one lot stay comparable.
- Alpha is dropped: the stored colour values are kept as they are (not composited on a background),
  because the part's measured intensities are what the detectors must see.
- Palette images are expanded through their palette; grayscale is replicated to three channels.
- The EXIF orientation tag is applied, so the array is upright as an image viewer shows it.
- 32-bit float images must hold values in ``[0, 1]`` (scaled by 255); other float or 32-bit integer
  ranges are refused with a clear message rather than guessed.
- Multi-page files (TIFF stacks, animated formats) give their first page.
"""

from __future__ import annotations

import functools
import io
import logging
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError

from inspector.errors import InspectorError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES: tuple[str, ...] = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".pgm",
    ".ppm",
    ".pnm",
)
"""File suffixes (lower case) of the image files the station reads."""

#: PIL decoders that may be used; anything else (EPS, PSD, ...) is refused before decoding.
_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "MPO", "BMP", "DIB", "TIFF", "WEBP", "PPM")

DEFAULT_MAX_PIXELS = 150_000_000
"""Largest image (width x height) :func:`load_image` decodes by default, against decompression
bombs. It is kept below PIL's own hard limit (``2 * PIL.Image.MAX_IMAGE_PIXELS``, about 179 MP by
default), which applies as well: a file above that is refused too, with the same kind of message."""


class ImageLoadError(InspectorError):
    """An image file is missing, empty, truncated, corrupt, too large or not an image."""


def is_image_file(path: str | Path) -> bool:
    """True for a visible file whose suffix is one of :data:`IMAGE_SUFFIXES` (case-insensitive)."""
    path = Path(path)
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as an RGB ``uint8`` array ``(H, W, 3)``, upright per its EXIF orientation.

    Args:
        path: Image file (PNG, JPEG, BMP, TIFF, WebP or PNM).
        max_pixels: Refuse images with more than this many pixels (width x height).

    Raises:
        ImageLoadError: The file is missing, empty, not an image, truncated or corrupt, larger than
            ``max_pixels``, or holds a sample format that cannot be shown as RGB. The message names
            the file and the reason.
    """
    return _read(Path(path), max_pixels, _to_rgb8)


def load_mask(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a ground-truth mask as a boolean array ``(H, W)``: True (defect) where nonzero.

    The raw stored values are tested (a 16-bit mask holding 1 counts as defect). For colour masks
    any nonzero colour channel counts and alpha is ignored; for palette masks a nonzero palette
    index counts (VOC convention). The EXIF orientation is applied as for :func:`load_image`.

    Raises:
        ImageLoadError: As :func:`load_image`.
    """
    return _read(Path(path), max_pixels, _to_mask)


@functools.cache
def _decoders() -> tuple[str, ...]:
    """The formats of :data:`_FORMATS` this Pillow build has (MPO is part of JPEG in some versions)."""
    Image.init()
    return tuple(f for f in _FORMATS if f in Image.OPEN)


def _error(path: Path, reason: str) -> ImageLoadError:
    return ImageLoadError(f"Cannot load image {path}: {reason}.")


def decode_image(data: bytes, path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """:func:`load_image` for bytes already read from ``path`` (named in messages only)."""
    path = Path(path)
    if not data:
        raise _error(path, "the file is empty (0 bytes)")
    return _decode(lambda: Image.open(io.BytesIO(data), formats=_decoders()), path, max_pixels, _to_rgb8)


def _read(path: Path, max_pixels: int, convert: Callable[[Image.Image, Path], np.ndarray]) -> np.ndarray:
    """Open, size-check, fully decode, EXIF-rotate and convert one image."""
    if not path.exists():
        raise _error(path, "the file does not exist")
    if path.is_dir():
        raise _error(path, "it is a folder, not an image file")
    try:
        st = path.stat()
    except OSError as exc:
        raise _error(path, f"the file cannot be read ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise _error(path, "it is a special file (FIFO, device or socket), not an image file")
    if st.st_size == 0:
        raise _error(path, "the file is empty (0 bytes)")
    return _decode(lambda: Image.open(path, formats=_decoders()), path, max_pixels, convert)


def _decode(
    opener: Callable[[], Image.Image],
    path: Path,
    max_pixels: int,
    convert: Callable[[Image.Image, Path], np.ndarray],
) -> np.ndarray:
    try:
        src = opener()
    except Image.DecompressionBombError as exc:
        raise _error(path, f"the image is too large to decode safely ({exc})") from exc
    except UnidentifiedImageError:
        names = ", ".join(s.lstrip(".").upper() for s in IMAGE_SUFFIXES)
        reason = f"the image format is not recognised - corrupt or not an image (the station reads {names})"
        raise _error(path, reason) from None
    except PermissionError as exc:
        raise _error(path, f"permission denied ({exc.strerror or exc})") from exc
    except Exception as exc:  # noqa: BLE001 - header parsers raise OSError, SyntaxError, struct.error...
        raise _error(path, _reason(exc)) from exc
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        log.warning(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES was switched on by some other code: truncated "
            "images are no longer detected (%s).",
            path,
        )
    with src:
        pixels = src.width * src.height
        if pixels > max_pixels:
            raise _error(
                path,
                f"the image is {src.width} x {src.height} pixels, more than the limit of {max_pixels:,} "
                "pixels (a guard against decompression bombs)",
            )
        try:
            src.load()
            im = _upright(src, path)
            return convert(im, path)
        except ImageLoadError:
            raise
        except MemoryError:
            raise _error(path, f"not enough memory to decode a {src.width} x {src.height} image") from None
        except Exception as exc:  # noqa: BLE001 - decoders raise OSError, SyntaxError, ValueError...
            raise _error(path, _reason(exc)) from exc


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower() or isinstance(exc, EOFError):
        return f"the file is truncated - an incomplete copy or download? ({text})"
    return f"the file is corrupt ({text})"


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright(im: Image.Image, path: Path) -> Image.Image:
    """Apply the EXIF orientation tag (as ``ImageOps.exif_transpose``, without copying upright images)."""
    try:
        orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception as exc:  # noqa: BLE001 - malformed EXIF: keep the stored orientation
        log.warning("Ignoring the unreadable EXIF data of %s: %s", path, exc)
        return im
    method = _TRANSPOSE.get(orientation)
    return im.transpose(method) if method is not None else im


def _to_mask(im: Image.Image, path: Path) -> np.ndarray:
    arr = np.asarray(im)
    if arr.ndim == 3:
        colour = arr[..., :3] if arr.shape[2] >= 3 else arr[..., :1]  # drop alpha (RGBA / LA)
        return np.any(colour != 0, axis=2)
    return arr != 0


def _to_rgb8(im: Image.Image, path: Path) -> np.ndarray:
    mode = im.mode
    if mode == "RGB":
        return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))
    if mode in ("RGBA", "RGBa", "RGBX"):
        return np.ascontiguousarray(np.asarray(im, dtype=np.uint8)[..., :3])
    if mode in ("L", "LA", "La", "1"):
        gray = np.asarray(im.convert("L") if mode == "1" else im, dtype=np.uint8)
        return _gray_to_rgb(gray[..., 0] if gray.ndim == 3 else gray)  # LA: drop alpha
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(im)
        if mode == "I" and values.size and (values.min() < 0 or values.max() > 65535):
            raise _error(
                path,
                f"it holds 32-bit integer values ({values.min()} to {values.max()}) outside the "
                "16-bit range; save it as 8 or 16-bit",
            )
        return _gray_to_rgb((values.astype(np.uint32) >> 8).astype(np.uint8))
    if mode == "F":
        values = np.asarray(im, dtype=np.float32)
        if values.size and not (np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.0):
            raise _error(path, "it holds floating-point values outside [0, 1]; save it as 8 or 16-bit")
        return _gray_to_rgb(np.rint(values * 255.0).astype(np.uint8))
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        converted = im.convert("RGBA" if has_alpha else "RGB")
        return np.ascontiguousarray(np.asarray(converted, dtype=np.uint8)[..., :3])
    # CMYK, YCbCr, LAB, HSV, ...: PIL knows the colour transform.
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def fit_size(shape: tuple[int, ...], max_side: int) -> tuple[int, int]:
    """``(width, height)`` of an image of ``shape`` shrunk to at most ``max_side`` on its long side
    (aspect kept, never enlarged): the one rule every shrink in the station follows."""
    h, w = shape[:2]
    scale = min(1.0, max_side / max(h, w))
    return max(1, round(w * scale)), max(1, round(h * scale))


def downscale_to_max_side(array: np.ndarray, max_side: int, *, nearest: bool = False) -> np.ndarray:
    """Shrink an image, map or mask so its longer side is at most ``max_side`` (never enlarges).

    Maps and images are area-averaged; with ``nearest`` (masks) values are picked, not blended, and a
    boolean mask stays boolean. An array already small enough is returned as it is (made C-contiguous).
    """
    import cv2

    size = fit_size(array.shape, max_side)
    if size == (array.shape[1], array.shape[0]):
        return np.ascontiguousarray(array)
    if nearest:
        small = cv2.resize(
            array.astype(np.uint8) if array.dtype == bool else array, size, interpolation=cv2.INTER_NEAREST
        )
        return small.astype(bool) if array.dtype == bool else small
    return cv2.resize(array, size, interpolation=cv2.INTER_AREA)
