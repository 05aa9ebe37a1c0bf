"""Online monitoring of production traffic (plain Python; the Dagster assets live in ``defs/``).

Stages, one module each, in the order a daily run uses them:

1. :mod:`.schema`    - log schema (``TrafficRecord``) and stored-sample columns.
2. :mod:`.traffic`   - ``read_traffic_day(prefix, day) -> (frame, errors)``; malformed lines reported.
3. :mod:`.sampling`  - deterministic hash sampling + ``build_stored_sample`` (hashes + redacted text).
   :mod:`.pii`       - vectorized PII redaction (email, phone, Luhn-checked cards, IPv4/IPv6, extras).
4. :mod:`.profile`   - latency/TTFT percentiles by template and input-length bucket, failure modes.
5. :mod:`.feedback`  - behavioural metrics with Wilson intervals, ``AlertThresholds``, ``evaluate_thresholds``.
6. :mod:`.drift`     - PSI/KL for input length, category mix, embedding clusters; drift-vs-quality report.
7. :mod:`.shadow`    - candidate-vs-production pairs for the pairwise judge; win rates per category.
8. :mod:`.synthetic` - labelled synthetic traffic (demo/tests/benchmark).
:mod:`.daily` chains 2-5 for one day (``process_day``).
"""
