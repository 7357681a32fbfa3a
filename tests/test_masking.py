"""Personal IDs and birth dates in what people read: masks, ID-check problems, quarantine reasons."""

from __future__ import annotations

import datetime as dt

import pytest

from tthc.clean.identifiers import check_personal_id
from tthc.masking import mask_birth_date, mask_id, mask_ids_in_text, mask_name
from tthc.ops.quarantine import Rejection, quarantine
from tthc.warehouse.db import fetch_all, transaction

ID = "087190001234"


def test_masks():
    assert mask_id(ID) == "*********234" and mask_id("341234567") == "******567"
    assert mask_birth_date(dt.date(1990, 5, 1)) == "****-**-**" and mask_birth_date("01/05/1990") == "**/**/****"
    assert mask_name("Nguyễn Thị Lan") == "N***** T** L**"
    text = f"holder_id {ID}; typed 087 190 001 234 or 087.190.001.234; row 12, year 2015, doc 22/2013"
    masked = mask_ids_in_text(text)
    assert masked.count("*********234") == 3 and "row 12, year 2015, doc 22/2013" in masked
    assert "190" not in masked.replace("*********234", "")
    code = "000.00.22.H20-BLR-2024-000005-K"  # a result code: year and serial joined by dashes
    assert mask_ids_in_text(f"{code}: signed copy") == f"{code}: signed copy"


@pytest.mark.parametrize(("value", "kwargs"), [
    ("08719000123x", {}),                                       # a stray character
    ("0871900012", {}),                                         # wrong length
    ("999190001234", {}),                                       # no such province
    ("087191001234", {"birth_date": dt.date(1990, 1, 1)}),      # year digits
    ("087390001234", {"birth_date": dt.date(1990, 1, 1)}),      # century digit
    ("087190001234", {"gender": "Nam"}),                        # gender digit
])
def test_id_check_problems_never_carry_the_ids_digits(value, kwargs):
    problems = check_personal_id(value, **kwargs).problems
    assert problems
    for problem in problems:
        assert value not in problem and value[:6] not in problem and "1990-01-01" not in problem


def test_quarantine_reasons_are_masked_by_every_path(warehouse):
    with transaction(warehouse) as cur:
        quarantine(cur, [Rejection("t", "k1", "validate", "holder_id 087 190 001 234 is wrong", {"id": ID})])
        # A path that writes SQL directly is masked by the table's trigger.
        cur.execute("""INSERT INTO ops.quarantine (source, source_key, stage, reason, payload, dedup_key)
                       VALUES ('t', 'k2', 'validate', %s, '{}'::jsonb, 'd2')""", (f"bad id {ID}, cmnd 341234567",))
    rows = fetch_all(warehouse, "SELECT source_key, reason, payload->>'id' FROM ops.quarantine ORDER BY 1")
    assert rows == [("k1", "holder_id *********234 is wrong", ID),
                    ("k2", "bad id *********234, cmnd ******567", None)]
