"""Noise: the A/A noise floor and the human review queue.

In: repeated runs of one model version, judge and similarity scores.
Out: noise-floor tables, review items; `review_server` serves the queue for labelling in a browser
(`eval-pipeline review`). The labelled files are read back by :mod:`eval_pipeline.ingestion.reviews` and
counted against the judge by :mod:`eval_pipeline.evaluators.review_calibration`. No Dagster here.
"""
