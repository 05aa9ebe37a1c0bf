"""Ingestion: golden sets (JSONL, CSV, Parquet) read, validated loudly and sampled.

In: the files an eval set names. Out: the ``golden`` table (one row per sample). No Dagster here.
"""
