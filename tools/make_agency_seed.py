"""Write seeds/agencies.csv from seeds/departments.yaml and vietnam-provinces.

Run once when the unit list changes: `python tools/make_agency_seed.py`.
The CSV is the replaceable seed that the warehouse loads; replace it with the
province's official list of electronic IDs (QĐ 20/2020/QĐ-TTg) when available.
"""

from __future__ import annotations

import csv
from pathlib import Path

import yaml
from vietnam_provinces.legacy import District, Ward

ROOT = Path(__file__).resolve().parents[1]
PROVINCE_CODE_OLD = 87
PROVINCE_ID_SUFFIX = "H20"


def main() -> None:
    spec = yaml.safe_load((ROOT / "seeds/departments.yaml").read_text(encoding="utf-8"))
    rows = []
    top = spec["province_agency"]
    rows.append(dict(electronic_id=top["electronic_id"], code="UBND-T", name_vi=top["name_vi"],
                     level="province", kind="people_committee", unit_era="pre2025",
                     unit_code=PROVINCE_CODE_OLD, parent_electronic_id="", is_placeholder_id=str(top["placeholder"]).lower()))
    for dep in spec["departments"]:
        rows.append(dict(electronic_id=f"000.00.{dep['level2_code']}.{PROVINCE_ID_SUFFIX}", code=dep["code"],
                         name_vi=dep["name_vi"], level="province", kind="department", unit_era="pre2025",
                         unit_code=PROVINCE_CODE_OLD, parent_electronic_id=top["electronic_id"], is_placeholder_id="true"))
    districts = sorted((d for d in District.iter_all() if int(d.province_code) == PROVINCE_CODE_OLD), key=lambda d: int(d.code))
    for i, district in enumerate(districts, start=1):
        level2 = f"{spec['district_level2_offset'] + i:02d}"
        district_id = f"000.00.{level2}.{PROVINCE_ID_SUFFIX}"
        rows.append(dict(electronic_id=district_id, code=f"UBND-H{int(district.code)}",
                         name_vi=f"Ủy ban nhân dân {district.name[0].lower()}{district.name[1:]}",
                         level="district", kind="people_committee", unit_era="pre2025", unit_code=int(district.code),
                         parent_electronic_id=top["electronic_id"], is_placeholder_id="true"))
        wards = sorted((w for w in Ward.iter_all() if int(w.district_code) == int(district.code)), key=lambda w: int(w.code))
        for j, ward in enumerate(wards, start=1):
            rows.append(dict(electronic_id=f"000.{j:02d}.{level2}.{PROVINCE_ID_SUFFIX}", code=f"UBND-X{int(ward.code)}",
                             name_vi=f"Ủy ban nhân dân {ward.name[0].lower()}{ward.name[1:]}",
                             level="commune", kind="people_committee", unit_era="pre2025", unit_code=int(ward.code),
                             parent_electronic_id=district_id, is_placeholder_id="true"))
    out = ROOT / "seeds/agencies.csv"
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} agencies to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
