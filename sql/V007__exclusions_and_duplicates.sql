-- Results already digitized by another project (e.g. the province's electronic civil-status
-- database, QĐ 589/QĐ-UBND-HC 2024): recognized, marked on core.result, reported, not redone.
CREATE TABLE IF NOT EXISTS core.external_digitization (
    source           text NOT NULL,
    external_ref     text NOT NULL,
    agency_id        text,
    procedure_code   text,
    doc_book         text NOT NULL DEFAULT '',
    doc_number       text,
    issue_date       date,
    holder_name      text,
    source_system    text,
    digitized_on     date,
    PRIMARY KEY (source, external_ref)
);
CREATE INDEX IF NOT EXISTS external_digitization_key_idx
    ON core.external_digitization (agency_id, procedure_code, doc_book, doc_number, issue_date);

-- Per-batch duplicate report: every source row of a batch that was merged into a result
-- that more than one source row feeds, and why.
CREATE OR REPLACE VIEW ops.duplicate_report AS
SELECT s.batch_id, r.result_code, r.procedure_code, r.agency_id, r.doc_book, r.doc_number, r.issue_date,
       s.source, s.source_pk, s.match_rule,
       (SELECT array_agg(o.source || ':' || o.source_pk ORDER BY o.source, o.source_pk)
        FROM core.result_source o
        WHERE o.result_id = s.result_id AND (o.source, o.source_pk) <> (s.source, s.source_pk)) AS merged_with
FROM core.result_source s
JOIN core.result r ON r.result_id = s.result_id
WHERE (SELECT count(*) FROM core.result_source o WHERE o.result_id = s.result_id) > 1;
