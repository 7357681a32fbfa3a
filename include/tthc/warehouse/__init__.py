"""The PostgreSQL warehouse: server discovery, connections and migrations."""
