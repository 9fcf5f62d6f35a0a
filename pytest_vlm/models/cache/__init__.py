"""The result cache: a SQLite store and the model wrapper that serves and records answers through it."""
