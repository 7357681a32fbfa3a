"""Every runtime setting, read from the environment in one place: tthc.config.settings.

The README's "Settings" table documents each variable; keep the two in sync.
"""

from tthc.config.settings import LOCAL_TZ, TIMEZONE, AppSettings, ScanLimits, Settings, settings  # noqa: F401
