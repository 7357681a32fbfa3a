"""Every runtime setting, read from the environment in one place: tthc.config.settings.

The README's "Settings" table documents each variable; keep the two in sync.
"""

from tthc.config.settings import (  # noqa: F401
    LOCAL_TZ, MIN_SECRET_LENGTH, TIMEZONE, AppSettings, MissingSecretError, ScanLimits, Settings,
    check_holder_key_secret, require_holder_key_secret, settings)
