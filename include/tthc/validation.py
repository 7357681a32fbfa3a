"""Validate one staging batch with Great Expectations 1.x, in PostgreSQL.

Suites are GX ExpectationSuite JSON files in `expectations/` (see its README):

    common.json              every row of the batch
    <DOCUMENT_TYPE>.json     rows with that document_type (KS.json, HKD.json ...)
    source__<source>.json    rows from that source (optional)

`validate_batch(url, batch_id)` gives GX a PostgreSQL datasource with one query asset
per suite (`staging.result_candidate` filtered on the batch, and on the type or source),
so every expectation runs as SQL in the warehouse; no row is loaded into pandas here.
It asks for result_format BASIC: GX counts the unexpected rows of each expectation (and keeps
a sample of values). The failing rows of each failing expectation are then selected in the
warehouse, into a temp table, by the condition its configuration states
(`unexpected_rows_predicate`), and their number must equal GX's count. The outcome
is, per failing candidate_id, the expectations it failed, as
`"<suite>:<expectation type>(<column>)"`, e.g. `"KS:expect_column_values_to_not_be_null(holder_name)"`:
returned, or written to staging.result_candidate.failed_checks (`mark_staging`, the load stage).

Two values reach the suites as GX suite parameters (`{"$PARAMETER": ...}`), filled at
run time: `procedure_codes` (the codes in core.procedure) and `max_issue_date` (today in
the local time zone, tthc.settings.TIMEZONE). In the query assets `clean_problems` is the jsonb cast to text, so a
clean row has the value `[]`.

Results: one row per (batch, suite) in ops.validation_result, replaced as a whole when
the batch is validated again; and GX Data Docs (HTML) in the data-docs folder.

GX is imported inside the functions only: importing this module (e.g. from a DAG file)
neither loads GX (~8 s) nor touches the warehouse.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psycopg2 import sql
from sqlalchemy.engine import URL, make_url

from tthc.data_docs import make_offline, make_private, mask_result
from tthc.paths import local_dir, project_root
from tthc.warehouse.db import transaction
from tthc.warehouse.server import normalize_url
from tthc.settings import LOCAL_TZ, settings

if TYPE_CHECKING:  # pragma: no cover
    from great_expectations.core import ExpectationSuite

log = logging.getLogger("tthc.validation")

INDEX_COLUMN = "candidate_id"
COMMON_SUITE = "common"
SOURCE_PREFIX = "source__"
STAGING_SCHEMA, STAGING_TABLE = "staging", "result_candidate"
DATASOURCE_NAME = "tthc_warehouse"

# Sample values GX keeps per expectation (Data Docs' "Sampled Unexpected Values").
PARTIAL_COUNT = 20
# The Data Docs copy of a result keeps at most this many failing ids (and sample values)
# per expectation; its pages then show "Sampled Unexpected Values". The full list is in
# ops.validation_result. Small copies keep the index build fast: it reads every result
# it links.
DOCS_INDEX_LIMIT = 100
# The Data Docs site keeps the most recent suite results only (all are in ops.validation_result).
DOCS_RESULTS_LIMIT = 200
# Where the (trimmed) validation results behind the Data Docs site are kept, inside it.
DOCS_RESULTS_SUBDIR = ".validation-results"

# Seconds of the last run's parts in this process (bench/profile_ingest.py reads them).
_TIMINGS: dict[str, float] = {}


def last_timings() -> dict[str, float]:
    """Seconds of the last validation's parts: checkpoint (GX alone), data_docs, store."""
    return dict(_TIMINGS)


_TYPE_SUITE = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class ValidationOutcome:
    failures: dict[int, list[str]] | None  # candidate_id -> failed expectations ("suite:type(column)");
                                           # None: written to staging instead (mark_staging)
    evaluated_rows: int               # rows of the batch
    suites: dict[str, bool]           # suite name -> success
    data_docs_index: Path | None      # index.html of the Data Docs site
    identity_conflicts: int = 0       # set by the load stage (tthc.load.validate.run_checks)


class SuiteError(ValueError):
    """A suite file is not a valid GX ExpectationSuite, or is misnamed."""


class ValidationRunError(RuntimeError):
    """GX could not evaluate an expectation (e.g. a column that does not exist), or returned
    fewer failing ids than unexpected rows. Raised after the results are stored."""


def _quiet_gx_logs() -> None:
    """GX logs chatty INFO lines (decorator registration, batch slices) into task logs:
    keep its warnings only, unless someone configured the "great_expectations" logger."""
    gx_log = logging.getLogger("great_expectations")
    if gx_log.level == logging.NOTSET:
        gx_log.setLevel(logging.WARNING)


# --- suites --------------------------------------------------------------------------


def default_suites_dir() -> Path:
    return project_root() / "expectations"


def default_data_docs_dir() -> Path:
    """TTHC_DATA_DOCS_DIR, else <TTHC_LOCAL_DIR or ./.local>/data_docs."""
    env = settings().data_docs_dir
    return env.resolve() if env else local_dir() / "data_docs"


def load_suite(path: Path) -> "ExpectationSuite":
    """One suite file, deserialized by GX. The suite name must be the file name."""
    _quiet_gx_logs()
    from great_expectations.core import ExpectationSuite

    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SuiteError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise SuiteError(f"{path}: expected a JSON object (a GX ExpectationSuite)")
    if doc.get("name") != path.stem:
        raise SuiteError(f"{path}: suite name {doc.get('name')!r} must equal the file name {path.stem!r}")
    try:
        suite = ExpectationSuite(**doc)
    except Exception as exc:  # GX raises several types for a bad suite
        raise SuiteError(f"{path}: not a GX ExpectationSuite ({exc})") from exc
    # GX logs and *drops* an expectation whose configuration is invalid: refuse that.
    if len(suite.expectations) != len(doc.get("expectations") or []):
        raise SuiteError(f"{path}: {len(doc.get('expectations') or []) - len(suite.expectations)} "
                         "expectation(s) rejected by GX (see the log above)")
    return suite


def load_suites(suites_dir: Path | None = None) -> dict[str, "ExpectationSuite"]:
    """Every *.json suite of the folder, by name. `common` is required."""
    folder = Path(suites_dir) if suites_dir else default_suites_dir()
    suites: dict[str, ExpectationSuite] = {}
    for path in sorted(folder.glob("*.json")):
        name = path.stem
        if not (name == COMMON_SUITE or _TYPE_SUITE.match(name)
                or (name.startswith(SOURCE_PREFIX) and _SOURCE_NAME.match(name[len(SOURCE_PREFIX):]))):
            raise SuiteError(f"{path}: a suite file is named common.json, <DOCUMENT_TYPE>.json "
                             "(upper case) or source__<source>.json")
        suites[name] = load_suite(path)
    if COMMON_SUITE not in suites:
        raise SuiteError(f"{folder}: no {COMMON_SUITE}.json suite")
    return suites


# --- the run ---------------------------------------------------------------------------


def validate_batch(url: str, batch_id: int, suites_dir: Path | None = None,
                   data_docs_dir: Path | None = None, mark_staging: bool = False) -> ValidationOutcome:
    """Validate the staging rows of one batch; store the results; build the Data Docs.

    GX runs with result_format BASIC and returns, for each expectation, its unexpected count; the
    failing ids are selected in the warehouse by the condition the expectation's configuration
    states (`unexpected_rows_predicate`), checked against that count, never held as lists in Python. With `mark_staging`, they are
    written to staging.result_candidate.failed_checks of the batch (NULL = passed) and `failures` is
    None; without it, they are returned (small batches: tests, review)."""
    batch_id = int(batch_id)
    suites = load_suites(suites_dir)
    docs_dir = Path(data_docs_dir).resolve() if data_docs_dir else default_data_docs_dir()

    groups, columns, procedure_codes = _batch_shape(url, batch_id)
    evaluated_rows = sum(n for _, _, n in groups)
    selected = _select_suites(suites, batch_id, groups)
    parameters = {
        "procedure_codes": procedure_codes,
        "max_issue_date": dt.datetime.now(LOCAL_TZ).date().isoformat(),
    }

    for name in selected:  # a type whose failing rows cannot be selected is refused before GX runs
        for expectation in suites[name].expectations:
            cfg = expectation.configuration
            try:
                unexpected_rows_predicate(cfg.type, cfg.kwargs, parameters)
            except SuiteError as exc:
                raise SuiteError(f"suite {name}: {exc}") from None

    runs = _run_gx(url, batch_id, suites, selected, columns, parameters, docs_dir)

    started = time.monotonic()
    # (suite, label, the suite's rows, unexpected-row condition, its parameters, GX's unexpected count)
    checks: list[tuple] = []
    errors: list[str] = []
    for name, run in runs.items():
        for res in run.result.results:
            cfg = res.expectation_config
            label = f"{name}:{describe_expectation(cfg.type, cfg.kwargs)}"
            raised = _raised_exceptions(res.exception_info)
            if raised:
                errors.append(f"{label}: {raised[0]}")
                continue
            count = (res.result or {}).get("unexpected_count") or 0
            if count:
                condition, params = unexpected_rows_predicate(cfg.type, cfg.kwargs, parameters)
                checks.append((name, label, run.query, condition, params, int(count)))

    rows: list[tuple] = []
    suite_success: dict[str, bool] = {}
    failures: dict[int, list[str]] | None = None
    with transaction(url) as cur:
        failed_by_suite = _collect_failures(cur, batch_id, checks, errors, mark_staging)
        if not mark_staging:
            cur.execute("""SELECT candidate_id, array_agg(label ORDER BY label) FROM tthc_gx_failure
                           GROUP BY 1 ORDER BY 1""")
            failures = {int(cid): list(labels) for cid, labels in cur.fetchall()}
        for name, run in runs.items():
            result, row_count = run.result, run.rows
            suite_success[name] = bool(result.success)
            failed = failed_by_suite.get(name, 0)
            rows.append((batch_id, name, bool(result.success), row_count, failed,
                         json.dumps(result.statistics), json.dumps(run.stored)))
            stats = result.statistics
            log.info("batch %s suite %s: %s, %d rows, %d failing rows, %d/%d expectations met",
                     batch_id, name, "passed" if result.success else "FAILED", row_count,
                     failed, stats.get("successful_expectations", 0), stats.get("evaluated_expectations", 0))
        cur.execute("DROP TABLE tthc_gx_failure")
        cur.execute("DELETE FROM ops.validation_result WHERE batch_id = %s", (batch_id,))
        cur.executemany("""
            INSERT INTO ops.validation_result
                (batch_id, suite, success, evaluated_rows, failed_rows, statistics, result, validated_at)
            VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, now())
            ON CONFLICT (batch_id, suite) DO UPDATE SET
                success = EXCLUDED.success, evaluated_rows = EXCLUDED.evaluated_rows,
                failed_rows = EXCLUDED.failed_rows, statistics = EXCLUDED.statistics,
                result = EXCLUDED.result, validated_at = EXCLUDED.validated_at""", rows)
    _TIMINGS["failing_rows_by_sql"] = round(time.monotonic() - started, 2)

    if errors:
        raise ValidationRunError(f"batch {batch_id}: incomplete validation, "
                                 f"{len(errors)} expectation(s) failed to evaluate: " + "; ".join(errors))

    index = docs_dir / "index.html"
    return ValidationOutcome(
        failures=failures,
        evaluated_rows=evaluated_rows,
        suites=suite_success,
        data_docs_index=index if index.exists() else None,
    )


def _param(value, parameters: dict):
    if isinstance(value, dict) and "$PARAMETER" in value:
        return parameters[value["$PARAMETER"]]
    return value


def unexpected_rows_predicate(expectation_type: str, kwargs: dict, parameters: dict) -> tuple[sql.Composable, list]:
    """The SQL condition (and its parameters) of the rows an expectation counts as unexpected, from
    its configuration, as GX evaluates it in SQL: a column's NULLs are outside the domain except for
    not-null; a pair's rows are dropped per `ignore_row_if`. validate_batch checks every run that it
    finds exactly as many rows as GX counted. Raises SuiteError for a type it does not know."""
    if kwargs.get("row_condition"):
        raise SuiteError(f"{expectation_type}: row_condition is not supported (a suite per type or source "
                         "selects rows instead)")

    def col(name):
        return sql.Identifier(kwargs[name])

    def bounds(expr, lo, hi, strict_lo, strict_hi):
        parts, params = [], []
        if lo is not None:
            parts.append(sql.SQL("{} {} %s").format(expr, sql.SQL(">" if strict_lo else ">=")))
            params.append(lo)
        if hi is not None:
            parts.append(sql.SQL("{} {} %s").format(expr, sql.SQL("<" if strict_hi else "<=")))
            params.append(hi)
        return sql.SQL(" AND ").join(parts) if parts else sql.SQL("true"), params

    lo, hi = _param(kwargs.get("min_value"), parameters), _param(kwargs.get("max_value"), parameters)
    strict = bool(kwargs.get("strict_min")), bool(kwargs.get("strict_max"))
    if expectation_type == "expect_column_values_to_not_be_null":
        return sql.SQL("{} IS NULL").format(col("column")), []
    if expectation_type == "expect_column_values_to_be_in_set":
        values = [str(v) for v in _param(kwargs["value_set"], parameters)]
        return sql.SQL("{c} IS NOT NULL AND NOT ({c}::text = ANY(%s::text[]))").format(c=col("column")), [values]
    if expectation_type == "expect_column_values_to_match_regex":
        return sql.SQL("{c} IS NOT NULL AND NOT ({c} ~ %s)").format(c=col("column")), [
            _param(kwargs["regex"], parameters)]
    if expectation_type == "expect_column_value_lengths_to_be_between":
        cond, params = bounds(sql.SQL("char_length({})").format(col("column")), lo, hi, *strict)
        return sql.SQL("{} IS NOT NULL AND NOT ({})").format(col("column"), cond), params
    if expectation_type == "expect_column_values_to_be_between":
        cond, params = bounds(col("column"), lo, hi, *strict)
        return sql.SQL("{} IS NOT NULL AND NOT ({})").format(col("column"), cond), params
    if expectation_type == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = col("column_A"), col("column_B")
        cond = sql.SQL("{} {} {}").format(a, sql.SQL(">=" if kwargs.get("or_equal") else ">"), b)
        ignore = kwargs.get("ignore_row_if", "both_values_are_missing")
        keep = {"both_values_are_missing": sql.SQL("({} IS NOT NULL OR {} IS NOT NULL)").format(a, b),
                "either_value_is_missing": sql.SQL("({} IS NOT NULL AND {} IS NOT NULL)").format(a, b),
                "neither": sql.SQL("true")}.get(ignore)
        if keep is None:
            raise SuiteError(f"{expectation_type}: ignore_row_if {ignore!r} is not supported")
        return sql.SQL("{} AND NOT ({})").format(keep, cond), []
    raise SuiteError(f"{expectation_type}: validate_batch has no SQL for its unexpected rows "
                     "(add it to tthc.validation.unexpected_rows_predicate)")


def _collect_failures(cur, batch_id: int, checks, errors: list[str], mark_staging: bool) -> dict[str, int]:
    """Select each failing expectation's unexpected rows into a temp table, checking that they are as
    many as GX counted; with mark_staging, write failed_checks of the batch. Returns the failing rows
    per suite."""
    cur.execute("""CREATE TEMP TABLE IF NOT EXISTS tthc_gx_failure
                   (candidate_id bigint, suite text, label text) ON COMMIT DROP""")
    cur.execute("TRUNCATE tthc_gx_failure")
    for suite, label, rows, condition, params, count in checks:
        cur.execute(sql.SQL("INSERT INTO tthc_gx_failure SELECT q.{col}, %s, %s FROM ({rows}) q WHERE {cond}").format(
            col=sql.Identifier(INDEX_COLUMN), rows=sql.SQL(rows.replace("%", "%%")), cond=condition),
            [suite, label, *params])
        if cur.rowcount != count:
            errors.append(f"{label}: {cur.rowcount} candidate ids found for GX's {count} unexpected rows")
    if mark_staging and not errors:  # an incomplete run marks nothing: unchecked rows must not pass
        cur.execute("""UPDATE staging.result_candidate SET failed_checks = NULL
                       WHERE batch_id = %s AND failed_checks IS NOT NULL""", (batch_id,))
        cur.execute("""UPDATE staging.result_candidate c SET failed_checks = f.checks
                       FROM (SELECT candidate_id, jsonb_agg(DISTINCT label ORDER BY label) AS checks
                             FROM tthc_gx_failure GROUP BY 1) f
                       WHERE c.candidate_id = f.candidate_id AND c.batch_id = %s""", (batch_id,))
    cur.execute("SELECT suite, count(DISTINCT candidate_id) FROM tthc_gx_failure GROUP BY 1")
    return {suite: int(n) for suite, n in cur.fetchall()}


def describe_expectation(expectation_type: str, kwargs: dict) -> str:
    """`expect_column_values_to_not_be_null(doc_number)`; pairs and lists join with commas."""
    if "column" in kwargs:
        cols = [kwargs["column"]]
    elif "column_A" in kwargs:
        cols = [kwargs["column_A"], kwargs["column_B"]]
    else:
        cols = list(kwargs.get("column_list") or [])
    return f"{expectation_type}({','.join(str(c) for c in cols)})"


def _batch_shape(url: str, batch_id: int) -> tuple[list[tuple[str | None, str, int]], list[tuple[str, str]], list[str]]:
    """Row counts per (document_type, source), the staging columns, and the procedure codes."""
    with transaction(url) as cur:
        cur.execute("SELECT 1 FROM ops.batch WHERE batch_id = %s", (batch_id,))
        if cur.fetchone() is None:
            raise ValueError(f"batch {batch_id} does not exist in ops.batch")
        cur.execute("""SELECT document_type, source, count(*) FROM staging.result_candidate
                       WHERE batch_id = %s GROUP BY 1, 2 ORDER BY 1, 2""", (batch_id,))
        groups = [(t, s, int(n)) for t, s, n in cur.fetchall()]
        cur.execute("""SELECT column_name, data_type FROM information_schema.columns
                       WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position""",
                    (STAGING_SCHEMA, STAGING_TABLE))
        columns = [(c, t) for c, t in cur.fetchall()]
        cur.execute("SELECT code FROM core.procedure ORDER BY code")
        codes = [c for (c,) in cur.fetchall()]
    return groups, columns, codes


def _select_suites(suites: dict, batch_id: int, groups) -> dict[str, tuple[str, int]]:
    """suite name -> (WHERE clause, row count): common always, then the types and sources present."""
    selected = {COMMON_SUITE: (f"batch_id = {batch_id}", sum(n for _, _, n in groups))}
    by_type: dict[str, int] = {}
    by_source: dict[str, int] = {}
    for doc_type, source, n in groups:
        if doc_type is not None:
            by_type[doc_type] = by_type.get(doc_type, 0) + n
        by_source[source] = by_source.get(source, 0) + n
    for doc_type, n in sorted(by_type.items()):
        if doc_type in suites and doc_type != COMMON_SUITE and _TYPE_SUITE.match(doc_type):
            selected[doc_type] = (f"batch_id = {batch_id} AND document_type = '{doc_type}'", n)
    for source, n in sorted(by_source.items()):
        name = SOURCE_PREFIX + source
        if name in suites and _SOURCE_NAME.match(source):
            selected[name] = (f"batch_id = {batch_id} AND source = '{source}'", n)
    return selected


def _select_list(columns: list[tuple[str, str]]) -> str:
    """The staging columns, with json/jsonb cast to text (GX compares them as strings)."""
    parts = []
    for name, data_type in columns:
        ident = '"' + name.replace('"', '""') + '"'
        parts.append(f"CAST({ident} AS text) AS {ident}" if data_type in ("json", "jsonb") else ident)
    return ", ".join(parts)


def _gx_connection(url: str) -> tuple[str, dict]:
    """A connection string add_postgres accepts, and the connect_args that complete it.

    GX's PostgresDsn wants a host in the URL, and reads `$...` in it as a config variable
    (escaping does not help): the socket folder (embedded server), the password, query
    options and any name with a `$` go through connect_args instead, so the URL carries
    neither a secret nor a `$`.
    """
    parsed = make_url(normalize_url(url))
    connect_args: dict[str, Any] = dict(parsed.query)
    if parsed.password:
        connect_args["password"] = parsed.password
    username, database = parsed.username, parsed.database
    if "$" in (username or ""):
        connect_args["user"], username = username, "postgres"  # PostgresDsn needs a user
    if "$" in (database or ""):
        connect_args["dbname"], database = database, "postgres"
    conn_url = URL.create(parsed.drivername, username=username, host=parsed.host or "localhost",
                          port=parsed.port, database=database)
    return conn_url.render_as_string(hide_password=False), connect_args


def _gx_context(docs_dir: Path):
    """An ephemeral context: suites and definitions in memory, Data Docs on disk."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # Owner only from the start: GX writes its files inside a folder no one else can enter.
    docs_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(docs_dir, 0o700)
    defaults = InMemoryStoreBackendDefaults()
    stores = dict(defaults.stores)
    stores["docs_validation_results_store"] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(docs_dir / DOCS_RESULTS_SUBDIR)},
    }
    config = DataContextConfig(
        store_backend_defaults=defaults,
        stores=stores,
        data_docs_sites={
            "local_site": {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                  "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                                       "validation_results_limit": DOCS_RESULTS_LIMIT},
                "site_section_builders": {
                    "validations": {"source_store_name": "docs_validation_results_store"},
                    "profiling": "None",
                },
            }
        },
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


@dataclass
class _SuiteRun:
    result: Any    # ExpectationSuiteValidationResult
    rows: int      # rows the suite applied to
    stored: dict   # JSON-safe result for ops.validation_result
    query: str     # the query asset's SQL (the suite's rows)


def _run_gx(url, batch_id, suites, selected, columns, parameters, docs_dir) -> dict[str, _SuiteRun]:
    """Run the selected suites in one Checkpoint, then build the Data Docs."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    started = time.monotonic()
    context = _gx_context(docs_dir)
    conn_str, connect_args = _gx_connection(url)
    datasource = context.data_sources.add_postgres(
        name=DATASOURCE_NAME, connection_string=conn_str,
        kwargs={"connect_args": connect_args} if connect_args else {})
    try:
        select_list = _select_list(columns)
        # Every suite goes into the context, so the Data Docs site documents all of them.
        added = {name: context.suites.add(suite) for name, suite in suites.items()}
        definitions = []
        queries = {}
        for name, (where, _) in selected.items():
            queries[name] = f"SELECT {select_list} FROM {STAGING_SCHEMA}.{STAGING_TABLE} WHERE {where}"
            asset = datasource.add_query_asset(name=f"batch_{batch_id}__{name}", query=queries[name])
            batch_definition = asset.add_batch_definition_whole_table(name="rows")
            definitions.append(context.validation_definitions.add(
                gx.ValidationDefinition(name=f"batch_{batch_id}__{name}", data=batch_definition,
                                        suite=added[name])))
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=f"tthc_batch_{batch_id}",
            validation_definitions=definitions,
            actions=[],
            # BASIC: counts and a sample of values. GX's unexpected_index_query is not used: it
            # inlines values with Python repr() (dates, backslashes) and leaves a query asset's SQL
            # unparenthesized, so it does not run; validate_batch selects the rows itself.
            result_format={
                "result_format": "BASIC",
                "unexpected_index_column_names": [INDEX_COLUMN],
                "partial_unexpected_count": PARTIAL_COUNT,
                "return_unexpected_index_query": False,
            },
        ))
        run_id = RunIdentifier(run_name=f"batch_{batch_id}", run_time=dt.datetime.now(dt.timezone.utc))
        checkpoint_result = checkpoint.run(expectation_parameters=parameters, run_id=run_id)
    finally:
        _dispose(datasource)

    by_suite = {r.suite_name: (key, r) for key, r in checkpoint_result.run_results.items()}
    runs = {name: _SuiteRun(result=by_suite[name][1], rows=selected[name][1],
                            stored=_serialized_result(context, *by_suite[name]), query=queries[name])
            for name in selected}
    gx_seconds = time.monotonic() - started
    started = time.monotonic()
    _build_docs(context, docs_dir, batch_id, {name: by_suite[name] for name in selected}, suites)
    _TIMINGS.update(checkpoint=round(gx_seconds, 2), data_docs=round(time.monotonic() - started, 2))
    log.debug("batch %s: GX %.1f s, Data Docs %.1f s", batch_id, gx_seconds, time.monotonic() - started)
    return runs


def _dispose(datasource) -> None:
    try:
        datasource.get_execution_engine().engine.dispose()
    except Exception:  # best effort: the engine may never have been created
        log.debug("could not dispose the GX engine", exc_info=True)


def _build_docs(context, docs_dir: Path, batch_id: int, results: dict, suites: dict) -> None:
    """Store a trimmed copy of this run's results for the site, prune, then build the site.

    The site keeps the DOCS_RESULTS_LIMIT most recent suite results: the batch's earlier
    runs and the oldest results go (GX then removes their pages, since its source store no
    longer has them), so building stays fast however many batches ran.
    """
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    store = context.stores["docs_validation_results_store"]
    run_name = f"batch_{batch_id}"
    others = []
    for key in store.list_keys():
        if key.run_id.run_name == run_name:
            store.remove_key(key)
        else:
            others.append(key)
    others.sort(key=lambda k: k.run_id.run_time, reverse=True)
    for key in others[max(DOCS_RESULTS_LIMIT - len(results), 0):]:
        store.remove_key(key)
    identifiers: list = [ExpectationSuiteIdentifier(name=name) for name in suites]
    for key, result in results.values():
        store.set(key, _trimmed_for_docs(result))
        identifiers.append(key)
    context.build_data_docs(resource_identifiers=identifiers)
    for folder in (docs_dir / "validations", docs_dir / DOCS_RESULTS_SUBDIR):
        _remove_empty_dirs(folder)
    make_offline(docs_dir)
    make_private(docs_dir)


def _remove_empty_dirs(root: Path) -> None:
    if not root.is_dir():
        return
    for path in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            path.rmdir()  # only succeeds when empty
        except OSError:
            pass


# --- results -------------------------------------------------------------------------


def _raised_exceptions(exception_info) -> list[str]:
    """Messages of the exceptions GX caught while evaluating one expectation.

    GX 1.x reports them either flat ({"raised_exception": True, "exception_message": ...})
    or per metric ({"MetricConfigurationID(...)": {"raised_exception": True, ...}}).
    """
    if not isinstance(exception_info, dict):
        return []
    infos = [exception_info] if "raised_exception" in exception_info else [
        v for v in exception_info.values() if isinstance(v, dict)]
    return [str(i.get("exception_message") or "unknown error") for i in infos if i.get("raised_exception")]


def _serialized_result(context, key, result) -> dict:
    """The GX result as JSON (GX's own serialization), for ops.validation_result.

    The in-memory results store already holds GX's JSON text of the result: parsing it
    back is much faster than a second `to_json_dict()` when many rows fail. The copy of
    the full id list in `partial_unexpected_index_list` is cut to PARTIAL_COUNT entries
    (the full list stays in `unexpected_index_list`).
    """
    doc = None
    store = context.validation_results_store
    try:
        raw = store.store_backend.get(store.key_to_tuple(key))
        if isinstance(raw, str):
            doc = json.loads(raw)
    except Exception:  # not stored under that key, or another backend: serialize again
        log.debug("no stored GX JSON for %s", key, exc_info=True)
    if not isinstance(doc, dict) or len(doc.get("results") or []) != len(result.results):
        doc = result.to_json_dict()
    for res in doc.get("results", []):
        r = res.get("result") or {}
        if isinstance(r.get("partial_unexpected_index_list"), list):
            r["partial_unexpected_index_list"] = r["partial_unexpected_index_list"][:PARTIAL_COUNT]
    return doc


def _trimmed_for_docs(result):
    """A copy for the Data Docs site with at most DOCS_INDEX_LIMIT failing ids per expectation, its
    values masked (tthc.data_docs): the site never holds a personal ID or birth date."""
    from great_expectations.core import ExpectationSuiteValidationResult

    trimmed = ExpectationSuiteValidationResult(
        success=result.success, results=[], suite_name=result.suite_name,
        suite_parameters=result.suite_parameters, statistics=result.statistics,
        meta=result.meta, batch_id=result.batch_id)
    limits = {"unexpected_index_list": DOCS_INDEX_LIMIT, "unexpected_list": DOCS_INDEX_LIMIT,
              "partial_unexpected_list": PARTIAL_COUNT, "partial_unexpected_counts": PARTIAL_COUNT,
              "partial_unexpected_index_list": PARTIAL_COUNT}
    for res in result.results:
        r = copy.copy(res)
        if res.result:
            r.result = mask_result({k: (v[:limits[k]] if k in limits and isinstance(v, list) else v)
                                    for k, v in res.result.items()}, res.expectation_config.kwargs)
        trimmed.results.append(r)
    return trimmed
