"""Field extraction from the text of scanned results; the rules are data (seeds/scan_fields.yaml).

The intake pipeline OCRs (or reads the text layer of) each scan and calls
``extract_fields(pages, hints)``. We recognise the document type from its title, then
read ``Label: value`` lines. Labels are compared diacritic-insensitively because
Tesseract often drops or swaps Vietnamese marks; the price of a sloppy match is a lower
confidence, not a lost field. Values are returned as printed (whitespace and NFC
normalized, OCR letter/digit slips in numbers repaired); cleaning happens later.

Confidence of a field = label score x format score x OCR factor (see the YAML and
docs/scan_fields_and_legal.md); the overall confidence is the minimum over the
fields the document type requires (0 when one is missing or the type is unknown).

One module per concern: types (what is returned), values (formats), lines (lines and labels),
compiled (the rule compiler), doctype, fallbacks, extract (the extractor).
"""

from __future__ import annotations

from tthc.scans.fields.extract import extract_fields
from tthc.scans.fields.types import ExtractedFields, FieldGuess
from tthc.scans.fields.values import date_in_words, date_spelled_out, number_in_words
from tthc.scans.rules import RulesError, fold, load_rules

__all__ = ["FieldGuess", "ExtractedFields", "RulesError", "load_rules", "extract_fields", "fold", "date_in_words",
           "date_spelled_out", "number_in_words"]
