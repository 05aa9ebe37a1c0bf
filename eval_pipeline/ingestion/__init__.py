"""Ingestion: golden sets (JSONL, CSV, Parquet) read, validated loudly and sampled; labelled review files read back.

In: the files an eval set names; the labelled review files of the review loop. Out: the ``golden`` table (one
row per sample); rating and preference rows of the human labels (``reviews.py``). No Dagster here.
"""
