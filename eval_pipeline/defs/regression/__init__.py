"""Dagster layer of the regression stage: ``regression_report`` with its ``no_significant_regression`` check."""
