"""ModelAPIProvider: the base of the three providers that call a model API through its SDK (Anthropic,
OpenAI, Bedrock).

In: the options every model API's provider takes - ``stream`` (True measures time to first token),
``connect_timeout_s``, ``default_max_tokens`` (the ``max_tokens`` of a request whose params have
none) - and the flow-control arguments of :class:`~eval_pipeline.inference.live.LiveProvider`.
Out: the provider holds them; each subclass reads its API's answer into a
:class:`~eval_pipeline.inference.live.WireAnswer`.
"""

from __future__ import annotations

from typing import Any

from eval_pipeline.inference.live import LiveProvider


class ModelAPIProvider(LiveProvider):
    """A model API's provider: streaming or not, the connect timeout, the default ``max_tokens``;
    the rest is :class:`~eval_pipeline.inference.live.LiveProvider`'s."""

    def __init__(
        self,
        *,
        stream: bool = True,
        connect_timeout_s: float = 10.0,
        default_max_tokens: int = 1024,
        **flow: Any,
    ):
        super().__init__(**flow)
        self.stream = stream
        self.connect_timeout_s = connect_timeout_s
        self.default_max_tokens = default_max_tokens
