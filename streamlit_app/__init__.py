"""The Streamlit dashboard: reads the materialized warehouse tables only (DESIGN.md "Streamlit")."""
