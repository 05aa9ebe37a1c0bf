"""Noise: the A/A noise floor and the human review queue.

In: repeated runs of one model version, judge and similarity scores, labelled review files.
Out: noise-floor tables, review items, labelled-review calibration metrics; `review_server` serves the
queue for labelling in a browser (`eval-pipeline review`). No Dagster here.
"""
