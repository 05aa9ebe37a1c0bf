"""Record the demo's *synthetic* responses into ``data/recordings/`` (response-store shards).

    python -m eval_pipeline_tests.support.servers.record_demo

Runs the real inference path (AnthropicProvider -> official SDK -> HTTP) against the project's
Anthropic-compatible test server on 127.0.0.1, with a scripted responder that plays two model
versions of the demo suite: the production version answers well, the candidate regresses on
intent routing. The judge and the judge calibration are scripted too (a noisy copy of the human
labels). None of this text comes from a real model: it exists so the demo runs with no API key.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from eval_pipeline import scoring
from eval_pipeline.demo.calendar import CANDIDATE_DATES, DEMO_DATES  # noqa: E402  (the recorded window)
from eval_pipeline.evaluators import calibration
from eval_pipeline.inference.anthropic_provider import AnthropicProvider
from eval_pipeline.inference.prompts import build_requests
from eval_pipeline.inference.runner import run_requests
from eval_pipeline.inference.store import ResponseStore
from eval_pipeline.ingestion.golden import decode_golden, golden_frame, read_golden_set, sample_in_file_order
from eval_pipeline.project.hashing import unit_interval
from eval_pipeline.project.loader import load_project
from eval_pipeline_tests.support.servers.anthropic_server import (
    Answer,
    AnthropicTestServer,
    ServerConfig,
    wire_name,
)

GENERIC = "Thanks for your question. Please check the official guidance of your local health authority for the latest information."
# Per provider model id: (intent accuracy, extraction accuracy, FAQ off-topic rate)
PROFILES = {
    "claude-haiku-4-5": (0.92, 0.80, 0.08),
    "claude-3-5-haiku-latest": (0.74, 0.72, 0.18),
}


def _u(*parts) -> float:
    return unit_interval("|".join(map(str, parts)))


class DemoResponder:
    """Scripted answers keyed by the golden inputs (the expected answer is looked up, then perturbed)."""

    def __init__(self, golden: pd.DataFrame, calib_dir: Path):
        self.intent = {}
        self.extract = {}
        self.faq = {}
        self.tool_rows: dict[str, list] = {}  # last user turn -> BFCL expected calls
        self.next_turn: dict[str, str] = {}  # last user turn -> the human reply
        for r in golden.itertuples(index=False):
            if r.eval_set == "intent_routing":
                self.intent[r.input] = r.expected
            elif r.eval_set == "slot_extraction":
                self.extract[r.input] = r.expected
            elif r.eval_set == "tool_calls":
                self.tool_rows[r.input["messages"][-1]["content"].strip()] = r.expected
            elif r.eval_set == "next_turn":
                self.next_turn[r.input["messages"][-1]["content"].strip()] = r.expected
            else:
                self.faq[r.input] = r.expected
        self.labels = sorted(set(self.intent.values()))
        self.ratings = {}
        for line in (calib_dir / "sf_dialogue_nlg_ratings.jsonl").read_text().splitlines():
            rec = json.loads(line)
            self.ratings[rec["input"]["system_output"].strip()] = rec["expected"]
        self.seen: dict[str, int] = {}
        self.pairs = []
        for name in ("llmbar_pairwise.jsonl", "human_preference_pairwise.jsonl"):
            for line in (calib_dir / name).read_text().splitlines():
                rec = json.loads(line)
                self.pairs.append(
                    (rec["input"]["output_1"].strip(), rec["input"]["output_2"].strip(), int(rec["expected"]))
                )

    # -- the system under test
    def __call__(self, body: dict) -> Answer | None:
        if body.get("tools") and (body.get("tool_choice") or {}).get("name"):
            return Answer(tool_input=self.judge(body), tool_name=body["tools"][0]["name"])
        model = body["model"]
        acc_intent, acc_extract, offtopic = PROFILES.get(model, (0.9, 0.8, 0.1))
        text = body["messages"][-1]["content"]
        base_seed = json.dumps([model, body.get("system"), text])
        if body.get("tools") or text.strip() in self.next_turn:
            self.seen[base_seed] = self.seen.get(base_seed, 0) + 1
            seed = f"{base_seed}#{self.seen[base_seed]}"
            return (
                self.tool_call(body, text.strip(), seed)
                if body.get("tools")
                else self.reply(text.strip(), seed)
            )
        # The same request on another day gets another draw (a hosted model is not deterministic).
        self.seen[base_seed] = self.seen.get(base_seed, 0) + 1
        seed = f"{base_seed}#{self.seen[base_seed]}"
        for inp, label in self.intent.items():
            if (
                text.endswith(f"Message: {inp}\n  Intent:")
                or text.endswith(inp)
                or f"Message: {inp}\nIntent:" in text
            ):
                if _u(seed, "i") < acc_intent:
                    return Answer(text=label)
                wrong = [x for x in self.labels if x != label]
                return Answer(text=wrong[int(_u(seed, "w") * len(wrong))])
        msg = text.removeprefix("Message: ").strip()
        if msg in self.extract:
            gold = json.loads(json.dumps(self.extract[msg]))
            if _u(seed, "x") >= acc_extract:
                if gold["slots"] and _u(seed, "s") < 0.5:
                    gold["slots"].pop(sorted(gold["slots"])[0])
                elif gold["intents"]:
                    gold["intents"] = gold["intents"][:-1]
            return Answer(text=json.dumps(gold))
        if text.strip() in self.faq:
            if _u(seed, "f") < offtopic:
                return Answer(text=GENERIC)
            ref = self.faq[text.strip()]
            sentences = re.split(r"(?<=[.!?])\s+", ref.strip())
            keep = 2 if _u(seed, "k") < 0.5 else 3
            return Answer(text=" ".join(sentences[:keep]))
        return None

    # -- tool calls (BFCL rows) and next turns (Topical-Chat): the expected call / the human reply,
    # perturbed with the model's profile
    def tool_call(self, body: dict, text: str, seed: str) -> Answer:
        offered = [t["name"] for t in body["tools"]]
        expected = self.tool_rows.get(text)
        if expected is None:
            return Answer(text="I can't find a tool for that.")
        calls = []
        for exp in expected:
            ((name, args),) = exp.items()
            calls.append({"name": name, "input": {a: _pick(v) for a, v in args.items() if _pick(v) != ""}})
        u = _u(seed, "t")
        if u >= TOOL_ACCURACY:
            if u < (1 + TOOL_ACCURACY) / 2 and calls[0]["input"]:  # a required value wrong
                arg = sorted(calls[0]["input"])[0]
                calls[0]["input"][arg] = "unknown"
            else:  # another tool
                right = wire_name(calls[0]["name"], offered)
                calls[0]["name"] = next((n for n in offered if n != right), right)
        return Answer(
            tool_calls=[{"name": wire_name(c["name"], offered), "input": c["input"]} for c in calls]
        )

    def reply(self, text: str, seed: str) -> Answer:
        ref = self.next_turn[text]
        if _u(seed, "n") < 0.2:
            return Answer(text="that's interesting, tell me more about it!")
        words = ref.split()
        return Answer(text=" ".join(words[: max(3, int(len(words) * 0.8))]))

    # -- the judge
    def judge(self, body: dict) -> dict:
        schema = body["tools"][0]["input_schema"]["properties"]
        text = body["messages"][-1]["content"]
        # Like a model sampled at temperature > 0, repeats of the same request get different draws.
        base_seed = json.dumps(body["messages"]) + str(body.get("temperature"))
        self.seen[base_seed] = self.seen.get(base_seed, 0) + 1
        seed = f"{base_seed}#{self.seen[base_seed]}"
        if "winner" in schema:
            a = _section(text, "Answer A")
            for o1, o2, label in self.pairs:
                if a in (o1, o2):
                    better_is_a = (label == 1) == (a == o1)
                    right = _u(seed, "p") < 0.82
                    if _u(seed, "t") < 0.05:
                        return {"reasoning": "Synthetic judge: the answers are equivalent.", "winner": "tie"}
                    winner = "A" if better_is_a == right else "B"
                    return {
                        "reasoning": f"Synthetic judge: answer {winner} follows the instruction better.",
                        "winner": winner,
                    }
            return {"reasoning": "Synthetic judge: no preference.", "winner": "tie"}
        dims = [k for k in schema if k != "reasoning"]
        response = _section(text, "Response to evaluate")
        out = {"reasoning": "Synthetic judge verdict."}
        human = self.ratings.get(response)
        for d in dims:
            lo, hi = schema[d].get("minimum", 1), schema[d].get("maximum", 5)
            if human is not None and d in human:
                base = float(human[d])
            elif response == GENERIC:
                base = lo + 1.0
            else:
                base = hi - 0.4
            noise = _u(seed, d)
            shift = -1 if noise < 0.15 else (1 if noise > 0.9 else 0)
            out[d] = int(min(hi, max(lo, int(base + 0.5) + shift)))
        return out


TOOL_ACCURACY = 0.85  # share of BFCL rows answered with the expected call (both versions)


def _pick(acceptable):
    """The first non-empty acceptable value of a BFCL argument (objects made concrete)."""
    acceptable = acceptable if isinstance(acceptable, list) else [acceptable]
    value = next((v for v in acceptable if v != ""), "")
    if isinstance(value, dict):
        return {k: _pick(v) for k, v in value.items() if _pick(v) != ""}
    return value


def _section(text: str, title: str) -> str:
    m = re.search(rf"## {re.escape(title)}\n(.*?)(?:\n\n## |\Z)", text, re.S)
    return m.group(1).strip() if m else ""


def record(
    out_dir: Path,
    calibration_n: int = 50,
    only: set[str] | None = None,
    shard: str = "responses-demo-recordings.jsonl",
) -> dict:
    """Record every eval set (and the judge calibration) into ``out_dir/shard``, replacing every
    shard there; with ``only`` (eval set names), record just those into ``shard`` and leave the
    other shards alone (e.g. ``--only tool_calls,next_turn --shard responses-demo-tools.jsonl``)."""
    project = load_project()
    frames = []
    for suite in project.suites.values():
        for es in suite.eval_sets:
            recs = read_golden_set(
                es.source_path, es.file_format, es.fields, es.needs_expected, es.max_record_bytes
            )
            picked = sample_in_file_order(
                recs, es.sample.n if es.sample else None, es.sample.seed if es.sample else 0
            )
            frames.append(
                golden_frame(suite.name, es.name, picked, str(es.source_path.relative_to(project.base)))
            )
    golden = decode_golden(pd.concat(frames, ignore_index=True))
    responder = DemoResponder(golden, project.base / "calibration")
    server = AnthropicTestServer(ServerConfig(api_key="record-key", latency_s=0.0), responder=responder)
    server.start()
    tmp = Path(tempfile.mkdtemp(prefix="record-demo-"))
    counts = {}
    try:
        store = ResponseStore(tmp)
        provider = AnthropicProvider(
            "record-key", base_url=server.base_url, max_concurrency=32, prices=project.registry.price_table()
        )

        def execute(reqs):
            return run_requests(provider, reqs, store)

        for mv in project.registry.models:
            dates = DEMO_DATES if mv.production else CANDIDATE_DATES
            for date in dates:
                requests, plan = [], []
                for s in mv.suites:
                    suite = project.suites[s]
                    for es in suite.eval_sets:
                        if only is not None and es.name not in only:
                            continue
                        g = golden[(golden["suite"] == suite.name) & (golden["eval_set"] == es.name)]
                        reqs = build_requests(g, suite, es, mv, date)
                        plan.append((suite.name, es.name, len(reqs)))
                        requests.extend(reqs)
                responses = execute(requests)
                rows, i = [], 0
                for suite_name, es_name, n in plan:
                    for r in responses[i : i + n]:
                        rows.append({**r.to_row(), "suite": suite_name, "eval_set": es_name})
                    i += n
                if only is None:
                    graded = scoring.graded_samples(golden, pd.DataFrame(rows))
                    scoring.score_judge_family(project, mv, graded, date, mv.key, execute)
                counts[f"{mv.name}@{date}"] = len(responses)
        cal_dir = project.base / "calibration"
        for suite in project.suites.values() if only is None else ():
            for es in suite.eval_sets:
                if es.family == "judge":
                    cfg = es.judge_config
                    res = calibration.run_calibration(
                        execute,
                        cfg,
                        [
                            cal_dir / "sf_dialogue_nlg_ratings.jsonl",
                            cal_dir / "llmbar_pairwise.jsonl",
                            cal_dir / "human_preference_pairwise.jsonl",
                        ],
                        n=calibration_n,
                        seed=0,
                        data_dir=cal_dir,
                    )
                    counts["calibration"] = {
                        k: {m: round(v, 3) for m, v in d.items() if isinstance(v, float)}
                        for k, d in res.metrics.items()
                    }
        store.close() if hasattr(store, "close") else None
        # One deterministic shard, sorted by key, so re-recording gives a reviewable diff.
        lines = []
        for part in sorted(tmp.glob("responses-*.jsonl")):
            lines.extend(x for x in part.read_text().splitlines() if x.strip())
        # Scripted answers: marked synthetic, so no reader ever mistakes them for live ones.
        lines = [
            json.dumps(
                {**json.loads(x), "provenance": "synthetic"}, ensure_ascii=False, separators=(",", ":")
            )
            for x in lines
        ]
        lines.sort(key=lambda x: json.loads(x)["cache_key"])
        out_dir.mkdir(parents=True, exist_ok=True)
        for old in out_dir.glob("responses-*.jsonl") if only is None else [out_dir / shard]:
            old.unlink(missing_ok=True)
        (out_dir / shard).write_text("\n".join(lines) + "\n")
        counts["stored"] = len(lines)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[3] / "data" / "recordings"))
    ap.add_argument("--calibration-n", type=int, default=50)
    ap.add_argument("--only", default=None, help="comma-separated eval set names: record only these")
    ap.add_argument(
        "--shard", default="responses-demo-recordings.jsonl", help="file name of the written shard"
    )
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    print(json.dumps(record(Path(args.out), args.calibration_n, only, args.shard), indent=2))


if __name__ == "__main__":
    main()
