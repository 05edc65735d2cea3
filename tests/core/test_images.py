"""load_image / load_mask on every kind of file a station meets, and on broken ones."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from inspector.core.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    ImageLoadError,
    is_image_file,
    load_image,
    load_mask,
)
from inspector.errors import InspectorError


@pytest.fixture
def rgb() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (24, 36, 3), dtype=np.uint8)


def _check_rgb8(arr: np.ndarray, shape: tuple[int, int]) -> None:
    assert arr.dtype == np.uint8
    assert arr.shape == (*shape, 3)
    assert arr.flags.c_contiguous


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm"])
def test_lossless_rgb_formats_round_trip(tmp_path, rgb, suffix):
    path = tmp_path / f"part{suffix}"
    Image.fromarray(rgb).save(path, **({"lossless": True} if suffix == ".webp" else {}))
    arr = load_image(path)
    _check_rgb8(arr, rgb.shape[:2])
    np.testing.assert_array_equal(arr, rgb)


def test_jpeg(tmp_path, rgb):
    path = tmp_path / "part.JPG"
    smooth = cv2.GaussianBlur(rgb, (0, 0), 3)
    Image.fromarray(smooth).save(path, quality=95)
    arr = load_image(path)
    _check_rgb8(arr, rgb.shape[:2])
    assert np.abs(arr.astype(int) - smooth).mean() < 3


def test_grayscale_and_bilevel(tmp_path):
    gray = np.arange(24 * 36, dtype=np.uint32).reshape(24, 36).astype(np.uint8)
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    arr = load_image(tmp_path / "g.png")
    _check_rgb8(arr, gray.shape)
    for c in range(3):
        np.testing.assert_array_equal(arr[..., c], gray)
    Image.fromarray(gray > 100).convert("1").save(tmp_path / "b.png")
    np.testing.assert_array_equal(load_image(tmp_path / "b.png")[..., 1], np.where(gray > 100, 255, 0))


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_gray_scales_the_full_range(tmp_path, suffix):
    values = np.array([[0, 1, 255, 256, 1000, 32768, 65280, 65535]], dtype=np.uint16)
    path = tmp_path / f"g16{suffix}"
    assert cv2.imwrite(str(path), values)
    arr = load_image(path)
    _check_rgb8(arr, values.shape)
    # High byte: the whole 16-bit range maps onto 0..255 - 1000 is dark (3), not clipped to 255.
    np.testing.assert_array_equal(arr[..., 0], [[0, 0, 0, 1, 3, 128, 255, 255]])
    np.testing.assert_array_equal(arr[..., 0], arr[..., 2])
    # An 8-bit image stored as 16-bit (v * 257) comes back unchanged.
    eight = np.arange(256, dtype=np.uint16).reshape(16, 16)
    assert cv2.imwrite(str(path), eight * 257)
    np.testing.assert_array_equal(load_image(path)[..., 0], eight)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_colour_keeps_channel_order_and_scales(tmp_path, suffix):
    rng = np.random.default_rng(1)
    rgb16 = rng.integers(0, 65536, (10, 12, 3), dtype=np.uint16)
    path = tmp_path / f"c16{suffix}"
    assert cv2.imwrite(str(path), rgb16[..., ::-1])  # OpenCV writes BGR
    arr = load_image(path)
    _check_rgb8(arr, rgb16.shape[:2])
    np.testing.assert_array_equal(arr, (rgb16 >> 8).astype(np.uint8))


def test_alpha_is_dropped_not_composited(tmp_path, rgb):
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    alpha[:, ::2] = 255
    Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(load_image(tmp_path / "rgba.png"), rgb)
    gray = rgb[..., 0]
    Image.fromarray(np.dstack([gray, alpha]), mode="LA").save(tmp_path / "la.png")
    arr = load_image(tmp_path / "la.png")
    _check_rgb8(arr, gray.shape)
    np.testing.assert_array_equal(arr[..., 2], gray)


@pytest.mark.parametrize("transparency", [False, True])
def test_palette(tmp_path, transparency):
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]
    index = np.tile(np.arange(4, dtype=np.uint8), (5, 2))
    im = Image.fromarray(index, mode="P")
    im.putpalette(palette)
    kwargs = {"transparency": 1} if transparency else {}
    im.save(tmp_path / "p.png", **kwargs)
    arr = load_image(tmp_path / "p.png")
    _check_rgb8(arr, index.shape)
    np.testing.assert_array_equal(arr, np.array(palette).reshape(4, 3)[index])


def _orientation_source() -> np.ndarray:
    """40 x 60 image: red block top-left, blue block bottom-right, on grey."""
    img = np.full((40, 60, 3), 128, np.uint8)
    img[:15, :20] = (255, 0, 0)
    img[25:, 40:] = (0, 0, 255)
    return img


@pytest.mark.parametrize(
    ("orientation", "upright"),
    [
        (1, lambda a: a),
        (2, np.fliplr),
        (3, lambda a: np.rot90(a, 2)),
        (6, lambda a: np.rot90(a, -1)),  # viewer turns the stored image 90 degrees clockwise
        (8, lambda a: np.rot90(a, 1)),
    ],
)
def test_exif_orientation_is_applied(tmp_path, orientation, upright):
    # The camera stored `stored`; a viewer applying the tag shows upright(stored).
    stored = _orientation_source()
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif)
    arr = load_image(path)
    expected = upright(stored)
    assert arr.shape == expected.shape
    assert np.abs(arr.astype(int) - expected).mean() < 4
    # The red block is where the viewer shows it.
    red = np.argwhere((arr[..., 0] > 200) & (arr[..., 2] < 60)).mean(axis=0)
    expected_red = np.argwhere(expected[..., 0] == 255).mean(axis=0)
    np.testing.assert_allclose(red, expected_red, atol=1.0)


def test_float_tiff(tmp_path):
    values = np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5)
    Image.fromarray(values, mode="F").save(tmp_path / "f.tif")
    np.testing.assert_array_equal(load_image(tmp_path / "f.tif")[..., 0], np.rint(values * 255))
    Image.fromarray(values * 300, mode="F").save(tmp_path / "big.tif")
    with pytest.raises(ImageLoadError, match=r"big\.tif.*outside \[0, 1\]"):
        load_image(tmp_path / "big.tif")


# ------------------------------------------------------------------------------------------- errors


def _jpeg_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(np.repeat(np.repeat(rgb, 8, 0), 8, 1)))
    assert ok
    return buf.tobytes()


def test_pil_truncated_images_flag_is_off():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, -2])
def test_truncated_jpeg_is_an_error_not_a_grey_image(tmp_path, rgb, keep):
    data = _jpeg_bytes(rgb)
    cut = len(data) + keep if keep < 0 else int(len(data) * keep)
    path = tmp_path / "cut_off.jpg"
    path.write_bytes(data[:cut])
    with pytest.raises(ImageLoadError, match=r"cut_off\.jpg.*truncated"):
        load_image(path)


def test_truncated_png(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "half.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match=r"half\.png"):
        load_image(tmp_path / "half.png")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.jpg", b"", "empty"),
        ("notes.png", b"this is a text file, not an image\n" * 10, "not recognised"),
        ("drawing.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not recognised"),
        ("garbage.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, "corrupt"),
    ],
)
def test_bad_files(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageLoadError, match=reason) as info:
        load_image(path)
    assert name in str(info.value)
    assert isinstance(info.value, InspectorError)
    with pytest.raises(ImageLoadError):
        load_mask(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageLoadError, match=r"nothere\.png: the file does not exist"):
        load_image(tmp_path / "nothere.png")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


def test_pixel_limit(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "p.png")
    with pytest.raises(ImageLoadError, match=r"p\.png.*36 x 24 pixels, more than the limit of 100 pixels"):
        load_image(tmp_path / "p.png", max_pixels=100)
    assert load_image(tmp_path / "p.png", max_pixels=24 * 36).shape == (24, 36, 3)
    assert DEFAULT_MAX_PIXELS >= 100_000_000


def _png_claiming(tmp_path, name: str, width: int, height: int):
    """A tiny PNG file whose header claims ``width x height`` pixels."""
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "tiny.png")
    data = bytearray((tmp_path / "tiny.png").read_bytes())
    ihdr = 8 + 4  # signature, chunk length
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 4 + 13]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    (tmp_path / name).write_bytes(bytes(data))
    return tmp_path / name


def test_decompression_bomb_header_is_refused(tmp_path):
    bomb = _png_claiming(tmp_path, "bomb.png", 100_000, 100_000)
    with pytest.raises(ImageLoadError, match=r"bomb\.png.*too large to decode safely"):
        load_image(bomb, max_pixels=10**12)  # PIL's own hard limit still applies
    with pytest.raises(ImageLoadError, match=r"bomb\.png.*(too large|limit)"):
        load_image(bomb)
    with pytest.raises(ImageLoadError, match=r"bomb\.png"):
        load_mask(bomb)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pixel_limit_is_checked_before_decoding(tmp_path):
    big = _png_claiming(tmp_path, "big.png", 12_000, 12_000)  # below PIL's hard limit
    with pytest.raises(ImageLoadError, match=r"big\.png: the image is 12000 x 12000 pixels, more than"):
        load_image(big, max_pixels=100_000_000)


# -------------------------------------------------------------------------------------------- masks


def test_masks(tmp_path):
    mask = np.zeros((6, 8), np.uint8)
    mask[1:3, 2:5] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    out = load_mask(tmp_path / "m.png")
    assert out.dtype == bool and out.shape == (6, 8)
    np.testing.assert_array_equal(out, mask > 0)
    # 0/1 masks, 16-bit masks holding 1, colour masks and palette masks.
    Image.fromarray(mask // 255).save(tmp_path / "m01.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "m01.png"), mask > 0)
    assert cv2.imwrite(str(tmp_path / "m16.png"), (mask // 255).astype(np.uint16))
    np.testing.assert_array_equal(load_mask(tmp_path / "m16.png"), mask > 0)
    colour = np.zeros((6, 8, 3), np.uint8)
    colour[mask > 0] = (0, 0, 200)
    Image.fromarray(colour).save(tmp_path / "mc.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "mc.png"), mask > 0)
    rgba = np.dstack([colour, np.full((6, 8), 255, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "ma.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "ma.png"), mask > 0)
    pal = Image.fromarray((mask // 255).astype(np.uint8), mode="P")
    pal.putpalette([0, 0, 0, 255, 255, 255])
    pal.save(tmp_path / "mp.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "mp.png"), mask > 0)


def test_suffixes():
    assert {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"} <= set(IMAGE_SUFFIXES)
    assert is_image_file("a/b/PART.JPG")
    assert not is_image_file("a/._part.jpg")
    assert not is_image_file("notes.txt")
