"""Dagster layer of the evaluators stage: the three score assets (``assets.py``) and the two calibrations (``calibration.py``)."""
