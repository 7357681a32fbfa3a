"""Reference data: administrative units and the 2025 crosswalk, agencies, procedures, plans."""
