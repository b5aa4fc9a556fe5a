"""Pull mode: run the agent on a cluster's login node over SSH and land its drops (docs/PIPELINE.md)."""
