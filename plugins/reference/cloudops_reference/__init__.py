"""cloudops-reference: the smallest complete server-group provider, its cloud a SQLite file."""
