"""Text utilities for Vietnamese data: legacy encodings (TCVN3, VNI-Windows) and normalization."""

from tthc.text.legacy_encoding import decode, detect, encode, to_unicode

__all__ = ["decode", "detect", "encode", "to_unicode"]
