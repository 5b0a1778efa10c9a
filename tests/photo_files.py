"""Image files for the photo tests, made with Pillow: good ones, and each kind of bad
input (a PDF renamed .jpg, a decompression bomb, huge or tiny sides, a truncated file)."""

import io
import struct
import zlib

from PIL import Image


def image(kind: str = "JPEG", size=(300, 200), colour=(40, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=kind)
    return out.getvalue()


def pdf_renamed() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width`×`height` pixels in its header with a tiny compressed
    body: the shape of a decompression bomb (Pillow would allocate width×height)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" + b"\x00" * 3 * min(width, 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row))
        + chunk(b"IEND", b"")
    )


def oversized_jpeg(limit: int) -> bytes:
    """A real JPEG padded past `limit` bytes (a comment after the end marker)."""
    return image() + b"\x00" * (limit + 1)


def truncated_jpeg() -> bytes:
    data = image(size=(400, 400))
    return data[: len(data) // 2]
