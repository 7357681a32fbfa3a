-- Reference data. Loaded by `tthc load-reference` / DAG tthc_reference_data from
-- vietnam-provinces and the versioned seed files in seeds/.

-- Administrative units of both eras. New (post-2025) codes reuse old numbers for
-- different places, so a code is meaningless without its era; unit_key carries both.
CREATE TABLE IF NOT EXISTS core.admin_unit (
    unit_key        text PRIMARY KEY,          -- '{era}/{level}/{code}', e.g. 'pre2025/commune/29902'
    era             text NOT NULL CHECK (era IN ('pre2025', 'post2025')),
    level           text NOT NULL CHECK (level IN ('province', 'district', 'commune')),
    code            integer NOT NULL,          -- GSO code (QĐ 124/2004 and its successors)
    name_vi         text NOT NULL,
    division_type   text NOT NULL,             -- tỉnh, thành phố, huyện, phường, xã, thị trấn ...
    parent_key      text REFERENCES core.admin_unit (unit_key),
    province_code   integer NOT NULL,
    valid_from      date,
    valid_to        date,                      -- 2025-06-30 for the pre-2025 era
    UNIQUE (era, level, code),
    CHECK (unit_key = era || '/' || level || '/' || code)
);

-- The 1/7/2025 reorganization: old unit -> its successor(s).
CREATE TABLE IF NOT EXISTS core.unit_crosswalk (
    old_unit_key      text NOT NULL REFERENCES core.admin_unit (unit_key),
    new_unit_key      text NOT NULL REFERENCES core.admin_unit (unit_key),
    is_partly_merged  boolean NOT NULL,        -- the old unit was split across several new ones
    successor_count   integer NOT NULL,        -- how many new units the old one went to
    effective_date    date NOT NULL,
    source            text NOT NULL,
    PRIMARY KEY (old_unit_key, new_unit_key)
);

CREATE TABLE IF NOT EXISTS core.agency (
    electronic_id         text PRIMARY KEY CHECK (electronic_id ~ '^[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}$'),
    code                  text NOT NULL UNIQUE,
    name_vi               text NOT NULL,
    level                 text NOT NULL CHECK (level IN ('province', 'district', 'commune')),
    kind                  text NOT NULL CHECK (kind IN ('people_committee', 'department')),
    unit_key              text NOT NULL REFERENCES core.admin_unit (unit_key),
    parent_electronic_id  text REFERENCES core.agency (electronic_id) DEFERRABLE INITIALLY DEFERRED,
    is_placeholder_id     boolean NOT NULL
);

CREATE TABLE IF NOT EXISTS core.procedure (
    code               text PRIMARY KEY CHECK (code ~ '^[A-Z]{2,5}$'),
    national_code      text,
    name_vi            text NOT NULL,
    result_name_vi     text NOT NULL,
    level              text NOT NULL CHECK (level IN ('province', 'district', 'commune')),
    is_permanent       boolean NOT NULL,
    validity_months    integer CHECK (validity_months > 0),
    extension_months   integer CHECK (extension_months > 0),
    max_extensions     integer NOT NULL DEFAULT 0 CHECK (max_extensions >= 0),
    source_system      text NOT NULL,
    CHECK (is_permanent = (validity_months IS NULL))
);

CREATE TABLE IF NOT EXISTS core.plan (
    plan_code       text PRIMARY KEY,
    name_vi         text NOT NULL,
    decision_ref    text NOT NULL,
    issued_on       date NOT NULL,
    parent_plan     text REFERENCES core.plan (plan_code) DEFERRABLE INITIALLY DEFERRED,
    issue_cutoff    date NOT NULL,   -- in scope: issued on or before this date ...
    valid_after     date NOT NULL,   -- ... and still valid after this date
    source_file     text NOT NULL
);

CREATE TABLE IF NOT EXISTS core.plan_scope (
    plan_code  text NOT NULL REFERENCES core.plan (plan_code) ON DELETE CASCADE,
    unit_key   text NOT NULL REFERENCES core.admin_unit (unit_key),
    PRIMARY KEY (plan_code, unit_key)
);

CREATE TABLE IF NOT EXISTS core.plan_target (
    plan_code   text NOT NULL REFERENCES core.plan (plan_code) ON DELETE CASCADE,
    level       text NOT NULL CHECK (level IN ('province', 'district', 'commune')),
    year        integer NOT NULL,
    target_pct  numeric(5, 2) NOT NULL CHECK (target_pct BETWEEN 0 AND 100),
    PRIMARY KEY (plan_code, level, year)
);

-- Other plan indicators; level '' when the indicator is not per level.
CREATE TABLE IF NOT EXISTS core.plan_indicator_target (
    plan_code   text NOT NULL REFERENCES core.plan (plan_code) ON DELETE CASCADE,
    indicator   text NOT NULL,
    level       text NOT NULL DEFAULT '',
    year        integer NOT NULL,
    target_pct  numeric(5, 2) NOT NULL CHECK (target_pct BETWEEN 0 AND 100),
    PRIMARY KEY (plan_code, indicator, level, year)
);

-- Paper inventory that units declared (rà soát, kiểm đếm): an input next to the records we see.
CREATE TABLE IF NOT EXISTS core.inventory_declaration (
    agency_id             text NOT NULL REFERENCES core.agency (electronic_id),
    unit_key              text NOT NULL REFERENCES core.admin_unit (unit_key),
    procedure_code        text NOT NULL REFERENCES core.procedure (code),
    issue_year            integer NOT NULL CHECK (issue_year BETWEEN 1900 AND 2100),
    declared_paper_count  integer NOT NULL CHECK (declared_paper_count >= 0),
    declared_on           date NOT NULL,
    source_file           text NOT NULL,
    PRIMARY KEY (agency_id, unit_key, procedure_code, issue_year)
);
