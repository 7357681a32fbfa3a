"""The typed configuration of the project: the runtime settings (environment) and the models of
every YAML file (sources, drop zones, alerts, reports, seeds, scan-field rules). Each loader
validates its file with the model here; errors name the file, the key and the allowed values
(tthc.config.errors); docs/schemas/ holds the JSON Schemas generated from the models.
"""

from tthc.config.errors import ConfigError  # noqa: F401
