"""Airflow plugin: mounts the lookup/statistics application (tthc.app) in the api-server at /tthc and
adds "Tra cứu – Thống kê" to the Airflow UI's navigation (Airflow >= 3.1).

Airflow's own login does not protect plugin endpoints: the application enforces its own accounts,
roles and scoping on every endpoint except /tthc/api/v1/health. It connects to the warehouse as
TTHC_APP_DATABASE_URL (a login of role tthc_app) or provisions tthc_app_login; see docs/app.md.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from tthc.app.main import create_app

URL_PREFIX = "/tthc"
TITLE = "Tra cứu – Thống kê"


class TthcAppPlugin(AirflowPlugin):
    name = "tthc_app"
    # The database pool opens on the first request, not at import: importing the plugin stays cheap.
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": TITLE}]
    external_views = [{
        "name": TITLE,
        "href": URL_PREFIX.lstrip("/") + "/tra-cuu",   # relative: works behind a proxy path as well
        "destination": "nav",
        "url_route": "tra-cuu-thong-ke",
        "category": "browse",
    }]
