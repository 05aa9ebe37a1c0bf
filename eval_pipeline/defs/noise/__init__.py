"""Dagster layer of the noise stage: ``aa_noise_floor`` and ``review_queue``."""
