"""Evaluators: turn graded samples (responses joined with golden rows) into long-format score rows.

One folder per family, each a plain-Python layer (no dagster) with a ``family.py`` that registers it in
:mod:`eval_pipeline.evaluators.family` (the protocol and the registry; adding a family is one folder):

* :mod:`eval_pipeline.evaluators.deterministic`: configurable checks (valid JSON, JSON Schema,
  label in set, exact match, regex, forbidden phrases, contains, length, ROUGE-L/BLEU, custom).
* :mod:`eval_pipeline.evaluators.similarity`: sentence-embedding cosine against a reference
  (embeddings and their on-disk cache in ``embeddings.py``, threshold calibration in
  ``similarity_calibration.py``).
* :mod:`eval_pipeline.evaluators.metrics`: eval-set metrics over score rows (pass rate with a
  Wilson interval, accuracy / macro-F1, pass@k, ECE, ROUGE-L, BLEU, top failures).
* :mod:`eval_pipeline.evaluators.judge`: LLM-as-judge family (``calibration.py``: may its thresholds block;
  ``calibration_policy.py``: that decision for one eval set from the stored calibration).

Every family returns a DataFrame with exactly :data:`eval_pipeline.project.schemas.SCORE_COLUMNS`.
Submodules are imported explicitly (this package imports nothing heavy on its own).
"""
