"""Every mart table/view and every column carries a Vietnamese comment for analysts."""

from __future__ import annotations

import re

from tthc.warehouse.db import fetch_all

# A Vietnamese label has at least one letter outside ASCII (diacritics).
VIETNAMESE = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ]", re.IGNORECASE)


def test_every_mart_relation_and_column_has_a_vietnamese_comment(reference_warehouse):
    relations = fetch_all(reference_warehouse, """
        SELECT c.relname, obj_description(c.oid, 'pg_class')
        FROM pg_class c WHERE c.relnamespace = 'mart'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')""")
    assert relations, "the mart schema is empty"
    missing = [name for name, comment in relations if not comment or not VIETNAMESE.search(comment)]
    assert not missing, f"mart relations without a Vietnamese comment: {missing}"

    columns = fetch_all(reference_warehouse, """
        SELECT c.relname, a.attname, col_description(c.oid, a.attnum)
        FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relnamespace = 'mart'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')""")
    missing = [f"{t}.{c}" for t, c, comment in columns if not comment or not VIETNAMESE.search(comment)]
    assert not missing, f"mart columns without a Vietnamese comment: {missing}"
