"""Minimal, structurally valid one-page PDFs, so clients can check content type and magic bytes.

Offsets in the xref table are computed, not hard-coded, so PDF readers open the file too. Text
is left uncompressed so tests can look for it in the bytes.
"""

from __future__ import annotations

import unicodedata


def _ascii(text: str) -> str:
    """PDF base fonts lack Polish glyphs; strip accents and escape PDF string delimiters."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return plain.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def document(lines: list[str], *, font_size: int = 11, top: int = 790) -> bytes:
    """One A4 page with ``lines`` of Helvetica text, the first at ``top`` points from the bottom."""
    text_ops = " ".join(f"({_ascii(line)}) Tj 0 -16 Td" for line in lines)
    stream = f"BT /F1 {font_size} Tf 50 {top} Td {text_ops} ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref_at,
    )
    return bytes(out)
