"""The steps' names and order, and which a drop zone may leave out or add (its `steps:` key)."""

from __future__ import annotations

# Per file, in this order (process_chunk), then per batch (finalize).
FILE_STEPS = ("hash", "check_type", "dedup", "archive", "text", "copy_quality", "document", "ocr", "fields", "sign")
BATCH_STEPS = ("validate", "link")
ORDER = FILE_STEPS + BATCH_STEPS
OPTIONAL = ("copy_quality", "sign")
REQUIRED = tuple(n for n in ORDER if n not in OPTIONAL)


def default_steps(signing_enabled: bool) -> tuple[str, ...]:
    """Without a `steps:` key: every required step, copy_quality, and sign when signing.enabled."""
    return tuple(n for n in ORDER if n != "sign" or signing_enabled)


def resolve_steps(configured, signing_enabled: bool, where: str, error: type[Exception]) -> tuple[str, ...]:
    """The zone's steps in chain order; error names the bad entry and the allowed ones."""
    if configured is None:
        return default_steps(signing_enabled)
    if not isinstance(configured, list) or not all(isinstance(n, str) for n in configured):
        raise error(f"{where}: steps must be a list of step names, got {configured!r}; allowed: {list(ORDER)}")
    unknown = [n for n in configured if n not in ORDER]
    if unknown:
        raise error(f"{where}: steps: unknown step {unknown[0]!r}; allowed: {list(ORDER)}")
    missing = [n for n in REQUIRED if n not in configured]
    if missing:
        raise error(f"{where}: steps: required step {missing[0]!r} is missing (only {list(OPTIONAL)} "
                    "may be left out)")
    return tuple(n for n in ORDER if n in configured)
