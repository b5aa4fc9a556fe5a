"""Pipeline logic the Dagster assets call: one day's tables from the landing zone, quality rules, metadata.

No Dagster here (``defs/`` wires these functions); ``sacct/`` does the parsing.
"""
