"""The inputs of ``nightly_demo``'s CLI-vs-bare measurement (``cli_wall_vs_bare``).

In: a scratch folder, a sample count, the test server's URL and key, the concurrency.
Out: the benchmark's suite folder (``n`` routing samples, one deterministic eval set, one Anthropic model
version ``claude-bench``), the test server's answer key (intents that fit ``max_tokens``), the environment of the timed ``eval-pipeline run`` (and of the bare script), and the
bare SDK script itself (``BARE``: import anthropic, ``n`` streaming requests through an ``asyncio.Semaphore``).
"""

from __future__ import annotations

import os
from pathlib import Path

LABELS = ["card_arrival", "lost_or_stolen_card", "exchange_rate", "top_up_failed"]


def answer_key(n: int) -> dict[str, str]:
    """The test server's answer key for the ``n`` samples (message substring -> expected intent), so its
    answers are intents that fit ``max_tokens: 16`` (right at the server's default accuracy, else another
    intent) and the run scores real passes and failures; without it the server answers a long synthetic
    sentence, every answer is cut at max_tokens and counts as an error."""
    return {f"ticket {i}:": LABELS[i % 4] for i in range(n)}


def write_cli_suite(work: Path, n: int) -> Path:
    """The benchmark's suite folder under ``work``: ``n`` intent-routing samples, one deterministic eval set,
    one Anthropic model version (``claude-bench``); returns the data folder (EVAL_DATA_DIR)."""
    import json

    import yaml

    data = work / "cli-data"
    for sub in ("golden", "prompts", "suites"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    with (data / "golden" / "intents.jsonl").open("w") as f:
        for i in range(n):
            f.write(
                json.dumps(
                    {"id": f"s{i:04d}", "input": f"ticket {i}: where is my card", "expected": LABELS[i % 4]}
                )
                + "\n"
            )
    (data / "prompts" / "route.yaml").write_text(
        yaml.safe_dump(
            {
                "system": "Route the message. Reply with the intent only.",
                "user": "Intents: {{ labels | join(', ') }}\nMessage: {{ input }}",
            }
        )
    )
    (data / "suites" / "bench.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "bench",
                "eval_sets": [
                    {
                        "name": "routing",
                        "family": "deterministic",
                        "task": "classify_intent",
                        "source": "golden/intents.jsonl",
                        "checks": [{"type": "exact_match", "normalize": ["strip", "lower"]}],
                        "thresholds": [{"metric": "pass_rate", "min": 0.0}],
                    }
                ],
            }
        )
    )
    (data / "models.yaml").write_text(
        yaml.safe_dump(
            {
                "models": [
                    {
                        "name": "bench-bot",
                        "provider": "anthropic",
                        "model": "claude-bench",
                        "params": {"max_tokens": 16},
                        "prompts": {"classify_intent": "prompts/route.yaml"},
                        "suites": ["bench"],
                        "nightly": True,
                        "production": True,
                    }
                ],
                "pricing": {"claude-bench": {"input": 1.0, "output": 5.0}},
            }
        )
    )
    return data


def cli_env(work: Path, data: Path, home: Path, base_url: str, key: str, concurrency: int) -> dict[str, str]:
    """The environment of the timed ``eval-pipeline run`` (and of the bare script)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "EVAL_"))},
        "DAGSTER_HOME": str(home),
        "EVAL_DATA_DIR": str(data),
        "EVAL_WAREHOUSE_URL": str(work / "cli-wh"),
        "EVAL_PROVIDER": "anthropic",
        "ANTHROPIC_API_KEY": key,
        "ANTHROPIC_BASE_URL": base_url,
        "EVAL_MAX_CONCURRENCY": str(concurrency),
    }


BARE = """
import asyncio, sys
import anthropic
url, key, n, c = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
async def main():
    client = anthropic.AsyncAnthropic(api_key=key, base_url=url, max_retries=0, http_client=anthropic.DefaultAioHttpClient())
    sem = asyncio.Semaphore(c)
    async def one(i):
        async with sem:
            stream = await client.messages.create(model="claude-bench", max_tokens=16, stream=True,
                system="Route the message. Reply with the intent only.",
                messages=[{"role": "user", "content": f"Intents: card_arrival, exchange_rate, lost_or_stolen_card, top_up_failed\\nMessage: ticket {i}: where is my card"}])
            async for _ in stream:
                pass
    await asyncio.gather(*(one(i) for i in range(n)))
    await client.close()
asyncio.run(main())
"""
