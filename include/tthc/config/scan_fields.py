"""The typed model of the scan-field rules (seeds/scan_fields.yaml; docs/scan_fields_and_legal.md).

This model checks the shape (keys, types, ranges); tthc.scans.rules then compiles the regexes and
checks the cross references (a field's format, a document type's required fields)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from tthc.config.sources import Strict

Ratio = Field(ge=0, le=1)


class RuleSettings(Strict):
    separators: str = Field(":;", min_length=1, description="characters that end a label")
    max_label_words: int = Field(7, ge=1)
    fuzzy_label_min_ratio: float = Field(0.84, ge=0, le=1)
    fuzzy_label_min_length: int = Field(6, ge=0)
    title_search_lines: int = Field(20, ge=1)
    fuzzy_title_min_ratio: float = Field(0.82, ge=0, le=1)
    wrap_min_chars: int = Field(48, ge=0)
    stop_lines: list[str] = Field(default_factory=list, description="regexes (folded text) that end a value")
    motto_lines: list[str] = Field(default_factory=list, description="regexes (folded text) of the national motto")
    agency_prefixes: list[str] = Field(default_factory=list)
    other_person_words: list[str] = Field(default_factory=list)
    holder_fields: list[str] = Field(default_factory=list)
    abbreviations: dict[str, str] = Field(default_factory=dict)
    date_words: list[str] = Field(default_factory=lambda: ["ngày", "tháng", "năm"], min_length=3, max_length=3,
                                  description="the words for day, month, year")
    date_word_min_ratio: float = Field(0.5, ge=0, le=1)
    phrase_min_ratio: float = Field(0.75, ge=0, le=1)


class LabelConfidence(Strict):
    exact: float = Ratio
    folded: float = Ratio
    no_separator: float = Ratio
    fuzzy: float = Ratio
    fallback: float = Ratio


class FormatConfidence(Strict):
    ok: float = Ratio
    repaired: float = Ratio
    checksum: float = Ratio
    failed: float = Ratio


class TitleConfidence(Strict):
    exact: float = Ratio
    folded: float = Ratio
    fuzzy: float = Ratio
    hint: float = Ratio


class Confidence(Strict):
    label: LabelConfidence
    format: FormatConfidence
    title: TitleConfidence
    next_line: float = Field(0.9, ge=0, le=1)
    ocr_floor: float = Field(0.5, ge=0, le=1)


class FormatRule(Strict):
    digits: bool = False
    strip_spaces: bool = False
    fix_punctuation: bool = False
    fix_specks: bool = False
    slash_repair: bool = False
    phrases: list[str] | None = None
    patterns: list[str] = Field(default_factory=list, description="regexes a value must match")
    check: Literal["date", "mst"] | None = None
    search: str | None = None


class FieldSpec(Strict):
    format: str = Field(description="a key of formats")
    labels: list[str] = Field(default_factory=list)
    multiline: bool = False
    fallback: Literal["agency_header", "date_words"] | None = None


class Anchor(Strict):
    after: str | None = None
    before: str | None = None


class RowSpec(Strict):
    labels: list[str]
    fields: list[str]


class DocumentType(Strict):
    titles: list[str] = Field(min_length=1)
    required: list[str] = Field(default_factory=list)
    labels: dict[str, list[str]] | None = None
    anchors: dict[str, Anchor] | None = None
    rows: list[RowSpec] | None = None


class Confirmation(Strict):
    key_fields: list[str] = Field(default_factory=lambda: ["doc_number", "doc_book", "issue_date", "holder_name"])
    unconfirmed_rules: dict[str, str] | None = None
    contradictions: dict[str, str] | None = None
    name_words: list[int] = Field(default_factory=lambda: [2, 6], min_length=2, max_length=2)


class ScanFieldsFile(Strict):
    """Field-extraction rules for scanned results."""
    model_config = ConfigDict(extra="forbid", frozen=True, title="TTHC scan-field rules (seeds/scan_fields.yaml)")

    version: int = 1
    settings: RuleSettings
    confidence: Confidence
    formats: dict[str, FormatRule]
    fields: dict[str, FieldSpec]
    document_types: dict[str, DocumentType]
    confirmation: Confirmation | None = None
