"""One loopback server that speaks every vendor's wire format: Anthropic Messages, OpenAI Chat
Completions, Bedrock Converse and the example app's ``/chat`` (the same answers, faults and counters
behind each; see the modules of the base classes)."""

from __future__ import annotations

from eval_pipeline_tests.support.servers.bedrock_server import BedrockTestServer
from eval_pipeline_tests.support.servers.http_app import SupportApp
from eval_pipeline_tests.support.servers.openai_server import OpenAITestServer


class VendorsServer(OpenAITestServer, BedrockTestServer, SupportApp):
    """``/v1/messages``, ``/v1/chat/completions``, ``/model/{id}/converse[-stream]`` and ``/chat``."""
