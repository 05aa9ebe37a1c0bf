"""The Anthropic test server: the Messages API and Message Batches over the scripted model.

In: a :class:`ServerConfig` (and optionally a responder / judge hook), a port (0: any free one).
Out: :class:`AnthropicTestServer`, the class every vendor's test server subclasses; :func:`main`, its CLI.
"""

from __future__ import annotations

from eval_pipeline_tests.support.servers.anthropic_server.batches import BatchesAPI
from eval_pipeline_tests.support.servers.anthropic_server.process import parse_args, serve


class AnthropicTestServer(BatchesAPI):
    """``/v1/messages`` and ``/v1/messages/batches`` on 127.0.0.1. ``start()`` runs it in a background thread;
    ``serve_forever()`` in the current one."""

    label = "anthropic-test-server"  # announced by serve_forever; each vendor server names itself


def main(argv: list[str] | None = None) -> None:
    """CLI entry point: serve until killed."""
    cfg, port = parse_args(argv)
    serve(AnthropicTestServer(cfg, port=port))
