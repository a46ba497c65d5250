"""Photo decoding: under explicit pixel and memory budgets, with EXIF any database can store."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from PIL import Image, TiffImagePlugin

from proofpix_plugins.errors import PayloadTooLarge, ServiceUnavailable, ValidationFailed
from proofpix_plugins.files.images import MAX_PIXELS, DecodeGate, decode_bytes, inspect_image


def camera_jpeg(path: Path) -> Path:
    """EXIF as real cameras write it: zero-denominator rationals, NUL inside text."""
    exif = Image.Exif()
    exif[0x010F] = "Can\x00on"  # Make
    ifd = exif.get_ifd(0x8769)
    ifd[0x829A] = TiffImagePlugin.IFDRational(1, 0)  # ExposureTime 1/0
    ifd[0x829D] = TiffImagePlugin.IFDRational(0, 0)  # FNumber 0/0
    ifd[0x920A] = TiffImagePlugin.IFDRational(50, 1)  # FocalLength
    gps = exif.get_ifd(0x8825)
    gps[6] = TiffImagePlugin.IFDRational(1, 0)  # GPSAltitude 1/0
    Image.new("RGB", (32, 32)).save(path, exif=exif)
    return path


def test_zero_denominator_exif_rationals_are_dropped_not_nan(tmp_path: Path) -> None:
    info = inspect_image(camera_jpeg(tmp_path / "cam.jpg"))

    assert info.exif["make"] == "Canon"
    assert info.exif["focalLength"] == 50
    assert "exposureTime" not in info.exif
    assert "fNumber" not in info.exif
    assert "altitude" not in info.exif.get("gps", {})


def test_a_valid_95_megapixel_jpeg_is_accepted_up_to_max_pixels(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.new("L", (10_000, 9_500), 128).save(path, quality=50)

    info = inspect_image(path)

    assert (info.width, info.height) == (10_000, 9_500)


def test_past_max_pixels_is_a_422_naming_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (20_001, 20_000)).save(path)  # 400 MP, a few KB

    with pytest.raises(ValidationFailed) as info:
        inspect_image(path)

    assert str(MAX_PIXELS) in info.value.detail
    assert [(e.field, e.rule) for e in info.value.errors] == [("file", "max-pixels")]


def test_a_decode_over_the_memory_budget_is_a_413_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("RGBA", (1024, 1024)).save(path)

    with pytest.raises(PayloadTooLarge) as info:
        inspect_image(path, DecodeGate(max_bytes=2 * 1024 * 1024))

    assert "2 MiB decode memory budget" in info.value.detail
    assert [(e.field, e.rule) for e in info.value.errors] == [("file", "max-decode-memory")]


def test_decoded_bytes_follow_pillows_storage() -> None:
    assert decode_bytes("RGBA", 9400, 9400) == 9400 * 9400 * 4
    assert decode_bytes("RGB", 10, 10) == 400  # RGB is stored in 32-bit pixels
    assert decode_bytes("L", 10, 10) == 100


def test_the_gate_bounds_concurrent_decodes_by_number_and_by_memory() -> None:
    gate = DecodeGate(max_bytes=100, max_concurrent=2, wait_seconds=10)
    running = peak = 0
    peak_bytes = held = 0
    lock = threading.Lock()

    def decode(nbytes: int) -> None:
        nonlocal running, peak, held, peak_bytes
        with gate.hold(nbytes):
            with lock:
                running += 1
                held += nbytes
                peak, peak_bytes = max(peak, running), max(peak_bytes, held)
            time.sleep(0.05)
            with lock:
                running -= 1
                held -= nbytes

    threads = [threading.Thread(target=decode, args=(n,)) for n in (10, 10, 10, 60, 60, 10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert peak == 2
    assert peak_bytes <= 100


def test_a_decode_that_cannot_get_its_turn_is_a_503_with_retry_after(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.new("RGB", (8, 8)).save(path)
    gate = DecodeGate(max_concurrent=1, wait_seconds=0.1)

    with gate.hold(1), pytest.raises(ServiceUnavailable) as info:
        inspect_image(path, gate)

    assert "Retry-After" in info.value.headers
