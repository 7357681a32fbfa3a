#!/bin/bash
# Runs once, when the postgres-data volume is empty (docker-entrypoint-initdb.d).
# The image has already created the superuser $POSTGRES_USER and the Airflow
# metadata database $POSTGRES_DB (airflow). This adds:
#   - $WAREHOUSE_USER: login role that owns the warehouse (used by `tthc migrate`,
#     WAREHOUSE_URL and the tthc_warehouse Airflow connection);
#   - database `warehouse`, UTF-8, owned by $WAREHOUSE_USER;
#   - `analyst`: a NOLOGIN group role placeholder. It may only connect; the
#     warehouse migrations decide what it may read (never core.holder_identity).
#     Give a person access with: CREATE ROLE alice LOGIN PASSWORD '...' IN ROLE analyst;
# To re-run it, remove the volume: docker compose down -v (this deletes all data).
set -e

: "${WAREHOUSE_USER:?WAREHOUSE_USER is not set}"
: "${WAREHOUSE_PASSWORD:?WAREHOUSE_PASSWORD is not set}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v wh_user="$WAREHOUSE_USER" -v wh_password="$WAREHOUSE_PASSWORD" <<'SQL'
CREATE ROLE :"wh_user" LOGIN PASSWORD :'wh_password';
CREATE DATABASE warehouse OWNER :"wh_user" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE warehouse FROM PUBLIC;

CREATE ROLE analyst NOLOGIN;
COMMENT ON ROLE analyst IS 'Read-only analysts of the TTHC warehouse (placeholder; grants come from the migrations)';
GRANT CONNECT ON DATABASE warehouse TO analyst;
SQL
