"""A synthetic, Anthropic-compatible model server for trying a suite with no API key and no network.

``eval-pipeline serve-model`` (:mod:`eval_pipeline.commands.serve_model`) runs
:class:`~eval_pipeline.mock_server.app.SyntheticServer` on 127.0.0.1: it answers from an answer key
built from your golden sets (:mod:`.answers`), right with a chosen accuracy per model id, after a chosen
latency. Runs point at it with ``EVAL_PROVIDER=synthetic`` and ``ANTHROPIC_BASE_URL``; every answer is
labelled ``synthetic`` (``NOT LIVE``) wherever a run is shown. (The project's test server,
``eval_pipeline_tests/support/servers/anthropic_server/``, scripts faults and agents on top of the same idea;
it is not installed for users.) No Dagster here.
"""
