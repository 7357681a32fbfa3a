-- Serial numbers for unique result codes, one counter per (agency, result type, issue year).
-- Allocation is one atomic upsert that takes a row lock, so parallel tasks never get
-- the same serial; core.result.result_code is UNIQUE as the last line of defence.
CREATE TABLE IF NOT EXISTS core.result_code_counter (
    agency_id       text NOT NULL REFERENCES core.agency (electronic_id),
    procedure_code  text NOT NULL REFERENCES core.procedure (code),
    issue_year      integer NOT NULL,
    last_serial     bigint NOT NULL CHECK (last_serial >= 0),
    PRIMARY KEY (agency_id, procedure_code, issue_year)
);
