"""Pure sacct parsing, validation and usage rules: no I/O, no Dagster, no environment."""
