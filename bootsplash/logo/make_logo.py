#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Draws the splash's built-in picture and writes it as an 8-bit RLE BMP.

The picture is a display with a ring on its screen, in a few flat colours, so
that run-length encoding keeps it small in the kernel image. Run it from this
folder; it writes logo.bmp next to itself.
"""

import math
import struct
import sys

WIDTH, HEIGHT = 160, 120
PALETTE = [
    (0x10, 0x14, 0x18),  # 0: background, the splash's default colour
    (0xd8, 0xde, 0xe6),  # 1: frame of the display
    (0x1c, 0x2a, 0x3c),  # 2: screen
    (0xf0, 0x7c, 0x30),  # 3: ring
    (0x8a, 0x94, 0xa0),  # 4: stand
]


def pixel(x, y):
    """The palette index at (x, y), top-down."""
    cx, cy = WIDTH / 2, 50
    # Screen 136x84 with a 6-pixel frame, stand below.
    if 12 <= x < 148 and 8 <= y < 92:
        if 18 <= x < 142 and 14 <= y < 86:
            r = math.hypot(x + 0.5 - cx, y + 0.5 - cy)
            if 20 <= r <= 30:
                # A gap at the top right: a progress ring.
                angle = math.degrees(math.atan2(cy - y - 0.5, x + 0.5 - cx)) % 360
                return 2 if 20 <= angle <= 70 else 3
            return 2
        return 1
    if 72 <= x < 88 and 92 <= y < 106:
        return 4
    if 48 <= x < 112 and 106 <= y < 112:
        return 4
    return 0


def encode_row(row):
    """RLE8 runs of one row, each at most 255 long, then end of line."""
    out = bytearray()
    x = 0
    while x < len(row):
        run = 1
        while x + run < len(row) and row[x + run] == row[x] and run < 255:
            run += 1
        out += bytes((run, row[x]))
        x += run
    out += b"\x00\x00"
    return out


def main():
    rows = [[pixel(x, y) for x in range(WIDTH)] for y in range(HEIGHT)]
    pixels = bytearray()
    for row in reversed(rows):  # BMP rows go bottom-up
        pixels += encode_row(row)
    pixels += b"\x00\x01"  # end of bitmap
    palette = b"".join(bytes((b, g, r, 0)) for (r, g, b) in PALETTE)
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, WIDTH, HEIGHT, 1, 8, 1, len(pixels),
                       2835, 2835, len(PALETTE), 0)
    header = struct.pack("<2sIHHI", b"BM", offset + len(pixels), 0, 0, offset)
    with open("logo.bmp", "wb") as bmp:
        bmp.write(header + info + palette + pixels)
    print(f"logo.bmp: {WIDTH}x{HEIGHT}, {offset + len(pixels)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
