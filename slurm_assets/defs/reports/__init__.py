"""Monthly reports (CSV + PDF) per cluster and account."""
