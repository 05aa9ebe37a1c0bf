"""Dagster layer of the release stage: ``release_approval``."""
