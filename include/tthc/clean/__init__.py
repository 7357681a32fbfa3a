"""Cleaning rules for legacy values: dates, names, identifiers. Pure functions; errors name the value."""
