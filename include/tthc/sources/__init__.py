"""Legacy sources as configuration: one YAML file per source in sources/ (TTHC_SOURCES_DIR)."""
