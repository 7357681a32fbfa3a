#!/bin/bash
# Runs once, when the postgres-data volume is empty (docker-entrypoint-initdb.d), after
# 10-warehouse.sh. The application's least-privilege database role (docs/app.md):
#   - tthc_app: NOLOGIN group role; the warehouse migration V027 grants it what the app reads;
#   - tthc_app_login: the login the tthc-app service and the api-server plugin use.
# The warehouse owner cannot create roles, so they are made here by the superuser.
set -e

: "${TTHC_APP_DB_PASSWORD:?TTHC_APP_DB_PASSWORD is not set}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v app_password="$TTHC_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE tthc_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
CREATE ROLE tthc_app_login LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT IN ROLE tthc_app;
GRANT CONNECT ON DATABASE warehouse TO tthc_app;
SQL
