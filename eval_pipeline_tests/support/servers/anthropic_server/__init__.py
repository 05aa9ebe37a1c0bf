"""Anthropic-compatible test server (``POST /v1/messages``) with latency, faults and scripted answers.

Used by the inference tests (in a background thread) and by the benchmarks / demo (as a separate
process, so it does not compete with the client for the GIL):

    python -m eval_pipeline_tests.support.servers.anthropic_server --port 0 --latency 0.25 \
        --fault rate_limit=0.1 --fault overloaded=0.05 --retry-after 1

What it implements
------------------
* ``POST /v1/messages``, non-streaming and streaming (the documented SSE sequence: ``message_start``,
  ``content_block_start``, ``ping``, ``content_block_delta`` (``text_delta`` / ``input_json_delta``),
  ``content_block_stop``, ``message_delta`` (stop_reason + usage), ``message_stop``), usage fields,
  a ``request-id`` header, ``x-api-key`` (or ``Authorization: Bearer``, which SDK 2.x sends) checked
  against the configured key (401 otherwise).
* Latency: fixed or lognormal total latency; ``ttft_fraction`` of it passes before the first token.
* Faults (by probability, by a global script, or by a per-input script keyed by a substring of the
  user message): ``rate_limit`` (429 + ``retry-after`` / ``retry-after-ms``), ``overloaded`` (529),
  ``server_error`` (500), ``slow`` (sleeps ``slow_s`` before answering), ``drop`` (connection closed
  without a response), ``malformed`` (200 with a broken JSON body / SSE event), ``malformed_tool``
  (tool_use input that violates the tool's schema), ``refusal`` (stop_reason ``refusal``).
* Answers: a pluggable ``responder(request_json) -> Answer | str | dict | None``; the default one is
  deterministic in the input and models a *good* and a *degraded* model (name contains "degraded"):
  with an answer key (substring of the user message -> expected answer) the good model answers
  correctly with probability 0.95, the degraded one 0.6; a wrong answer is another label listed in
  the prompt. Requests with ``tools`` get a ``tool_use`` block whose input fits the tool's
  ``input_schema`` (override with ``judge_hook(request_json) -> dict``; scripted judges - length-preferring,
  quality-driven, contrarian, noisy copy of human labels - are in ``support/servers/scripted_judges.py``:
  ``judge_hook=scripted_judge`` dispatches on the judge model id).
* Prompt cache: ``cache_control`` breakpoints (on tools, system blocks or message text blocks) mark
  prefixes; a request whose longest marked prefix was seen before (same model) reports it as
  ``cache_read_input_tokens``, else as ``cache_creation_input_tokens`` (4 characters per token),
  and a hit's TTFT is ``cache_hit_ttft_factor`` of a miss's.
* Message Batches: ``POST /v1/messages/batches`` (create), ``GET .../{id}`` (retrieve),
  ``GET .../{id}/results`` (JSONL), ``POST .../{id}/cancel``. A batch ends ``batch_delay_s`` after
  creation; per-request outcomes are scripted by ``batch_outcome_by_match`` (substring of the user
  message -> outcome per submission: ``errored`` / ``errored_invalid`` / ``expired`` / ``canceled`` /
  None = succeeded). Counted in ``stats()["batches_created"]`` / ``["batch_requests"]``; every batches
  call (rejected ones too) in ``["batch_calls"]``. A wrong key gets 401 on each batches endpoint.
* Request counting (total, by model, by status, by fault): ``server.stats()`` in-process or
  ``GET /_admin/stats`` across processes; ``POST /_admin/reset``; ``POST /_admin/config`` patches
  the configuration (JSON of :class:`ServerConfig` fields).

Modules
-------
``config`` (:class:`ServerConfig`, :class:`Answer`), ``answers`` (the scripted model), ``prompt_cache``,
``core`` (lifecycle, counters, admin routes, and the request steps every vendor's server shares),
``messages``, ``batches``, ``server`` (:class:`AnthropicTestServer`), ``process`` (subprocess and remote control,
the CLI's flags).
"""

from eval_pipeline_tests.support.servers.anthropic_server.answers import (
    DefaultResponder,
    user_text,
    wire_name,
)
from eval_pipeline_tests.support.servers.anthropic_server.config import (
    DEGRADED_ACCURACY,
    FAULTS,
    GOOD_ACCURACY,
    REFUSAL_TEXT,
    Answer,
    ServerConfig,
)
from eval_pipeline_tests.support.servers.anthropic_server.process import (
    ServerProcess,
    parse_args,
    remote_configure,
    remote_reset,
    remote_stats,
    serve,
)
from eval_pipeline_tests.support.servers.anthropic_server.server import AnthropicTestServer, main

__all__ = [
    "DEGRADED_ACCURACY",
    "FAULTS",
    "GOOD_ACCURACY",
    "REFUSAL_TEXT",
    "Answer",
    "AnthropicTestServer",
    "DefaultResponder",
    "ServerConfig",
    "ServerProcess",
    "main",
    "parse_args",
    "remote_configure",
    "remote_reset",
    "remote_stats",
    "serve",
    "user_text",
    "wire_name",
]
