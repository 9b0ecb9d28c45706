"""The decoding stage: header checks, the CPU decoder, and the device decoders against it."""

import io

import pytest
import torch
from PIL import Image

from camutils.decode import (
    DEVICE_DECODERS,
    choose_decoder,
    decode_image,
    decode_on_device,
    device_decoder_works,
    device_decoders,
    has_eoi,
)

DEVICES = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


def _jpegs(n: int = 6) -> list[bytes]:
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(n):
        h, w = 40 + 7 * i, 60 - 3 * i
        x = torch.randint(0, 256, (h, w, 3), dtype=torch.uint8, generator=g)
        x = torch.nn.functional.avg_pool2d(x.permute(2, 0, 1)[None].float(), 3, 1, 1)[0]
        buf = io.BytesIO()
        Image.fromarray(x.permute(1, 2, 0).round().byte().numpy()).save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


@pytest.mark.parametrize("device", DEVICES, ids=str)
def test_every_working_decoder_gives_the_cpu_pixels(device):
    """Each device decoder present: the same sizes, pixels within a few levels of libjpeg's
    (JPEG's IDCT is not bit-exact across implementations), a corrupt file in the batch reported
    and the others still decoded."""
    data = _jpegs()
    ref = [decode_image(d) for d in data]
    tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in data]
    bad = torch.frombuffer(bytearray(data[0][: len(data[0]) // 3]), dtype=torch.uint8)
    found = device_decoders(device)
    assert "torchvision" in found and set(found) <= set(DEVICE_DECODERS)
    for decoder in found:
        out = decode_on_device([*tensors[:3], bad, *tensors[3:]], device, decoder=decoder)
        assert isinstance(out[3], str) and out[3].startswith("unreadable image")
        for got, want in zip(out[:3] + out[4:], ref, strict=True):
            assert got.device.type == device.type and got.shape == want.shape
            diff = (got.cpu().int() - want.int()).abs()
            assert diff.max() <= 8 and diff.float().mean() < 1.0, decoder


def test_choose_decoder_and_bad_names():
    cpu = torch.device("cpu")
    assert choose_decoder(cpu) == device_decoders(cpu)[0]
    assert not device_decoder_works(cpu, "nvimgcodec") and not device_decoder_works(cpu, "dali")
    with pytest.raises(ValueError, match="decoder 'nvimgcodec' does not decode JPEGs on cpu"):
        choose_decoder(cpu, "nvimgcodec")
    with pytest.raises(ValueError, match="decoder must be one of nvimgcodec, dali, torchcodec"):
        decode_on_device([], cpu, decoder="pil")


def test_truncated_jpeg_has_no_eoi():
    data = _jpegs(1)[0]
    assert has_eoi(data) and not has_eoi(data[: len(data) // 2])
