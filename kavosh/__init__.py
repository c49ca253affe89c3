"""The ``kavosh`` command: one entry point for building, updating, searching, serving and evaluating."""
