-- Warehouse layers, dbt jaffle-shop style:
--   raw      source rows exactly as they came (payload + lineage)
--   staging  typed, cleaned rows of one batch, the input of validation
--   core     normalized results, holders, units, agencies, procedures, plans
--   mart     what analysts and officials read (Vietnamese comments)
--   ops      pipeline state: batches, watermarks, quarantine, event log, lineage
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS mart;
CREATE SCHEMA IF NOT EXISTS ops;

COMMENT ON SCHEMA raw IS 'Source rows as they came, with lineage';
COMMENT ON SCHEMA staging IS 'Typed rows of one batch, validated before they reach core';
COMMENT ON SCHEMA core IS 'Normalized results, holders and reference data';
COMMENT ON SCHEMA mart IS 'Dữ liệu phục vụ phân tích và báo cáo (analyst-facing)';
COMMENT ON SCHEMA ops IS 'Pipeline state: batches, watermarks, quarantine, events';
