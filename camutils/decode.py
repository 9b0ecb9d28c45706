"""Decoding: image file bytes -> ``(3, H, W)`` uint8 RGB, with the header checks first.

- :func:`jpeg_info` reads a JPEG's frame header (size, colour components) in microseconds, so
  the size of every image is known before it is decoded; :func:`check_pixels` refuses an image
  over :data:`MAX_PIXELS` before a pixel is decoded (a JPEG of a few hundred bytes can declare
  65500 x 65500 pixels).
- :func:`decode_image` decodes on the CPU: libjpeg-turbo through torchvision, PIL for anything
  else it can open (grayscale and CMYK become RGB; a PNG with a ``.JPEG`` name is read too).
- :func:`decode_on_device` decodes a list of 3-component JPEGs on a CUDA device with the
  fastest decoder present (:func:`choose_decoder`: nvImageCodec or DALI, which use the
  hardware JPEG engines, then TorchCodec's and torchvision's batched nvJPEG), each image that a
  GPU decoder refuses falling back to the CPU. All decoders give the same pixels to within a
  few levels (JPEG's IDCT is not bit-exact across implementations), so the same boxes to
  within a pixel or two and the same metrics up to the rare image whose IoU sits at 0.5
  (``tests/test_gpu.py`` checks each one against the CPU).

Example:
    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("RGB", (500, 375)).save(buf, "JPEG")
    >>> jpeg_info(buf.getvalue()).width, decode_image(buf.getvalue()).shape
    (500, torch.Size([3, 375, 500]))
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "DEVICE_DECODERS",
    "MAX_PIXELS",
    "ImageTooLarge",
    "JpegInfo",
    "UnreadableImage",
    "check_pixels",
    "choose_decoder",
    "decode_image",
    "decode_on_device",
    "device_decoder_works",
    "device_decoders",
    "has_eoi",
    "jpeg_info",
    "read_image_bytes",
]

# The most pixels an image may have to be decoded: PIL's Image.MAX_IMAGE_PIXELS convention
# (1024 * 1024 * 1024 // 4 // 3, about 89.5 M pixels, a 3-byte-per-pixel image of a quarter
# GiB). A JPEG of a few hundred bytes can declare 65500 x 65500 pixels (12.9 GB decoded).
MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3


class UnreadableImage(ValueError):
    """An image file that neither libjpeg (torchvision) nor PIL can decode."""


class ImageTooLarge(UnreadableImage):
    """An image whose header declares more pixels than the limit: refused before decoding."""


@dataclass(frozen=True)
class JpegInfo:
    """What a JPEG header says: size, colour components (1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK) and
    whether it is progressive."""

    height: int
    width: int
    components: int
    progressive: bool


_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_info(data: bytes | bytearray | memoryview) -> JpegInfo | None:
    """Parse a JPEG's markers up to its frame header; ``None`` if it is not a readable JPEG.

    Only the header is read (microseconds), so the pipeline knows every image's original size
    before decoding and can send the images the GPU decoder handles (baseline or progressive
    3-component JPEGs) to it and the others (grayscale, CMYK, not a JPEG) to the CPU.

    Example:
        >>> from PIL import Image
        >>> buf = io.BytesIO(); Image.new("RGB", (500, 375)).save(buf, "JPEG")
        >>> jpeg_info(buf.getvalue())
        JpegInfo(height=375, width=500, components=3, progressive=False)
    """
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    i = 2
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = (data[i + 2] << 8) | data[i + 3]
        if marker in _SOF_MARKERS:
            if i + 10 > n:
                return None
            h = (data[i + 5] << 8) | data[i + 6]
            w = (data[i + 7] << 8) | data[i + 8]
            comps = data[i + 9]
            if h == 0 or w == 0 or comps not in (1, 3, 4):
                return None
            return JpegInfo(h, w, comps, marker in (0xC2, 0xC6, 0xCA, 0xCE))
        if marker in (0xD9, 0xDA) or length < 2:  # end of image / start of scan before a frame
            return None
        i += 2 + length
    return None


def check_pixels(height: int, width: int, max_pixels: int | None, name: str = "image") -> None:
    """Raise :class:`ImageTooLarge` when a ``height x width`` image is over ``max_pixels``
    (``None``: no limit), before anything is decoded."""
    if max_pixels is not None and height * width > max_pixels:
        raise ImageTooLarge(
            f"{name}: {width} x {height} = {height * width:,} pixels, over the limit of "
            f"{max_pixels:,} (max_pixels); not decoded"
        )


def read_image_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of an image file; :class:`UnreadableImage` naming it when it cannot be read
    (missing, a symbolic link to nowhere or to itself, no permission) or is not a regular file
    (a FIFO or a device would block or never end)."""
    path = Path(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise UnreadableImage(f"{path.name}: not a regular file")
        return path.read_bytes()
    except OSError as e:
        raise UnreadableImage(f"{path.name}: cannot read ({e.strerror or e})") from e


def _pil_decode(data: bytes, max_pixels: int | None, name: str) -> Tensor:
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            im = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as e:  # PIL's own limit, 2 x MAX_IMAGE_PIXELS
            raise ImageTooLarge(f"{name}: {e} Not decoded.") from e
        with im:
            check_pixels(im.height, im.width, max_pixels, name)  # only the header is read yet
            im.load()
            rgb = im.convert("RGB")
    return (
        torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8)
        .view(rgb.height, rgb.width, 3)
        .permute(2, 0, 1)
        .contiguous()
    )


def decode_image(
    data: bytes | bytearray | Tensor, name: str = "image", max_pixels: int | None = MAX_PIXELS
) -> Tensor:
    """Decode an image file's bytes into a ``(3, H, W)`` uint8 RGB tensor on the CPU.

    libjpeg-turbo (``torchvision.io.decode_jpeg``, which converts grayscale and CMYK to RGB)
    first; PIL for anything else it can open (a PNG with a ``.JPEG`` name, some odd JPEGs).
    A truncated or corrupt file raises :class:`UnreadableImage` naming it: the pipeline counts
    and reports it and carries on. An image whose header declares more than ``max_pixels``
    pixels (default :data:`MAX_PIXELS`, PIL's convention; ``None`` for no limit) raises
    :class:`ImageTooLarge` before any pixel is decoded (PIL's own limit, twice its
    ``Image.MAX_IMAGE_PIXELS``, still applies to the files PIL decodes).

    Example:
        >>> from PIL import Image
        >>> buf = io.BytesIO(); Image.new("L", (6, 4), 128).save(buf, "JPEG")
        >>> decode_image(buf.getvalue()).shape
        torch.Size([3, 4, 6])
    """
    from torchvision.io import ImageReadMode
    from torchvision.io import decode_jpeg as _decode_jpeg

    if isinstance(data, Tensor):
        encoded = data.reshape(-1).to(torch.uint8)
        raw = encoded.numpy().tobytes()
    else:
        raw = bytes(data)
        encoded = torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else None
    if not raw:
        raise UnreadableImage(f"{name}: empty file")
    first_error = None
    info = jpeg_info(raw)
    if info is not None:
        check_pixels(info.height, info.width, max_pixels, name)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img = _decode_jpeg(encoded, mode=ImageReadMode.RGB)
            return img
        except RuntimeError as e:
            first_error = e
    try:
        return _pil_decode(raw, max_pixels, name)
    except ImageTooLarge:
        raise
    except Exception as e:  # noqa: BLE001 - PIL raises many types for bad files
        detail = f"{first_error}; " if first_error else ""
        msg = f"{detail}{type(e).__name__}: {e}".replace("\n", " ")
        raise UnreadableImage(f"{name}: cannot decode ({msg[:300]})") from e


def has_eoi(data: bytes) -> bool:
    """Whether a JPEG ends with the EOI marker (possibly followed by a little padding), as a
    complete one does; a truncated file goes to the CPU decoder, which reports it.

    Example:
        >>> has_eoi(b"\\xff\\xd8...\\xff\\xd9"), has_eoi(b"\\xff\\xd8...")
        (True, False)
    """
    return b"\xff\xd9" in data[-64:]


# --------------------------------------------------------------------------- device decoders
# Fastest first. nvImageCodec and DALI drive the hardware JPEG engines of A100/H100/H200 (with
# CUDA kernels for the rest); TorchCodec (>= 0.16) and torchvision batch nvJPEG's CUDA decoder.
# All but torchvision are optional extras (pyproject's ``gpu-decode``), never required.
DEVICE_DECODERS = ("nvimgcodec", "dali", "torchcodec", "torchvision")
_DALI_BATCH = 256  # images per DALI pipeline run
_CACHE: dict[tuple[str, int], Any] = {}  # (decoder, device index) -> decoder object


def _batch_torchvision(encoded: list[Tensor], device: torch.device) -> list[Tensor]:
    from torchvision.io import ImageReadMode, decode_jpeg

    return list(decode_jpeg(list(encoded), mode=ImageReadMode.RGB, device=device))


def _batch_torchcodec(encoded: list[Tensor], device: torch.device) -> list[Tensor]:
    from torchcodec.decoders import decode_jpeg

    return list(decode_jpeg(list(encoded), mode="RGB", device=device))


def _batch_nvimgcodec(encoded: list[Tensor], device: torch.device) -> list[Tensor]:
    from nvidia import nvimgcodec

    key = ("nvimgcodec", device.index or 0)
    if key not in _CACHE:
        _CACHE[key] = nvimgcodec.Decoder(device_id=device.index or 0)
    images = _CACHE[key].decode([t.numpy().tobytes() for t in encoded])
    if any(im is None for im in images):
        raise RuntimeError("nvImageCodec could not decode every image of the batch")
    torch.cuda.synchronize(device)  # its own stream: finished before torch reads the pixels
    return [torch.as_tensor(im, device=device).permute(2, 0, 1).contiguous() for im in images]


def _batch_dali(encoded: list[Tensor], device: torch.device) -> list[Tensor]:
    out: list[Tensor] = []
    for start in range(0, len(encoded), _DALI_BATCH):
        out += _dali_chunk(encoded[start : start + _DALI_BATCH], device)
    return out


def _dali_chunk(encoded: list[Tensor], device: torch.device) -> list[Tensor]:
    import numpy as np
    from nvidia.dali import fn, pipeline_def, types
    from nvidia.dali.plugin.pytorch import feed_ndarray

    key = ("dali", device.index or 0)
    if key not in _CACHE:

        @pipeline_def(batch_size=_DALI_BATCH, num_threads=4, device_id=device.index or 0)
        def jpegs():  # noqa: ANN202 - a DALI graph
            data = fn.external_source(name="jpegs", dtype=types.UINT8, no_copy=False)
            return fn.decoders.image(data, device="mixed", output_type=types.RGB)

        pipe = jpegs()
        pipe.build()
        _CACHE[key] = pipe
    pipe = _CACHE[key]
    pipe.feed_input("jpegs", [np.frombuffer(t.numpy().tobytes(), dtype=np.uint8) for t in encoded])
    (decoded,) = pipe.run()
    images = []
    for i in range(len(encoded)):
        sample = decoded[i]
        img = torch.empty(tuple(sample.shape()), dtype=torch.uint8, device=device)
        feed_ndarray(sample, img, cuda_stream=torch.cuda.current_stream(device))
        images.append(img.permute(2, 0, 1).contiguous())
    return images


_BATCH_DECODE = {
    "torchvision": _batch_torchvision,
    "torchcodec": _batch_torchcodec,
    "nvimgcodec": _batch_nvimgcodec,
    "dali": _batch_dali,
}


def device_decoder_works(device: torch.device, decoder: str = "torchvision") -> bool:
    """Whether ``decoder`` (one of :data:`DEVICE_DECODERS`) is installed and decodes a small
    JPEG on ``device`` here, exactly (a flat grey image survives any JPEG decoder)."""
    if decoder not in _BATCH_DECODE:
        raise ValueError(f"decoder must be one of {', '.join(DEVICE_DECODERS)}; found {decoder!r}")
    if decoder in ("nvimgcodec", "dali") and device.type != "cuda":
        return False
    from torchvision.io import encode_jpeg

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            flat = torch.full((3, 16, 24), 128, dtype=torch.uint8)
            out = _BATCH_DECODE[decoder]([encode_jpeg(flat)], device)
        return len(out) == 1 and bool((out[0].cpu().int() - 128).abs().max() <= 1)
    except Exception:  # noqa: BLE001 - not installed, no GPU support, a driver error
        return False


def device_decoders(device: torch.device) -> list[str]:
    """The device decoders that work here (:func:`device_decoder_works`), fastest first.

    Example:
        >>> "torchvision" in device_decoders(torch.device("cpu"))
        True
    """
    return [d for d in DEVICE_DECODERS if device_decoder_works(device, d)]


def choose_decoder(device: torch.device, decoder: str = "auto") -> str | None:
    """``decoder`` itself when it works on ``device``, else ``ValueError`` saying which do;
    for ``"auto"`` the fastest that works (``None`` when none does: the CPU workers decode).

    Example:
        >>> choose_decoder(torch.device("cpu"), "torchvision")
        'torchvision'
    """
    if decoder == "auto":
        found = device_decoders(device)
        return found[0] if found else None
    if not device_decoder_works(device, decoder):
        raise ValueError(
            f"decoder {decoder!r} does not decode JPEGs on {device} here; those that do: "
            f"{', '.join(device_decoders(device)) or 'none'}"
        )
    return decoder


def decode_on_device(
    encoded: list[Tensor],
    device: torch.device,
    max_pixels: int | None = MAX_PIXELS,
    decoder: str = "torchvision",
) -> list[Tensor | str]:
    """Decode a list of JPEGs (1-D uint8 tensors of their bytes) into ``(3, H, W)`` uint8 RGB
    on ``device``, or the reason an image is unreadable.

    One batched call of ``decoder`` (:data:`DEVICE_DECODERS`); one bad file makes a batched call
    fail, so then each is tried alone, and libjpeg/PIL on the CPU get the last word (on a CPU
    device the torchvision and TorchCodec decoders run with libjpeg: that is how the tests
    exercise this path).

    Example:
        >>> from torchvision.io import encode_jpeg
        >>> data = encode_jpeg(torch.full((3, 8, 8), 128, dtype=torch.uint8))
        >>> [tuple(x.shape) for x in decode_on_device([data], torch.device("cpu"))]
        [(3, 8, 8)]
    """
    if decoder not in _BATCH_DECODE:
        raise ValueError(f"decoder must be one of {', '.join(DEVICE_DECODERS)}; found {decoder!r}")
    batch = _BATCH_DECODE[decoder]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return list(batch(encoded, device))
        except Exception:  # noqa: BLE001 - each decoder has its own error types
            pass
        out: list[Tensor | str] = []
        for data in encoded:
            try:
                out.append(batch([data], device)[0])
            except Exception:  # noqa: BLE001
                try:
                    out.append(decode_image(data, max_pixels=max_pixels).to(device))
                except UnreadableImage as e:
                    out.append(f"unreadable image: {e}")
        return out
