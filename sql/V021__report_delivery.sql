-- Every sending of a progress report (by e-mail, with the PDF and XLSX attached) is recorded:
-- who received which report, when, with which files (SHA-256), and how it went. A report is sent
-- to an audience once per period: a re-run finds the 'sent' row and does not send again unless
-- it is forced (the forced resend is recorded as a new row).
CREATE TABLE IF NOT EXISTS ops.report_delivery (
    delivery_id   bigserial PRIMARY KEY,
    period_kind   text NOT NULL CHECK (period_kind IN ('month', 'quarter', 'year')),
    period_end    date NOT NULL,
    audience      text NOT NULL,              -- plan:<plan code>:<group no> or unit:<unit code>
    plan_code     text,
    unit_code     text,
    recipients    text[] NOT NULL DEFAULT '{}',
    cc            text[] NOT NULL DEFAULT '{}',
    subject       text NOT NULL,
    attachments   jsonb NOT NULL DEFAULT '[]',   -- [{name, bytes, sha256}]
    due_on        date,                       -- the plan's due date for this report, if any
    status        text NOT NULL CHECK (status IN ('sent', 'failed', 'no_recipients')),
    error         text,
    forced        boolean NOT NULL DEFAULT false,
    run_id        text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS report_delivery_period_idx ON ops.report_delivery (period_kind, period_end, audience);
COMMENT ON TABLE ops.report_delivery IS 'Nhật ký gửi báo cáo tiến độ qua thư điện tử (tệp PDF, XLSX đính kèm)';
