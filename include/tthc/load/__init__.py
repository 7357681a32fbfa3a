"""The load stage: canonical candidate rows → staging → Great Expectations → quarantine → core.

Legacy sources (tthc.sources.pipeline) and scans (tthc.scans.candidates) both feed it. The contract:

* Input: **canonical candidate rows**, the columns of ``staging.result_candidate``
  (``tthc.load.contract.CANDIDATE_COLUMNS``), each with its source key and raw payload, in chunks
  (``Stager.add``). Raw payloads land in ``raw.source_row`` and candidates in staging with ``COPY``.
* A small explicit ``LoadProfile``: the source name, which GX suites apply (expectations/ plus an
  optional extra suite), the quarantine threshold, the chunk size.
* ``validate``: GX validates every staged row; failing rows are marked in staging and copied to
  ``ops.quarantine`` by SQL (``staging.quarantine_failed``); one personal ID held under two names is an
  identity conflict, quarantined with both rows.
* ``normalize``: per chunk of candidate ids, fuzzy keys resolved, then ``staging.load_chunk``
  (sql/R__load_normalize.sql) makes holders, results and lineage: **the one place where a candidate
  becomes a result**; then codes, then exclusions.
"""

# The package itself imports only what has no dependency on the sources or scans packages (cleaning
# imports the contract); the steps that do are imported from tthc.load.validate and tthc.load.normalize.
from tthc.load.contract import CANDIDATE_COLUMNS, LoadProfile, LoadTotals, canonical_payload, holder_key
from tthc.load.progress import Progress
from tthc.load.stage import Stager

__all__ = ["CANDIDATE_COLUMNS", "LoadProfile", "LoadTotals", "Progress", "Stager", "canonical_payload",
           "holder_key"]
