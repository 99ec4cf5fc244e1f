"""Synthetic ICC profiles for tests and benchmarks: RGB input profiles written byte by byte.

Two kinds, both ICC v2 'scnr' RGB -> PCS XYZ profiles that LittleCMS and browsers accept:

- `swapped_primaries()`: a small matrix/TRC profile whose red, green and blue primaries are
  sRGB's green, blue and red. Stored red means green on screen: a deliberately strong profile,
  so converted colours cannot be mistaken for unconverted ones.
- `lut_profile(grid)`: the same colours through an A2B0 lut16 with a `grid`^3 colour table, the
  kind of profile whole-slide scanners write (a grid of 65 makes it about 1.6 MB, the size of
  a GT450 profile), so conversion costs what a real LUT profile costs.
"""

import struct

import numpy as np

# sRGB's primaries and white point, D50-adapted (the values of the sRGB profile's rXYZ...).
_SRGB_PRIMARIES = np.array([[0.4361, 0.2225, 0.0139],    # red   X, Y, Z
                            [0.3851, 0.7169, 0.0971],    # green
                            [0.1431, 0.0606, 0.7141]])   # blue
_D50 = (0.9642, 1.0, 0.8249)
GAMMA = 2.2


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def _text(text: str) -> bytes:
    return b"text\0\0\0\0" + text.encode("ascii") + b"\0"


def _desc(text: str) -> bytes:
    """textDescriptionType: ASCII, no Unicode or ScriptCode strings."""
    ascii_text = text.encode("ascii") + b"\0"
    return (b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text
            + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67)


def _gamma_curve(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256))


def _profile(tags: list[tuple[bytes, bytes]]) -> bytes:
    """A v2.1 RGB->XYZ input profile of the given (signature, data) tags."""
    table = struct.pack(">I", len(tags))
    offset = 128 + 4 + 12 * len(tags)
    body = b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"scnr"
              + b"RGB " + b"XYZ " + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp"
              + b"\0" * 4 + struct.pack(">I", 0) + b"\0" * 8 + b"\0" * 8
              + struct.pack(">I", 0) + _s15(_D50[0]) + _s15(_D50[1]) + _s15(_D50[2])
              + b"\0" * 4 + b"\0" * 16 + b"\0" * 28)
    assert len(header) == 128
    return header + table + body


def _common(name: str) -> list[tuple[bytes, bytes]]:
    return [(b"desc", _desc(name)), (b"cprt", _text("No copyright, synthetic test profile")),
            (b"wtpt", _xyz(*_D50))]


def swapped_primaries(name: str = "Swapped primaries (synthetic)") -> bytes:
    """Red shows as sRGB green, green as blue, blue as red; gamma 2.2."""
    red, green, blue = _SRGB_PRIMARIES[1], _SRGB_PRIMARIES[2], _SRGB_PRIMARIES[0]
    curve = _gamma_curve(GAMMA)
    return _profile(_common(name) + [
        (b"rXYZ", _xyz(*red)), (b"gXYZ", _xyz(*green)), (b"bXYZ", _xyz(*blue)),
        (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)])


def _lut16(grid: int) -> bytes:
    """lut16Type RGB -> XYZ with identity curves and a grid^3 table of the swapped primaries."""
    axis = np.linspace(0.0, 1.0, grid) ** GAMMA
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")  # first input varies slowest
    linear = np.stack([r, g, b], axis=-1).reshape(-1, 3)
    primaries = _SRGB_PRIMARIES[[1, 2, 0]]
    xyz = linear @ primaries
    # PCS XYZ in lut16: 0..0xFFFF stands for 0..1+32767/32768.
    table = np.clip(np.round(xyz / (1 + 32767 / 32768) * 65535), 0, 65535).astype(">u2")
    identity = np.linspace(0, 65535, 256).round().astype(">u2").tobytes()
    matrix = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    return (b"mft2\0\0\0\0" + bytes([3, 3, grid, 0]) + matrix + struct.pack(">HH", 256, 256)
            + identity * 3 + table.tobytes() + identity * 3)


def lut_profile(grid: int = 65, name: str = "Swapped primaries, LUT (synthetic)") -> bytes:
    """The swapped primaries as an A2B0 colour table of grid^3 points (65: about 1.6 MB).
    The matrix/TRC tags stay too, as scanners write them, for viewers without LUT support."""
    curve = _gamma_curve(GAMMA)
    red, green, blue = _SRGB_PRIMARIES[1], _SRGB_PRIMARIES[2], _SRGB_PRIMARIES[0]
    return _profile(_common(name) + [
        (b"A2B0", _lut16(grid)),
        (b"rXYZ", _xyz(*red)), (b"gXYZ", _xyz(*green)), (b"bXYZ", _xyz(*blue)),
        (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)])
