"""``python -m eval_pipeline_tests.support.servers.anthropic_server``: serve until killed (``--help``)."""

from eval_pipeline_tests.support.servers.anthropic_server.server import main

main()
