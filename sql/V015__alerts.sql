-- Alerts to operators and officials (tthc.alerts). Tasks cannot reach Airflow's metadata DB,
-- so the alert history and the grouping state live in the warehouse.

-- Every alert handled: sent, suppressed by grouping, or failed on its channels.
CREATE TABLE IF NOT EXISTS ops.alert_log (
    alert_id      bigserial PRIMARY KEY,
    kind          text NOT NULL,          -- task_failure | task_retry | dag_failure | data_quality | stale_source
                                          -- | late_run | unit_behind | digest
    fingerprint   text NOT NULL,          -- what identical alerts share (dag + task + error class/first line ...)
    status        text NOT NULL
                  CHECK (status IN ('sent', 'partial', 'failed', 'suppressed', 'recorded', 'no_recipients')),
    subject       text NOT NULL,
    dag_id        text,
    task_id       text,
    run_id        text,
    source        text,
    unit_code     text,
    occurrences   integer NOT NULL DEFAULT 1,     -- a digest stands for this many suppressed alerts
    routes        text[] NOT NULL DEFAULT '{}',   -- names of the routes of config/alerts.yaml used
    channels      jsonb NOT NULL DEFAULT '[]',    -- [{channel, target, ok, error}]; webhook URLs masked
    payload       jsonb NOT NULL DEFAULT '{}',    -- the structured message (the webhook body)
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alert_log_fingerprint_idx ON ops.alert_log (fingerprint, created_at DESC);
CREATE INDEX IF NOT EXISTS alert_log_source_idx ON ops.alert_log (source, created_at DESC);

-- Grouping: the first alert of a fingerprint opens a window and is sent; identical alerts inside
-- the window only count here, and go out once as a digest when the window ends (or on the next alert).
CREATE TABLE IF NOT EXISTS ops.alert_group (
    fingerprint          text PRIMARY KEY,
    kind                 text NOT NULL,
    window_start         timestamptz NOT NULL,
    window_end           timestamptz NOT NULL,
    suppressed           integer NOT NULL DEFAULT 0,
    first_suppressed_at  timestamptz,
    last_suppressed_at   timestamptz,
    last_payload         jsonb,           -- the latest suppressed alert, the digest repeats it
    last_sent_at         timestamptz
);
CREATE INDEX IF NOT EXISTS alert_group_due_idx ON ops.alert_group (window_end) WHERE suppressed > 0;
