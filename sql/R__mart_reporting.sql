-- Progress reporting: the progress definition AS OF ANY DATE, the other plan
-- indicators, the per-unit work queues. Repeatable; applied after R__mart_reference.sql.
-- The definition is documented in docs/progress.md; keep the two in sync.

-- Units a plan judges: its scope units (old era) and everything under them.
DROP VIEW IF EXISTS mart.plan_unit CASCADE;
CREATE VIEW mart.plan_unit AS
SELECT s.plan_code, u.unit_key, u.level, u.code, u.name_vi
FROM core.admin_unit u
LEFT JOIN core.admin_unit pa ON pa.unit_key = u.parent_key
JOIN core.plan_scope s ON s.unit_key IN (u.unit_key, u.parent_key, pa.parent_key)  -- no subplan: parallel-safe
WHERE u.era = 'pre2025';
COMMENT ON VIEW mart.plan_unit IS 'Đơn vị hành chính (mã cũ) thuộc phạm vi của từng kế hoạch';
COMMENT ON COLUMN mart.plan_unit.plan_code IS 'Mã kế hoạch';
COMMENT ON COLUMN mart.plan_unit.unit_key IS 'Khóa đơn vị (thời kỳ/cấp/mã)';
COMMENT ON COLUMN mart.plan_unit.level IS 'Cấp: tỉnh, huyện, xã';
COMMENT ON COLUMN mart.plan_unit.code IS 'Mã đơn vị hành chính';
COMMENT ON COLUMN mart.plan_unit.name_vi IS 'Tên đơn vị hành chính';

-- Where an old unit's results go when nothing more precise is known: the lowest new unit key
-- of its crosswalk rows. The ingestion pipeline uses the same rule for successor_unit_key,
-- and the successor view sends a split unit's not-yet-known (declared-only) backlog there.
DROP VIEW IF EXISTS mart.unit_primary_successor CASCADE;
CREATE VIEW mart.unit_primary_successor AS
SELECT DISTINCT ON (c.old_unit_key) c.old_unit_key, c.new_unit_key, c.is_partly_merged, c.successor_count
FROM core.unit_crosswalk c
ORDER BY c.old_unit_key, c.new_unit_key;
COMMENT ON VIEW mart.unit_primary_successor IS 'Đơn vị kế thừa chính của mỗi đơn vị cũ (mã mới nhỏ nhất); nhận phần kê khai chưa có bản ghi của đơn vị bị chia';
COMMENT ON COLUMN mart.unit_primary_successor.old_unit_key IS 'Khóa đơn vị cũ';
COMMENT ON COLUMN mart.unit_primary_successor.new_unit_key IS 'Khóa đơn vị kế thừa chính';
COMMENT ON COLUMN mart.unit_primary_successor.is_partly_merged IS 'Đơn vị cũ bị chia cho nhiều đơn vị mới';
COMMENT ON COLUMN mart.unit_primary_successor.successor_count IS 'Số đơn vị mới nhận một phần của đơn vị cũ';

-- A scanned copy that fails the copy rules of Nghị định 30/2020 (Appendix I): the scan itself is
-- unusable (below 200 dpi, grey, unreadable), or it is a PDF below version 1.4 that signing did
-- not repair. Such a copy does not make its result digitized: the result needs rescanning.
CREATE OR REPLACE FUNCTION mart.copy_fails_rules(p_quality_ok boolean, p_issues text[], p_signed_copy_uri text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT NOT coalesce(p_quality_ok, false)
           OR ('pdf_version_below_1_4' = ANY (p_issues) AND p_signed_copy_uri IS NULL)
$$;
COMMENT ON FUNCTION mart.copy_fails_rules(boolean, text[], text) IS
    'Bản quét không đạt yêu cầu của Nghị định 30/2020 (dưới 200 dpi, không phải bản màu, không đọc được, PDF dưới 1.4 chưa được chuyển đổi)';

-- Per scanned result: the day its first compliant copy was linked (NULL: none yet), for results
-- with at least one non-compliant copy (the only ones the rule can take away).
DROP VIEW IF EXISTS mart.result_copy_check CASCADE;
CREATE VIEW mart.result_copy_check AS
SELECT d.result_id,
       min(coalesce(d.linked_at, d.created_at))
           FILTER (WHERE NOT mart.copy_fails_rules(d.quality_ok, d.quality_issues, d.signed_copy_uri)) AS good_from,
       count(*) FILTER (WHERE mart.copy_fails_rules(d.quality_ok, d.quality_issues, d.signed_copy_uri)) AS failing_copies
FROM core.document d
WHERE d.result_id IS NOT NULL
GROUP BY d.result_id
HAVING bool_or(mart.copy_fails_rules(d.quality_ok, d.quality_issues, d.signed_copy_uri));
COMMENT ON VIEW mart.result_copy_check IS 'Kết quả có bản quét không đạt Nghị định 30/2020: ngày có bản quét đạt đầu tiên (trống nếu chưa có)';
COMMENT ON COLUMN mart.result_copy_check.result_id IS 'Mã bản ghi kết quả';
COMMENT ON COLUMN mart.result_copy_check.good_from IS 'Thời điểm gắn bản quét đạt yêu cầu đầu tiên (trống: cần quét lại)';
COMMENT ON COLUMN mart.result_copy_check.failing_copies IS 'Số bản quét không đạt yêu cầu đã gắn với kết quả';

-- The progress definition, as of the end of day p_as_of (Asia/Ho_Chi_Minh). See docs/progress.md.
-- SECURITY DEFINER: analysts (tthc_analyst) read aggregates without any right on core.
DROP FUNCTION IF EXISTS mart.progress_as_of(date) CASCADE;
CREATE FUNCTION mart.progress_as_of(p_as_of date)
RETURNS TABLE (
    plan_code text, unit_view text, unit_key text, unit_code text, unit_name text, unit_level text,
    in_scope bigint, declared bigint, known bigint, digitized bigint, data_only bigint,
    digitized_elsewhere bigint, pct_digitized numeric, target_year integer, target_pct numeric,
    expected_pct numeric, gap_records bigint, status text, monthly_pace_needed numeric,
    issued_since_2022 bigint, signed bigint, signed_pct numeric, needs_rescan bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, core, mart
-- JIT compiles for seconds and gains nothing here; hashing ~10^4 groups beats sorting 10^7 rows
SET jit = off SET work_mem = '64MB'
AS $$
#variable_conflict use_column
DECLARE
    v_plan   record;
    v_units  text[];
    v_t      timestamptz := (p_as_of + 1)::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh';  -- end of the day, local
    v_y      integer := extract(year FROM p_as_of)::int;
BEGIN
-- One plan at a time, its scope as constants: the big scan is then a plain filtered aggregation
-- of core.result (no joins per row, parallel-capable); every join runs on the ~10^4 aggregated cells.
FOR v_plan IN SELECT p.plan_code, p.issue_cutoff, p.valid_after FROM core.plan p ORDER BY p.plan_code LOOP
    SELECT array_agg(u.unit_key) INTO v_units FROM mart.plan_unit u WHERE u.plan_code = v_plan.plan_code;
    CONTINUE WHEN v_units IS NULL;
    RETURN QUERY
    WITH sign_from AS (
        -- the plan's signing requirement by unit (its level's start day; none: no requirement)
        SELECT pu.unit_key, sr.required_from
        FROM mart.plan_unit pu
        LEFT JOIN core.plan_signing_rule sr ON sr.plan_code = pu.plan_code AND sr.level = pu.level
        WHERE pu.plan_code = v_plan.plan_code
    ), res AS (
        SELECT r.issuing_unit_key AS unit_key, r.procedure_code, date_part('year', r.issue_date)::int AS issue_year,
               r.successor_unit_key AS succ_raw,
               count(*) FILTER (WHERE s.in_scope) AS known,
               count(*) FILTER (WHERE s.in_scope AND r.digitized_at < v_t
                                  AND (r.copy_kind = 'scan' OR (r.copy_kind = 'born_digital' AND ec.verified))) AS copies,
               count(*) FILTER (WHERE r.issue_date >= sf.required_from AND r.issue_date <= p_as_of) AS issued22,
               count(*) FILTER (WHERE r.issue_date >= sf.required_from AND r.issue_date <= p_as_of AND r.is_signed
                                  AND (r.copy_ref IS NULL OR ec.verified)) AS signed22
        FROM core.result r
        JOIN sign_from sf ON sf.unit_key = r.issuing_unit_key
        -- a source's signed e-copy counts only once its file was fetched and its signature verified
        LEFT JOIN (SELECT e.result_id, true AS verified FROM core.result_e_copy e WHERE e.status = 'verified') ec
               ON ec.result_id = r.result_id
        CROSS JOIN LATERAL (SELECT r.issue_date <= v_plan.issue_cutoff
                                   AND core.result_status(r.valid_until, r.revoked_on, v_plan.valid_after) = 'valid'
                                   AS in_scope) s
        WHERE r.issuing_unit_key = ANY (v_units)
          AND coalesce(r.recorded_at, r.issue_date::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh') < v_t
        GROUP BY 1, 2, 3, 4
    ), elsew AS (
        -- the few results another project digitized (partial index), with that project's date
        SELECT r.issuing_unit_key AS unit_key, r.procedure_code, date_part('year', r.issue_date)::int AS issue_year,
               r.successor_unit_key AS succ_raw, count(*) AS elsewhere,
               count(*) FILTER (WHERE r.digitized_at < v_t
                                  AND (r.copy_kind = 'scan' OR (r.copy_kind = 'born_digital' AND ec.verified))) AS elsewhere_copies
        FROM core.result r
        LEFT JOIN (SELECT e.result_id, true AS verified FROM core.result_e_copy e WHERE e.status = 'verified') ec
               ON ec.result_id = r.result_id
        LEFT JOIN (SELECT x.external_ref, min(x.digitized_on) AS digitized_on
                   FROM core.external_digitization x GROUP BY x.external_ref) e ON e.external_ref = r.digitized_elsewhere
        WHERE r.digitized_elsewhere IS NOT NULL
          AND r.issuing_unit_key = ANY (v_units)
          AND coalesce(r.recorded_at, r.issue_date::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh') < v_t
          AND r.issue_date <= v_plan.issue_cutoff
          AND core.result_status(r.valid_until, r.revoked_on, v_plan.valid_after) = 'valid'
          AND (e.digitized_on IS NULL OR e.digitized_on <= p_as_of)
        GROUP BY 1, 2, 3, 4
    ), rescan AS (
        -- scanned results whose copies linked by then all fail the copy rules: not digitized, counted
        -- apart ("cần quét lại"); a compliant rescan counts from the moment it is linked
        SELECT r.issuing_unit_key AS unit_key, r.procedure_code, date_part('year', r.issue_date)::int AS issue_year,
               r.successor_unit_key AS succ_raw, count(*) AS rescan
        FROM mart.result_copy_check b
        JOIN core.result r ON r.result_id = b.result_id
        WHERE (b.good_from IS NULL OR b.good_from >= v_t)
          AND r.copy_kind = 'scan' AND r.digitized_at < v_t AND r.digitized_elsewhere IS NULL
          AND r.issuing_unit_key = ANY (v_units)
          AND coalesce(r.recorded_at, r.issue_date::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh') < v_t
          AND r.issue_date <= v_plan.issue_cutoff
          AND core.result_status(r.valid_until, r.revoked_on, v_plan.valid_after) = 'valid'
        GROUP BY 1, 2, 3, 4
    ), grp AS (
        SELECT a.unit_key, a.procedure_code, a.issue_year,
               coalesce(a.succ_raw, ps.new_unit_key) AS succ_key,
               a.known, coalesce(b.elsewhere, 0) AS elsewhere,
               a.copies - coalesce(b.elsewhere_copies, 0) - coalesce(q.rescan, 0) AS digitized,  -- elsewhere first
               a.issued22, a.signed22, coalesce(q.rescan, 0) AS rescan
        FROM res a
        LEFT JOIN elsew b ON (b.unit_key, b.procedure_code, b.issue_year) = (a.unit_key, a.procedure_code, a.issue_year)
                         AND b.succ_raw IS NOT DISTINCT FROM a.succ_raw
        LEFT JOIN rescan q ON (q.unit_key, q.procedure_code, q.issue_year) = (a.unit_key, a.procedure_code, a.issue_year)
                          AND q.succ_raw IS NOT DISTINCT FROM a.succ_raw
        LEFT JOIN mart.unit_primary_successor ps ON ps.old_unit_key = a.unit_key
    ), cell AS (
        SELECT g.unit_key, g.procedure_code, g.issue_year, sum(g.known) AS known, sum(g.elsewhere) AS elsewhere,
               sum(g.digitized) AS digitized, sum(g.issued22) AS issued22, sum(g.signed22) AS signed22,
               sum(g.rescan) AS rescan
        FROM grp g GROUP BY 1, 2, 3
    ), decl AS (
        SELECT d.unit_key, d.procedure_code, d.issue_year, sum(d.declared_paper_count) AS declared
        FROM core.inventory_declaration d
        WHERE d.unit_key = ANY (v_units) AND d.declared_on <= p_as_of
          AND d.issue_year <= extract(year FROM v_plan.issue_cutoff)
        GROUP BY 1, 2, 3
    ), cells AS (
        -- the denominator rule: per (unit, procedure, issue year), the larger of declared and known
        SELECT unit_key, procedure_code, issue_year,
               coalesce(d.declared, 0) AS declared, coalesce(c.known, 0) AS known,
               greatest(coalesce(d.declared, 0), coalesce(c.known, 0)) AS denom,
               coalesce(c.elsewhere, 0) AS elsewhere, coalesce(c.digitized, 0) AS digitized,
               coalesce(c.issued22, 0) AS issued22, coalesce(c.signed22, 0) AS signed22,
               coalesce(c.rescan, 0) AS rescan
        FROM cell c FULL JOIN decl d USING (unit_key, procedure_code, issue_year)
    ), issuing AS (
        SELECT 'issuing'::text AS unit_view, u.unit_key, u.code::text AS unit_code, u.name_vi AS unit_name,
               u.level AS unit_level,
               coalesce(sum(c.denom), 0)::bigint AS in_scope, coalesce(sum(c.declared), 0)::bigint AS declared,
               coalesce(sum(c.known), 0)::bigint AS known, coalesce(sum(c.digitized), 0)::bigint AS digitized,
               coalesce(sum(c.elsewhere), 0)::bigint AS elsewhere,
               coalesce(sum(c.issued22), 0)::bigint AS issued22, coalesce(sum(c.signed22), 0)::bigint AS signed22,
               coalesce(sum(c.rescan), 0)::bigint AS rescan
        FROM core.admin_unit u LEFT JOIN cells c ON c.unit_key = u.unit_key
        WHERE u.unit_key = ANY (v_units)
        GROUP BY u.unit_key, u.code, u.name_vi, u.level
    ), succ_known AS (
        -- known results follow their own successor_unit_key (set per result)
        SELECT g.succ_key AS unit_key, sum(g.known) AS known, sum(g.elsewhere) AS elsewhere,
               sum(g.digitized) AS digitized, sum(g.issued22) AS issued22, sum(g.signed22) AS signed22,
               sum(g.rescan) AS rescan
        FROM grp g WHERE g.succ_key IS NOT NULL GROUP BY 1
    ), succ_backlog AS (
        -- declared counts and the declared-but-unknown backlog go to the old unit's primary successor
        SELECT ps.new_unit_key AS unit_key, sum(c.denom - c.known) AS backlog, sum(c.declared) AS declared
        FROM cells c JOIN mart.unit_primary_successor ps ON ps.old_unit_key = c.unit_key
        GROUP BY 1
    ), successor AS (
        SELECT 'successor'::text, u.unit_key, u.code::text, u.name_vi, u.level,
               (coalesce(k.known, 0) + coalesce(b.backlog, 0))::bigint, coalesce(b.declared, 0)::bigint,
               coalesce(k.known, 0)::bigint, coalesce(k.digitized, 0)::bigint, coalesce(k.elsewhere, 0)::bigint,
               coalesce(k.issued22, 0)::bigint, coalesce(k.signed22, 0)::bigint, coalesce(k.rescan, 0)::bigint
        FROM succ_known k FULL JOIN succ_backlog b USING (unit_key)
        JOIN core.admin_unit u ON u.unit_key = coalesce(k.unit_key, b.unit_key)
    ), rows_ AS (
        SELECT * FROM issuing UNION ALL SELECT * FROM successor
    ), targeted AS (
        SELECT a.*, tg.year AS target_year, tg.target_pct,
               coalesce((SELECT t0.target_pct FROM core.plan_target t0
                         WHERE t0.plan_code = v_plan.plan_code AND t0.level = a.unit_level AND t0.year = tg.year - 1),
                        0) AS prev_pct,
               CASE WHEN a.in_scope > 0 THEN round(100.0 * (a.digitized + a.elsewhere) / a.in_scope, 2) ELSE 100 END AS pct
        FROM rows_ a
        LEFT JOIN LATERAL (
            -- the target of the as-of year; before the first target year the first one, after the last the last one
            SELECT t.year, t.target_pct FROM core.plan_target t
            WHERE t.plan_code = v_plan.plan_code AND t.level = a.unit_level
            ORDER BY (t.year < v_y), abs(t.year - v_y) LIMIT 1) tg ON true
    ), scored AS (
        SELECT x.*,
               CASE WHEN x.target_year IS NULL THEN NULL
                    ELSE round(x.prev_pct + (x.target_pct - x.prev_pct) * least(1.0, greatest(0.0,
                         (p_as_of - make_date(x.target_year - 1, 12, 31))::numeric
                         / (make_date(x.target_year, 12, 31) - make_date(x.target_year - 1, 12, 31)))), 2)
               END AS expected,
               CASE WHEN x.target_year IS NULL THEN NULL
                    ELSE greatest(0, ceil(x.target_pct * x.in_scope / 100.0)::bigint - (x.digitized + x.elsewhere))
               END AS gap
        FROM targeted x
    )
    SELECT v_plan.plan_code::text, s.unit_view, s.unit_key, s.unit_code, s.unit_name, s.unit_level,
           s.in_scope, s.declared, s.known, s.digitized, s.known - s.digitized - s.elsewhere - s.rescan,
           s.elsewhere, s.pct, s.target_year, s.target_pct::numeric, s.expected, s.gap,
           CASE WHEN s.target_year IS NULL THEN NULL
                WHEN s.pct >= s.target_pct THEN 'met'
                WHEN s.pct >= s.expected THEN 'on_track'
                ELSE 'behind' END,
           CASE WHEN s.target_year IS NULL THEN NULL
                ELSE round(s.gap / greatest(1.0, (make_date(s.target_year, 12, 31) - p_as_of) / (365.25 / 12)), 1)
           END,
           s.issued22, s.signed22,
           CASE WHEN s.issued22 > 0 THEN round(100.0 * s.signed22 / s.issued22, 2) END,
           s.rescan
    FROM scored s;
END LOOP;
END
$$;

COMMENT ON FUNCTION mart.progress_as_of(date) IS
    'Tiến độ số hóa theo kế hoạch và đơn vị, tính đến hết một ngày bất kỳ (xem docs/progress.md)';

-- Other plan indicators as of a date: signed share, no re-supply share, one-stop offices.
DROP FUNCTION IF EXISTS mart.indicators_as_of(date) CASCADE;
DROP FUNCTION IF EXISTS mart.indicators_as_of(date, boolean) CASCADE;
-- p_signed = false skips signed_share (a full scan of core.result): snapshots derive it from the
-- progress rows they have just computed (issued_since_2022, signed).
CREATE FUNCTION mart.indicators_as_of(p_as_of date, p_signed boolean DEFAULT true)
RETURNS TABLE (plan_code text, indicator text, unit_level text, numerator bigint, denominator bigint,
               pct numeric, target_year integer, target_pct numeric, status text, derived bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, core, mart
AS $$
WITH params AS (
    SELECT p_as_of AS d, ((p_as_of + 1)::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh') AS t,
           extract(year FROM p_as_of)::int AS y
), measured AS (
    -- results issued from the plan's signing start (per level) to the as-of day and known by then:
    -- share digitally signed
    SELECT pu.plan_code, 'signed_share'::text AS indicator, ''::text AS unit_level,
           count(*) FILTER (WHERE r.is_signed AND (r.copy_ref IS NULL OR ec.verified)) AS numerator,
           count(*) AS denominator, NULL::bigint AS derived
    FROM mart.plan_unit pu
    CROSS JOIN params prm
    JOIN core.plan_signing_rule sr ON sr.plan_code = pu.plan_code AND sr.level = pu.level
    JOIN core.result r ON r.issuing_unit_key = pu.unit_key
    LEFT JOIN (SELECT e.result_id, true AS verified FROM core.result_e_copy e WHERE e.status = 'verified') ec
           ON ec.result_id = r.result_id
    WHERE p_signed AND r.issue_date BETWEEN sr.required_from AND prm.d
      AND coalesce(r.recorded_at, r.issue_date::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh') < prm.t
    GROUP BY pu.plan_code
    UNION ALL
    -- dossiers received in the as-of year up to the as-of day: share without re-supplied documents.
    -- Derived where the dossier names its holder and the result type it needed (that document was
    -- digitized for that holder before the dossier was received: a compliant copy, or another
    -- project's digitization); the source's flag only where it cannot be derived.
    SELECT pu.plan_code, 'no_resupply_share', '',
           count(*) FILTER (WHERE CASE WHEN dz.holder_match_key IS NOT NULL AND dz.needed_procedure_code IS NOT NULL
                                       THEN reuse.found ELSE NOT dz.resupplied_documents END),
           count(*),
           count(*) FILTER (WHERE dz.holder_match_key IS NOT NULL AND dz.needed_procedure_code IS NOT NULL)
    FROM mart.plan_unit pu
    CROSS JOIN params prm
    JOIN core.dossier dz ON dz.unit_key = pu.unit_key
    LEFT JOIN LATERAL (
        SELECT EXISTS (
            SELECT 1 FROM core.holder h
            JOIN core.result r ON r.holder_id = h.holder_id AND r.procedure_code = dz.needed_procedure_code
            LEFT JOIN mart.result_copy_check c ON c.result_id = r.result_id
            WHERE h.match_key = dz.holder_match_key
              AND ((r.copy_kind IN ('scan', 'born_digital')
                    AND (r.copy_kind = 'scan' OR EXISTS (SELECT 1 FROM core.result_e_copy e
                                                         WHERE e.result_id = r.result_id AND e.status = 'verified'))
                    AND r.digitized_at < dz.received_date::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh'
                    AND (c.result_id IS NULL
                         OR c.good_from < dz.received_date::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh'))
                   OR (r.digitized_elsewhere IS NOT NULL
                       AND EXISTS (SELECT 1 FROM core.external_digitization x
                                   WHERE x.external_ref = r.digitized_elsewhere
                                     AND (x.digitized_on IS NULL OR x.digitized_on < dz.received_date))))
        ) AS found
        WHERE dz.holder_match_key IS NOT NULL AND dz.needed_procedure_code IS NOT NULL) reuse ON true
    WHERE dz.received_date BETWEEN make_date(prm.y, 1, 1) AND prm.d
    GROUP BY pu.plan_code
    UNION ALL
    -- one-stop offices of district and commune units running the digitization process
    SELECT pu.plan_code, 'one_stop_running_share', pu.level,
           count(*) FILTER (WHERE o.started_digitization_on <= prm.d), count(*), NULL::bigint
    FROM mart.plan_unit pu
    CROSS JOIN params prm
    JOIN core.one_stop_office o ON o.unit_key = pu.unit_key
    WHERE pu.level IN ('district', 'commune')
    GROUP BY pu.plan_code, pu.level
), complete AS (
    -- an indicator the plan sets but nothing measured (no dossier this year, no office listed):
    -- a row with denominator 0, shown as "no data" rather than missing
    SELECT m.* FROM measured m
    UNION ALL
    SELECT DISTINCT i.plan_code, i.indicator, i.level, 0::bigint, 0::bigint, NULL::bigint
    FROM core.plan_indicator_target i
    WHERE (p_signed OR i.indicator <> 'signed_share')
      AND NOT EXISTS (SELECT 1 FROM measured m WHERE (m.plan_code, m.indicator, m.unit_level)
                                                     = (i.plan_code, i.indicator, i.level))
)
SELECT m.plan_code, m.indicator, m.unit_level, m.numerator, m.denominator,
       CASE WHEN m.denominator > 0 THEN round(100.0 * m.numerator / m.denominator, 2) END AS pct,
       tg.year, tg.target_pct,
       CASE WHEN tg.year IS NULL OR m.denominator = 0 THEN NULL
            WHEN 100.0 * m.numerator / m.denominator >= tg.target_pct THEN 'met' ELSE 'behind' END,
       m.derived
FROM complete m
CROSS JOIN params prm
LEFT JOIN LATERAL (
    SELECT i.year, i.target_pct FROM core.plan_indicator_target i
    WHERE i.plan_code = m.plan_code AND i.indicator = m.indicator AND i.level = m.unit_level
    ORDER BY (i.year < prm.y), abs(i.year - prm.y) LIMIT 1) tg ON true
$$;
COMMENT ON FUNCTION mart.indicators_as_of(date, boolean) IS
    'Các chỉ tiêu khác của kế hoạch tính đến hết một ngày: ký số, không phải nộp lại giấy tờ, Bộ phận Một cửa';

DROP VIEW IF EXISTS mart.progress_today CASCADE;
CREATE VIEW mart.progress_today AS SELECT * FROM mart.progress_as_of(current_date);
COMMENT ON VIEW mart.progress_today IS 'Tiến độ số hóa tính đến hôm nay (mart.progress_as_of(current_date)); dùng mart.progress_as_of(ngày) cho ngày khác';
COMMENT ON COLUMN mart.progress_today.plan_code IS 'Mã kế hoạch';
COMMENT ON COLUMN mart.progress_today.unit_view IS 'Cách gán đơn vị: đơn vị cấp (issuing, mã cũ) hoặc đơn vị kế thừa (successor)';
COMMENT ON COLUMN mart.progress_today.unit_key IS 'Khóa đơn vị hành chính';
COMMENT ON COLUMN mart.progress_today.unit_code IS 'Mã đơn vị hành chính';
COMMENT ON COLUMN mart.progress_today.unit_name IS 'Tên đơn vị hành chính';
COMMENT ON COLUMN mart.progress_today.unit_level IS 'Cấp: tỉnh, huyện, xã';
COMMENT ON COLUMN mart.progress_today.in_scope IS 'Số kết quả thuộc phạm vi (mẫu số)';
COMMENT ON COLUMN mart.progress_today.declared IS 'Số kết quả giấy đã kê khai';
COMMENT ON COLUMN mart.progress_today.known IS 'Số kết quả thuộc phạm vi đã có bản ghi riêng';
COMMENT ON COLUMN mart.progress_today.digitized IS 'Số kết quả đã có bản điện tử hợp lệ';
COMMENT ON COLUMN mart.progress_today.data_only IS 'Số kết quả mới chỉ có dữ liệu, chưa có bản điện tử';
COMMENT ON COLUMN mart.progress_today.digitized_elsewhere IS 'Số kết quả dự án khác đã số hóa';
COMMENT ON COLUMN mart.progress_today.pct_digitized IS 'Tỷ lệ số hóa (%)';
COMMENT ON COLUMN mart.progress_today.target_year IS 'Năm của chỉ tiêu áp dụng';
COMMENT ON COLUMN mart.progress_today.target_pct IS 'Chỉ tiêu (%) đến hết năm';
COMMENT ON COLUMN mart.progress_today.expected_pct IS 'Tỷ lệ cần đạt hôm nay nếu tiến độ đều (%)';
COMMENT ON COLUMN mart.progress_today.gap_records IS 'Số kết quả còn thiếu để đạt chỉ tiêu';
COMMENT ON COLUMN mart.progress_today.status IS 'Đánh giá: đạt, đúng tiến độ, chậm';
COMMENT ON COLUMN mart.progress_today.monthly_pace_needed IS 'Số kết quả cần số hóa mỗi tháng để đạt chỉ tiêu';
COMMENT ON COLUMN mart.progress_today.issued_since_2022 IS 'Số kết quả cấp từ 01/01/2022';
COMMENT ON COLUMN mart.progress_today.signed IS 'Trong đó đã ký số';
COMMENT ON COLUMN mart.progress_today.signed_pct IS 'Tỷ lệ ký số (%)';
COMMENT ON COLUMN mart.progress_today.needs_rescan IS 'Số kết quả có bản quét không đạt Nghị định 30/2020, cần quét lại (không tính là đã số hóa)';

DROP VIEW IF EXISTS mart.indicator_today CASCADE;
CREATE VIEW mart.indicator_today AS SELECT * FROM mart.indicators_as_of(current_date);
COMMENT ON VIEW mart.indicator_today IS 'Các chỉ tiêu khác của kế hoạch tính đến hôm nay';
COMMENT ON COLUMN mart.indicator_today.plan_code IS 'Mã kế hoạch';
COMMENT ON COLUMN mart.indicator_today.indicator IS 'Chỉ tiêu: ký số, không phải nộp lại giấy tờ, Bộ phận Một cửa thực hiện số hóa';
COMMENT ON COLUMN mart.indicator_today.unit_level IS 'Cấp hành chính (để trống nếu không phân cấp)';
COMMENT ON COLUMN mart.indicator_today.numerator IS 'Tử số';
COMMENT ON COLUMN mart.indicator_today.denominator IS 'Mẫu số';
COMMENT ON COLUMN mart.indicator_today.pct IS 'Tỷ lệ (%)';
COMMENT ON COLUMN mart.indicator_today.target_year IS 'Năm của chỉ tiêu áp dụng';
COMMENT ON COLUMN mart.indicator_today.target_pct IS 'Chỉ tiêu (%)';
COMMENT ON COLUMN mart.indicator_today.status IS 'Đánh giá: đạt hoặc chưa đạt';
COMMENT ON COLUMN mart.indicator_today.derived IS 'Số hồ sơ có kết quả suy ra từ kho dữ liệu (còn lại theo cờ của nguồn)';

-- Work queues: what each issuing unit digitizes next, in the plan's priority order.
DROP VIEW IF EXISTS mart.work_queue CASCADE;
CREATE VIEW mart.work_queue AS
WITH recent AS (
    SELECT DISTINCT unit_key, procedure_code FROM core.dossier
    WHERE received_date > current_date - interval '5 years'
), q AS (
    SELECT r.issuing_unit_key AS unit_key, r.successor_unit_key, r.result_code, r.procedure_code,
           r.doc_book, r.doc_number, r.issue_date, r.valid_until, r.copy_kind,
           CASE WHEN r.valid_until IS NULL THEN 1
                WHEN rc.procedure_code IS NOT NULL THEN 2
                ELSE 3 END AS priority_tier,
           r.valid_until - current_date AS remaining_days
    FROM core.result r
    LEFT JOIN recent rc ON rc.unit_key = r.issuing_unit_key AND rc.procedure_code = r.procedure_code
    WHERE core.result_status(r.valid_until, r.revoked_on, current_date) = 'valid'
      AND (r.copy_kind IS NULL OR r.copy_kind NOT IN ('scan', 'born_digital')
           -- a scan failing the copy rules with no compliant copy yet: scan it again
           OR (r.copy_kind = 'scan' AND EXISTS (SELECT 1 FROM mart.result_copy_check c
                                                WHERE c.result_id = r.result_id AND c.good_from IS NULL))
           -- a signed e-copy whose file is missing or whose signature does not verify
           OR (r.copy_kind = 'born_digital' AND NOT EXISTS (SELECT 1 FROM core.result_e_copy e
                                                            WHERE e.result_id = r.result_id AND e.status = 'verified')))
      AND r.digitized_elsewhere IS NULL
)
SELECT q.unit_key, u.name_vi AS unit_name, q.successor_unit_key,
       row_number() OVER (PARTITION BY q.unit_key
                          ORDER BY q.priority_tier, q.valid_until DESC NULLS FIRST, q.issue_date,
                                   q.result_code) AS queue_rank,
       q.priority_tier, q.result_code, q.procedure_code, q.doc_book, q.doc_number, q.issue_date,
       q.valid_until, q.remaining_days, q.copy_kind,
       CASE WHEN q.copy_kind = 'scan' THEN 'Quét lại (bản quét không đạt Nghị định 30/2020)'
            WHEN q.copy_kind = 'born_digital' THEN 'Bổ sung bản điện tử ký số hợp lệ (tệp thiếu hoặc chữ ký không xác thực được)'
            ELSE 'Số hóa' END AS task_vi
FROM q JOIN core.admin_unit u ON u.unit_key = q.unit_key;
COMMENT ON VIEW mart.work_queue IS 'Danh sách việc số hóa của từng đơn vị theo thứ tự ưu tiên của kế hoạch (vĩnh viễn → có hồ sơ 5 năm gần đây → thời hạn còn lại dài trước)';
COMMENT ON COLUMN mart.work_queue.unit_key IS 'Khóa đơn vị cấp kết quả (mã cũ)';
COMMENT ON COLUMN mart.work_queue.unit_name IS 'Tên đơn vị cấp kết quả';
COMMENT ON COLUMN mart.work_queue.successor_unit_key IS 'Khóa đơn vị kế thừa hiện nay';
COMMENT ON COLUMN mart.work_queue.queue_rank IS 'Thứ tự trong danh sách của đơn vị (1 = làm trước)';
COMMENT ON COLUMN mart.work_queue.priority_tier IS 'Nhóm ưu tiên: 1 = giá trị vĩnh viễn; 2 = thủ tục có hồ sơ trong 5 năm gần đây; 3 = còn lại, thời hạn dài trước';
COMMENT ON COLUMN mart.work_queue.result_code IS 'Ký hiệu riêng của kết quả';
COMMENT ON COLUMN mart.work_queue.procedure_code IS 'Mã loại kết quả';
COMMENT ON COLUMN mart.work_queue.doc_book IS 'Quyển số';
COMMENT ON COLUMN mart.work_queue.doc_number IS 'Số, ký hiệu kết quả';
COMMENT ON COLUMN mart.work_queue.issue_date IS 'Ngày cấp';
COMMENT ON COLUMN mart.work_queue.valid_until IS 'Ngày hết hiệu lực (để trống nếu vĩnh viễn)';
COMMENT ON COLUMN mart.work_queue.remaining_days IS 'Số ngày hiệu lực còn lại (để trống nếu vĩnh viễn)';
COMMENT ON COLUMN mart.work_queue.copy_kind IS 'Hiện trạng: chỉ có dữ liệu (data_only), chưa có gì, hoặc bản quét không đạt (scan)';
COMMENT ON COLUMN mart.work_queue.task_vi IS 'Việc cần làm: số hóa, hoặc quét lại bản quét không đạt yêu cầu';

-- Rescan queue: per issuing unit, the scanned results whose every copy fails the copy rules of
-- Nghị định 30/2020 (no compliant copy linked yet), with what is wrong, in Vietnamese.
DROP VIEW IF EXISTS mart.rescan_queue CASCADE;
CREATE VIEW mart.rescan_queue AS
SELECT r.issuing_unit_key AS unit_key, u.name_vi AS unit_name, pu.name_vi AS parent_name,
       row_number() OVER (PARTITION BY r.issuing_unit_key ORDER BY r.issue_date, r.result_code) AS queue_rank,
       r.result_code, r.procedure_code, r.doc_book, r.doc_number, r.issue_date,
       d.document_id, d.min_dpi, d.is_colour, d.pdf_version,
       (SELECT string_agg(CASE i WHEN 'dpi_below_200' THEN 'độ phân giải dưới 200 dpi'
                                 WHEN 'dpi_unknown' THEN 'không xác định được độ phân giải'
                                 WHEN 'not_colour' THEN 'không phải bản màu'
                                 WHEN 'pdf_version_below_1_4' THEN 'tệp PDF phiên bản dưới 1.4'
                                 WHEN 'unreadable' THEN 'không đọc được tệp'
                                 WHEN 'encrypted_pdf' THEN 'tệp PDF bị mã hóa'
                                 WHEN 'empty_file' THEN 'tệp rỗng'
                                 WHEN 'no_pages' THEN 'tệp không có trang'
                                 ELSE i END, '; ' ORDER BY i)
        FROM unnest(d.quality_issues) i
        WHERE i <> ALL (ARRAY['image_not_pdf', 'media_type_mismatch'])) AS reasons_vi,
       coalesce(d.linked_at, d.created_at) AS linked_at
FROM mart.result_copy_check c
JOIN core.result r ON r.result_id = c.result_id
JOIN LATERAL (SELECT * FROM core.document d0 WHERE d0.result_id = c.result_id
              ORDER BY coalesce(d0.linked_at, d0.created_at) DESC, d0.document_id DESC LIMIT 1) d ON true
JOIN core.admin_unit u ON u.unit_key = r.issuing_unit_key
LEFT JOIN core.admin_unit pu ON pu.unit_key = u.parent_key AND pu.level = 'district'
WHERE c.good_from IS NULL AND r.copy_kind = 'scan' AND r.digitized_elsewhere IS NULL;
COMMENT ON VIEW mart.rescan_queue IS 'Danh sách kết quả cần quét lại của từng đơn vị: bản quét không đạt Nghị định 30/2020, chưa có bản quét đạt';
COMMENT ON COLUMN mart.rescan_queue.unit_key IS 'Khóa đơn vị cấp kết quả (mã cũ)';
COMMENT ON COLUMN mart.rescan_queue.unit_name IS 'Tên đơn vị cấp kết quả';
COMMENT ON COLUMN mart.rescan_queue.parent_name IS 'Huyện, thành phố của đơn vị (đơn vị cấp xã)';
COMMENT ON COLUMN mart.rescan_queue.queue_rank IS 'Thứ tự trong danh sách của đơn vị';
COMMENT ON COLUMN mart.rescan_queue.result_code IS 'Ký hiệu riêng của kết quả';
COMMENT ON COLUMN mart.rescan_queue.procedure_code IS 'Mã loại kết quả';
COMMENT ON COLUMN mart.rescan_queue.doc_book IS 'Quyển số';
COMMENT ON COLUMN mart.rescan_queue.doc_number IS 'Số, ký hiệu kết quả';
COMMENT ON COLUMN mart.rescan_queue.issue_date IS 'Ngày cấp';
COMMENT ON COLUMN mart.rescan_queue.document_id IS 'Mã bản quét gần nhất (không đạt)';
COMMENT ON COLUMN mart.rescan_queue.min_dpi IS 'Độ phân giải thấp nhất của bản quét (dpi)';
COMMENT ON COLUMN mart.rescan_queue.is_colour IS 'Bản quét màu';
COMMENT ON COLUMN mart.rescan_queue.pdf_version IS 'Phiên bản PDF của bản quét';
COMMENT ON COLUMN mart.rescan_queue.reasons_vi IS 'Lý do không đạt yêu cầu';
COMMENT ON COLUMN mart.rescan_queue.linked_at IS 'Thời điểm gắn bản quét với kết quả';

-- Retention: what each unit holds in the archive, by result type, and until when; a file the
-- last fixity check found missing is a loss, a changed one is damage.
DROP VIEW IF EXISTS mart.retention CASCADE;
CREATE VIEW mart.retention AS
WITH docs AS (
    SELECT r.issuing_unit_key AS unit_key, r.procedure_code,
           core.retained_until(r.valid_until, r.revoked_on, p.retention_years) AS until,
           fc.ok AS fixity_ok, fc.detail AS fixity_detail
    FROM core.document d
    JOIN core.result r ON r.result_id = d.result_id
    JOIN core.procedure p ON p.code = r.procedure_code
    LEFT JOIN LATERAL (SELECT f.ok, f.detail FROM ops.fixity_check f WHERE f.document_id = d.document_id
                       ORDER BY f.checked_at DESC, f.check_id DESC LIMIT 1) fc ON true
)
SELECT d.unit_key, u.name_vi AS unit_name, pu.name_vi AS parent_name, d.procedure_code,
       p.result_name_vi,
       CASE WHEN p.retention_years IS NULL THEN 'Vĩnh viễn'
            ELSE p.retention_years || ' năm kể từ khi hết hiệu lực' END AS retention_vi,
       count(*) AS documents,
       count(*) FILTER (WHERE d.until IS NULL) AS kept_permanently,
       min(d.until) AS earliest_until,
       max(d.until) AS latest_until,
       count(*) FILTER (WHERE d.until <= current_date) AS period_ended,
       count(*) FILTER (WHERE NOT d.fixity_ok AND d.fixity_detail ILIKE '%missing%') AS lost,
       count(*) FILTER (WHERE NOT d.fixity_ok AND d.fixity_detail NOT ILIKE '%missing%') AS damaged,
       count(*) FILTER (WHERE d.fixity_ok IS NULL) AS never_checked
FROM docs d
JOIN core.procedure p ON p.code = d.procedure_code
JOIN core.admin_unit u ON u.unit_key = d.unit_key
LEFT JOIN core.admin_unit pu ON pu.unit_key = u.parent_key AND pu.level = 'district'
GROUP BY d.unit_key, u.name_vi, pu.name_vi, d.procedure_code, p.result_name_vi, p.retention_years;
COMMENT ON VIEW mart.retention IS 'Lưu trữ bản điện tử theo đơn vị và loại kết quả: thời hạn lưu trữ, lưu đến ngày nào, số tệp bị mất hoặc sai lệch';
COMMENT ON COLUMN mart.retention.unit_key IS 'Khóa đơn vị cấp kết quả (mã cũ)';
COMMENT ON COLUMN mart.retention.unit_name IS 'Tên đơn vị cấp kết quả';
COMMENT ON COLUMN mart.retention.parent_name IS 'Huyện, thành phố của đơn vị (đơn vị cấp xã)';
COMMENT ON COLUMN mart.retention.procedure_code IS 'Mã loại kết quả';
COMMENT ON COLUMN mart.retention.result_name_vi IS 'Tên loại kết quả';
COMMENT ON COLUMN mart.retention.retention_vi IS 'Thời hạn lưu trữ theo danh mục (seeds/procedures.yaml)';
COMMENT ON COLUMN mart.retention.documents IS 'Số bản điện tử đang lưu trữ';
COMMENT ON COLUMN mart.retention.kept_permanently IS 'Trong đó lưu vĩnh viễn (loại vĩnh viễn hoặc kết quả còn hiệu lực vô thời hạn)';
COMMENT ON COLUMN mart.retention.earliest_until IS 'Ngày hết thời hạn lưu trữ sớm nhất';
COMMENT ON COLUMN mart.retention.latest_until IS 'Ngày hết thời hạn lưu trữ muộn nhất';
COMMENT ON COLUMN mart.retention.period_ended IS 'Số bản đã hết thời hạn lưu trữ (có thể xem xét hủy theo quy định)';
COMMENT ON COLUMN mart.retention.lost IS 'Số bản bị mất: lần kiểm tra toàn vẹn gần nhất không tìm thấy tệp';
COMMENT ON COLUMN mart.retention.damaged IS 'Số bản bị sai lệch: tệp còn nhưng mã băm SHA-256 không khớp';
COMMENT ON COLUMN mart.retention.never_checked IS 'Số bản chưa được kiểm tra toàn vẹn lần nào';

-- Cost estimate (dự trù kinh phí) of what is left, per plan and issuing unit, with the latest rate
-- version in force (seeds/cost_rates.yaml), and the day each unit reaches the plan's final target
-- at its pace of the last 90 days.
DROP VIEW IF EXISTS mart.cost_estimate CASCADE;
CREATE VIEW mart.cost_estimate AS
WITH version AS (
    SELECT c.version, c.basis FROM core.cost_rate c WHERE c.valid_from <= current_date
    ORDER BY c.valid_from DESC, c.version DESC LIMIT 1
), star AS (
    SELECT c.* FROM core.cost_rate c JOIN version v USING (version) WHERE c.procedure_code = '*'
), mix AS (
    -- the unit's known backlog by result type: its rates are weighted by it
    SELECT w.unit_key, w.procedure_code, count(*) AS n FROM mart.work_queue w GROUP BY 1, 2
), unit_rate AS (
    SELECT m.unit_key,
           sum(m.n * coalesce(t.per_record_vnd, s.per_record_vnd)) / sum(m.n) AS per_record_vnd,
           sum(m.n * coalesce(t.per_page_vnd, s.per_page_vnd)) / sum(m.n) AS per_page_vnd,
           sum(m.n * coalesce(t.pages_per_record, s.pages_per_record)) / sum(m.n) AS pages_per_record
    FROM mix m CROSS JOIN star s
    LEFT JOIN core.cost_rate t ON t.version = s.version AND t.procedure_code = m.procedure_code
    GROUP BY m.unit_key
), declared_pages AS (
    SELECT d.unit_key, sum(d.declared_page_count)::numeric / nullif(sum(d.declared_paper_count), 0) AS pages_per_record
    FROM core.inventory_declaration d WHERE d.declared_page_count IS NOT NULL GROUP BY d.unit_key
), pace AS (
    SELECT r.issuing_unit_key AS unit_key, count(*) AS n90
    FROM core.result r
    WHERE r.digitized_at >= now() - interval '90 days'
      AND (r.copy_kind = 'scan'
           OR (r.copy_kind = 'born_digital' AND EXISTS (SELECT 1 FROM core.result_e_copy e
                                                        WHERE e.result_id = r.result_id AND e.status = 'verified')))
    GROUP BY 1
), final_target AS (
    SELECT DISTINCT ON (plan_code, level) plan_code, level, year, target_pct
    FROM core.plan_target ORDER BY plan_code, level, year DESC
), base AS (
    SELECT g.plan_code, g.unit_key, g.unit_code, g.unit_name, g.unit_level,
           greatest(g.in_scope - g.digitized - g.digitized_elsewhere, 0) AS remaining,
           g.in_scope, g.digitized + g.digitized_elsewhere AS done,
           coalesce(dp.pages_per_record, ur.pages_per_record, s.pages_per_record) AS pages_per_record,
           dp.pages_per_record IS NOT NULL AS pages_declared,
           coalesce(ur.per_page_vnd, s.per_page_vnd) AS per_page_vnd,
           coalesce(ur.per_record_vnd, s.per_record_vnd) AS per_record_vnd,
           coalesce(pc.n90, 0) AS n90, ft.year AS final_year, ft.target_pct AS final_target_pct
    FROM mart.progress_today g
    CROSS JOIN star s
    LEFT JOIN unit_rate ur ON ur.unit_key = g.unit_key
    LEFT JOIN declared_pages dp ON dp.unit_key = g.unit_key
    LEFT JOIN pace pc ON pc.unit_key = g.unit_key
    LEFT JOIN final_target ft ON ft.plan_code = g.plan_code AND ft.level = g.unit_level
    WHERE g.unit_view = 'issuing'
)
SELECT b.plan_code, b.unit_key, b.unit_code, b.unit_name, pu.name_vi AS parent_name, b.unit_level,
       b.remaining AS remaining_records,
       round(b.remaining * b.pages_per_record)::bigint AS remaining_pages,
       b.pages_declared,
       round(b.remaining * (b.per_record_vnd + b.pages_per_record * b.per_page_vnd))::bigint AS estimated_cost_vnd,
       (SELECT v.version FROM version v) AS rate_version,
       round(b.n90 / 3.0, 1) AS pace_per_month,
       CASE WHEN b.final_target_pct IS NULL THEN NULL
            WHEN b.done >= ceil(b.final_target_pct * b.in_scope / 100.0) THEN current_date
            WHEN b.n90 > 0 THEN current_date
                 + ceil((ceil(b.final_target_pct * b.in_scope / 100.0) - b.done) * 90 / b.n90)::int
       END AS target_reached_on,
       b.final_year, b.final_target_pct
FROM base b
JOIN core.admin_unit u ON u.unit_key = b.unit_key
LEFT JOIN core.admin_unit pu ON pu.unit_key = u.parent_key AND pu.level = 'district';
COMMENT ON VIEW mart.cost_estimate IS 'Dự trù kinh phí số hóa phần còn lại theo kế hoạch và đơn vị, theo bảng đơn giá hiện hành; ngày dự kiến đạt chỉ tiêu cuối theo tốc độ 90 ngày gần nhất';
COMMENT ON COLUMN mart.cost_estimate.plan_code IS 'Mã kế hoạch';
COMMENT ON COLUMN mart.cost_estimate.unit_key IS 'Khóa đơn vị cấp kết quả (mã cũ)';
COMMENT ON COLUMN mart.cost_estimate.unit_code IS 'Mã đơn vị hành chính';
COMMENT ON COLUMN mart.cost_estimate.unit_name IS 'Tên đơn vị';
COMMENT ON COLUMN mart.cost_estimate.parent_name IS 'Huyện, thành phố của đơn vị (đơn vị cấp xã)';
COMMENT ON COLUMN mart.cost_estimate.unit_level IS 'Cấp: tỉnh, huyện, xã';
COMMENT ON COLUMN mart.cost_estimate.remaining_records IS 'Số kết quả còn phải số hóa (phạm vi trừ đã số hóa)';
COMMENT ON COLUMN mart.cost_estimate.remaining_pages IS 'Số trang ước tính còn phải quét';
COMMENT ON COLUMN mart.cost_estimate.pages_declared IS 'Số trang theo kê khai của đơn vị (đúng) hay theo định mức bảng đơn giá (sai)';
COMMENT ON COLUMN mart.cost_estimate.estimated_cost_vnd IS 'Kinh phí ước tính (đồng) = số kết quả × (đơn giá bản ghi + số trang × đơn giá trang)';
COMMENT ON COLUMN mart.cost_estimate.rate_version IS 'Phiên bản bảng đơn giá áp dụng';
COMMENT ON COLUMN mart.cost_estimate.pace_per_month IS 'Tốc độ số hóa hiện nay (kết quả/tháng, bình quân 90 ngày)';
COMMENT ON COLUMN mart.cost_estimate.target_reached_on IS 'Ngày dự kiến đạt chỉ tiêu cuối của kế hoạch nếu giữ tốc độ hiện nay (trống: chưa có tiến độ)';
COMMENT ON COLUMN mart.cost_estimate.final_year IS 'Năm của chỉ tiêu cuối';
COMMENT ON COLUMN mart.cost_estimate.final_target_pct IS 'Chỉ tiêu cuối (%)';

-- Views were re-created: re-grant (default privileges cover new objects; this covers old databases).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'tthc_analyst') THEN
        GRANT USAGE ON SCHEMA mart TO tthc_analyst;
        GRANT SELECT ON ALL TABLES IN SCHEMA mart TO tthc_analyst;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA mart TO tthc_analyst;
    END IF;
END $$;
