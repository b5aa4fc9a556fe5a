"""The push-mode receiver (FastAPI). Never imports Dagster."""
