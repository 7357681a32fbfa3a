"""The lookup, statistics and sharing application (tra cứu – thống kê – chia sẻ).

One FastAPI application, run standalone (`tthc serve`) or mounted in the Airflow api-server by
the plugin in plugins/. It enforces its own authentication. See docs/app.md.
"""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from tthc.app.main import create_app

        return create_app
    raise AttributeError(name)
