"""What field extraction returns: a guess per field and the document's fields."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FieldGuess:
    value: str
    confidence: float
    rule: str

    def as_dict(self) -> dict:
        return {"value": self.value, "confidence": self.confidence, "rule": self.rule}


@dataclass
class ExtractedFields:
    document_type: FieldGuess | None
    fields: dict[str, FieldGuess] = field(default_factory=dict)
    confidence: float = 0.0
    # The fields the detected type requires (from the rules); not part of the equality contract.
    required: list[str] = field(default_factory=list, repr=False, compare=False)
    # Fields deliberately not read, and why (a table row not split into its columns).
    blocked: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def missing_required(self) -> list[str]:
        return [f for f in self.required if f not in self.fields]

    def as_dict(self) -> dict:
        return {
            "document_type": self.document_type.as_dict() if self.document_type else None,
            "fields": {k: g.as_dict() for k, g in self.fields.items()},
            "confidence": self.confidence,
            "missing_required": self.missing_required,
            "blocked": self.blocked,
        }
