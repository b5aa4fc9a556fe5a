"""Reports built from the daily tables (monthly_reports)."""
