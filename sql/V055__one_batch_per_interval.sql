-- One ops.batch row per source and data interval: two runs of one interval at once share it.
-- tthc.ops.batches.open_batch takes an advisory lock on the interval; this index is the backstop
-- for scheduled intervals (a batch without an interval is guarded by the lock alone). Rows that two
-- racing runs made before the index existed stay for their lineage, labelled detail.duplicate_of =
-- the row that is kept (the lowest batch_id, which open_batch reuses).
WITH ranked AS (
    SELECT batch_id, min(batch_id) OVER (PARTITION BY source, interval_start, interval_end) AS keeper
    FROM ops.batch WHERE interval_start IS NOT NULL AND interval_end IS NOT NULL
)
UPDATE ops.batch b SET detail = b.detail || jsonb_build_object('duplicate_of', r.keeper)
FROM ranked r
WHERE b.batch_id = r.batch_id AND r.batch_id <> r.keeper AND NOT b.detail ? 'duplicate_of';

CREATE UNIQUE INDEX IF NOT EXISTS batch_one_per_interval_idx
    ON ops.batch (source, interval_start, interval_end)
    WHERE NOT detail ? 'duplicate_of';
