-- Codes of a batch's new results, planned once per batch before its chunks are normalized: a
-- result's code then depends on the batch's content only, not on chunking, workers or a kill -9
-- (a re-run of the batch finds its plan and reuses it).
CREATE TABLE IF NOT EXISTS staging.result_code_plan (
    batch_id        bigint NOT NULL REFERENCES ops.batch (batch_id),
    agency_id       text NOT NULL,
    procedure_code  text NOT NULL,
    doc_book        text NOT NULL,
    doc_number      text NOT NULL,
    issue_date      date NOT NULL,
    result_code     text NOT NULL,
    PRIMARY KEY (batch_id, agency_id, procedure_code, doc_book, doc_number, issue_date)
);
