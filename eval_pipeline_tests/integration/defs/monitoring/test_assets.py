"""The online-monitoring assets through Dagster: four synthetic days in a temp warehouse.

Days (SYNTHETIC traffic, written outside the warehouse through ``EVAL_TRAFFIC_PREFIX``):

====  ==========================  ==================================  ===================
day   distribution                thumbs-down rate (warn 10%, crit 40%)  extras
====  ==========================  ==================================  ===================
D1    base                        ~5%  (ok)                           first day: no reference
D2    base (resample)             ~25% (warn, not yet sustained)
D3    base (resample)             ~25% (warn, sustained: 2 of 3)      PII of every kind, malformed lines
D4    drifted categories/length   ~75% (critical)                     drift
====  ==========================  ==================================  ===================

Embeddings use the hashing embedder (``EVAL_MONITORING_EMBEDDER=hashing``) to stay fast.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import yaml

from eval_pipeline.defs.resources import (
    EmbeddingResource,
    EvalConfigResource,
    LLMResource,
    WarehouseResource,
    project_resource,
)
from eval_pipeline.demo.synthetic_traffic import FeedbackRates, PiiRates, SyntheticTrafficConfig, text_pool
from eval_pipeline.demo.traffic_days import write_demo_traffic, write_synthetic_day
from eval_pipeline.monitoring.settings import (
    DRIFT_TABLE,
    METRICS_TABLE,
    SAMPLE_TABLE,
    SCORES_TABLE,
    SHADOW_TABLE,
)
from eval_pipeline.project.monitoring import load_monitoring_config

DAYS = ["2026-10-05", "2026-10-06", "2026-10-07", "2026-10-08"]
ASSETS = ["traffic_sample", "online_scores", "feedback_metrics", "traffic_drift", "shadow_comparison"]
N_ROWS = 1000

TEST_CONFIG = {
    "sample_rate": 0.6,
    "thresholds": {"thumbs_down_rate": {"warn": 0.10, "critical": 0.40}},
    "debounce": {"k": 2, "m": 3},
    "reference_window_days": 7,
    "invariants": {
        "*": [
            {"type": "length", "min_chars": 1, "max_chars": 4000},
            {
                "type": "regex",
                "name": "no_pii_echo",
                "pattern": "\\[(EMAIL|PHONE|CARD|IP)\\]",
                "must_match": False,
            },
        ]
    },
    "drift": {"embedding_clusters": 6, "max_texts": 800},
}


def _day_config(i: int, day: str) -> SyntheticTrafficConfig:
    fb = [
        FeedbackRates(thumbs_up=0.40, thumbs_down=0.02),
        FeedbackRates(thumbs_up=0.30, thumbs_down=0.10),
        FeedbackRates(thumbs_up=0.30, thumbs_down=0.10),
        FeedbackRates(thumbs_up=0.10, thumbs_down=0.30),
    ][i]
    cfg = SyntheticTrafficConfig(day=day, n_rows=N_ROWS, seed=100 + i, feedback=fb)
    if i == 2:
        cfg = cfg.model_copy(
            update={
                "pii": PiiRates(
                    email=0.05,
                    phone_us=0.05,
                    phone_intl=0.05,
                    card=0.05,
                    ipv4=0.05,
                    ipv6=0.05,
                    card_luhn_invalid=0.03,
                    echo_in_output=0.5,
                ),
                "malformed_rate": 0.01,
                "n_files": 2,
            }
        )
    if i == 3:
        cats = list(text_pool())[:2]
        cfg = cfg.model_copy(update={"category_weights": {c: 1.0 for c in cats}, "extra_sentences": 2.5})
    return cfg


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Write the four days, materialize the monitoring assets day by day, keep every result."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("monitoring")
    traffic, wh_dir, data = root / "traffic", root / "warehouse", root / "data"
    data.mkdir()
    (data / "monitoring.yaml").write_text(yaml.safe_dump(TEST_CONFIG), encoding="utf-8")
    mp.setenv("EVAL_TRAFFIC_PREFIX", str(traffic))
    mp.setenv("EVAL_MONITORING_EMBEDDER", "hashing")
    mp.setenv("EVAL_TRAFFIC_SALT", "test-salt")
    mp.delenv("EVAL_TRAFFIC_SAMPLE_RATE", raising=False)
    mp.delenv("EVAL_MONITORING_CONFIG", raising=False)
    written = [write_synthetic_day(traffic, _day_config(i, d)) for i, d in enumerate(DAYS)]
    from eval_pipeline.definitions import defs

    resources = {
        "eval_config": EvalConfigResource(data_dir=str(data)),
        "project": project_resource,
        "warehouse": WarehouseResource(url=str(wh_dir)),
        "llm": LLMResource(provider="replay"),
        "embeddings": EmbeddingResource(),
    }
    instance = dg.DagsterInstance.ephemeral()
    results = {}
    for d in DAYS:
        results[d] = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            selection=ASSETS,
            partition_key=d,
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
    yield {"results": results, "written": written, "wh": wh_dir, "traffic": traffic}
    mp.undo()


def _md(result, asset: str) -> dict:
    mats = result.asset_materializations_for_node(asset)
    assert len(mats) == 1, f"{asset} not materialized"
    return {k: getattr(v, "value", v) for k, v in mats[0].metadata.items()}


def _check(result, name: str):
    (ev,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return ev


def test_every_day_materializes_and_writes_its_tables(run):
    for d, res in run["results"].items():
        assert res.success, d
        for table in (SAMPLE_TABLE, SCORES_TABLE, METRICS_TABLE, DRIFT_TABLE):
            assert (run["wh"] / table / f"date={d}" / "data.parquet").exists(), (table, d)
    # No shadow candidate configured: skipped, but materialized with a reason.
    md = _md(run["results"][DAYS[0]], "shadow_comparison")
    assert md["status"] == "skipped" and "candidate_model_version" in md["note"]


def test_no_seeded_pii_in_any_written_file(run):
    seeded = [s for w in run["written"] for s in w.seeded_pii]
    kinds = {s["kind"] for s in seeded}
    assert kinds == {"email", "phone_us", "phone_intl", "card", "ipv4", "ipv6"}, kinds
    assert any(
        s["value"] in Path(f).read_text() for w in run["written"] for f in w.files for s in seeded[:5]
    )  # really in the logs
    files = [p for p in run["wh"].rglob("*") if p.is_file()]
    assert len(files) >= 4 * 4
    leaks = []
    for p in files:
        text = p.read_bytes().decode("utf-8", "replace")
        if p.suffix == ".parquet":  # compressed: check the decoded values too
            text += json.dumps(pq.read_table(p).to_pylist(), default=str)
        leaks += [(p.name, s["kind"]) for s in seeded if s["value"] in text]
    assert not leaks, leaks[:10]
    # Redaction happened on D3 and Luhn-invalid decoys were left alone (not over-redacting).
    sample = pq.read_table(run["wh"] / SAMPLE_TABLE / f"date={DAYS[2]}" / "data.parquet").to_pandas()
    assert sample["pii_redactions"].sum() > 0
    kept = " ".join(sample["input_redacted"])
    decoys = [x for x in run["written"][2].decoys if x in kept]
    assert decoys, "some Luhn-invalid decoys of the sampled rows should survive redaction"


def test_malformed_lines_reported_with_file_and_line(run):
    written = run["written"][2]
    assert written.malformed
    md = _md(run["results"][DAYS[2]], "traffic_sample")
    assert md["n_malformed"] == len(written.malformed)
    table = md["malformed_lines"]
    first = written.malformed[0]
    assert re.search(rf"\| {re.escape(first['file'])}\s+\|\s+{first['line']} \|", table), table[:500]
    report = json.loads(
        (run["wh"] / "reports" / "monitoring" / f"date={DAYS[2]}" / "malformed.json").read_text()
    )
    got = {(e["file"], e["line"]) for e in report["errors"]}
    assert got == {(m["file"], m["line"]) for m in written.malformed}
    assert md["n_read"] == written.n_rows  # the rest of the day was read


def test_feedback_thresholds_fire_at_their_levels_debounced(run):
    res = run["results"]
    assert _check(res[DAYS[0]], "feedback_thresholds").passed
    day2 = _check(res[DAYS[1]], "feedback_thresholds")
    assert day2.passed, "a single warn day is not sustained (k=2 of m=3)"
    alerts2 = _md(res[DAYS[1]], "feedback_metrics")["alerts"]
    assert "warn" in alerts2 and "not sustained" in alerts2
    day3 = _check(res[DAYS[2]], "feedback_thresholds")
    assert not day3.passed and day3.severity == dg.AssetCheckSeverity.WARN
    day4 = _check(res[DAYS[3]], "feedback_thresholds")
    assert not day4.passed and day4.severity == dg.AssetCheckSeverity.ERROR
    assert "thumbs_down_rate" in day4.metadata["firing"].value
    # p99 latency is compared with the reference window from day 2 on.
    assert "no reference window" in _md(res[DAYS[0]], "feedback_metrics")["notes"]
    assert "p99_latency_ratio" in _md(res[DAYS[1]], "feedback_metrics")["metrics"]


def test_drift_first_day_resample_and_injected_shift(run):
    res = run["results"]
    first = _md(res[DAYS[0]], "traffic_drift")
    assert first["status"] == "no_reference" and "no reference" in first["summary"]
    ev = _check(res[DAYS[0]], "no_significant_drift")
    assert ev.passed and "no reference" in ev.metadata["summary"].value
    resample = _md(res[DAYS[1]], "traffic_drift")  # D2: same distribution as D1, other seed
    assert resample["status"] == "ok" and resample["max_psi"] < 0.1, resample["drift"]
    assert _check(res[DAYS[1]], "no_significant_drift").passed
    assert _check(
        res[DAYS[2]], "no_significant_drift"
    ).passed  # D3: PII adds text, still no significant shift
    shifted = _md(res[DAYS[3]], "traffic_drift")
    assert shifted["max_psi"] > 0.25
    ev = _check(res[DAYS[3]], "no_significant_drift")
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN
    assert "category" in ev.metadata["significant"].value and "embedding_cluster" in shifted["drift"]
    # D4 also has unhappier users while the invariants still pass: the divergence flag says so.
    assert shifted["divergence"] is True and "divergence" in shifted["drift_vs_quality"]
    div = _check(res[DAYS[3]], "no_feedback_divergence")
    assert (
        not div.passed
        and div.severity == dg.AssetCheckSeverity.WARN
        and "DIVERGENCE" in div.metadata["message"].value
    )
    first_div = _check(res[DAYS[0]], "no_feedback_divergence")
    assert first_div.passed and "not evaluated" in first_div.metadata["message"].value


def test_online_scores_catch_pii_echo_and_profile_latency(run):
    md = _md(run["results"][DAYS[2]], "online_scores")
    assert "no_pii_echo" in md["failure_modes"]
    assert "support_v3" in md["latency_by_template"] and "latency_p99" in md["latency_by_input_length"]
    scores = pq.read_table(run["wh"] / SCORES_TABLE / f"date={DAYS[2]}" / "data.parquet").to_pandas()
    echo = scores[scores["metric"] == "no_pii_echo"]
    assert (~echo["passed"].astype(bool)).sum() > 0
    clean = pq.read_table(run["wh"] / SCORES_TABLE / f"date={DAYS[0]}" / "data.parquet").to_pandas()
    assert clean[clean["metric"] == "no_pii_echo"]["passed"].astype(bool).all()


def test_config_errors_name_the_key_path(tmp_path, monkeypatch):
    from eval_pipeline.project.errors import ConfigError

    monkeypatch.delenv("EVAL_MONITORING_CONFIG", raising=False)
    cases = [
        ({"sample_rate": 2}, "sample_rate"),
        (
            {"thresholds": {"thumbs_down_rate": {"warn": 0.1, "critcal": 0.2}}},
            "thresholds.thumbs_down_rate.critcal",
        ),
        ({"invariants": {"faq": [{"type": "exact_match"}]}}, "invariants.faq[0].type"),
        ({"invariants": {"faq": [{"type": "regex", "pattern": "("}]}}, "invariants.faq[0]"),
        ({"safety_metrics": ["nope"]}, "safety_metrics[0]"),
        (
            {"judge": {"model": "m", "use_reference": True, "dimensions": [{"name": "x"}]}},
            "judge.use_reference",
        ),
    ]
    for raw, key in cases:
        (tmp_path / "monitoring.yaml").write_text(yaml.safe_dump(raw))
        with pytest.raises(ConfigError) as e:
            load_monitoring_config(tmp_path)
        assert key in str(e.value) and "monitoring.yaml" in str(e.value), (key, str(e.value))


def test_demo_traffic_is_labelled_synthetic_and_drifts_last_day(tmp_path, monkeypatch):
    from eval_pipeline.storage import Warehouse

    monkeypatch.delenv("EVAL_TRAFFIC_PREFIX", raising=False)
    wh = Warehouse.from_url(str(tmp_path / "wh"))
    out = write_demo_traffic(wh, days=3, end_date="2026-10-10", seed=1, n_rows=50)
    assert [d["day"] for d in out] == ["2026-10-08", "2026-10-09", "2026-10-10"]
    assert [d["drifted"] for d in out] == [False, False, True]
    keys = wh.list_keys("traffic/date=2026-10-10/")
    assert keys
    rows = [
        json.loads(x)
        for x in wh.read_bytes(keys[0]).decode().splitlines()
        if x.startswith("{") and x.endswith("}")
    ]
    assert rows and all(
        r.get("synthetic") is True and r["metadata"]["synthetic"] for r in rows if "metadata" in r
    )
    again = write_demo_traffic(wh, days=3, end_date="2026-10-10", seed=1, n_rows=50)
    assert wh.list_keys("traffic/") == sorted(
        k for d in again for k in wh.list_keys(f"traffic/date={d['day']}/")
    )


def test_shadow_candidate_judged_in_both_orders_on_redacted_inputs(tmp_path, monkeypatch):
    from eval_pipeline_tests.support.orchestration import small_data
    from eval_pipeline_tests.support.servers.anthropic_server import AnthropicTestServer, ServerConfig

    data = small_data(tmp_path / "data", n_samples=4)
    cfg = {
        "sample_rate": 1.0,
        "drift": {"embeddings": False},
        "shadow": {
            "candidate_model_version": "bot-b",
            "task": "classify_intent",
            "max_samples": 40,
            "min_n": 10,
            "judge": {
                "model": "claude-haiku-4-5",
                "mode": "pairwise",
                "repeats": 1,
                "use_reference": False,
                "dimensions": [{"name": "overall"}],
            },
        },
    }
    (data / "monitoring.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    monkeypatch.setenv("EVAL_TRAFFIC_PREFIX", str(tmp_path / "traffic"))
    monkeypatch.delenv("EVAL_TRAFFIC_SAMPLE_RATE", raising=False)
    day = "2026-10-12"
    written = write_synthetic_day(
        tmp_path / "traffic",
        SyntheticTrafficConfig(day=day, n_rows=60, seed=5, pii=PiiRates(email=0.3, card=0.3, phone_us=0.3)),
    )
    from eval_pipeline.definitions import defs

    with AnthropicTestServer(ServerConfig(api_key="k")) as server:
        resources = {
            "eval_config": EvalConfigResource(data_dir=str(data)),
            "project": project_resource,
            "warehouse": WarehouseResource(url=str(tmp_path / "wh")),
            "llm": LLMResource(
                provider="anthropic", api_key="k", base_url=server.base_url, max_concurrency=8
            ),
            "embeddings": EmbeddingResource(),
        }
        result = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            selection=["traffic_sample", "shadow_comparison"],
            partition_key=day,
            instance=dg.DagsterInstance.ephemeral(),
            resources=resources,
        )
        stats = server.stats()
    assert result.success
    md = _md(result, "shadow_comparison")
    assert md["status"] == "ok" and "__all__" in md["win_rates"]
    rep = json.loads((tmp_path / "wh" / "reports" / "monitoring" / f"date={day}" / "shadow.json").read_text())
    assert rep["decision"]["n"] == 40 and rep["decision"]["verdict"] in ("better", "worse", "inconclusive")
    assert rep["answers"].startswith(
        "live answers: "
    )  # candidate answers and verdicts, all from the test server
    sent = " ".join(stats["by_user_text"])
    assert written.seeded_pii and not [s for s in written.seeded_pii if s["value"] in sent]
    assert "[EMAIL]" in sent or "[CARD]" in sent or "[PHONE]" in sent
    verdicts = pq.read_table(tmp_path / "wh" / SHADOW_TABLE / f"date={day}" / "data.parquet").to_pandas()
    # candidate answers (one per distinct redacted input: equal requests are coalesced) + judge in both orders
    sample = pq.read_table(tmp_path / "wh" / SAMPLE_TABLE / f"date={day}" / "data.parquet").to_pandas()
    n_inputs = sample.loc[sample["request_id"].isin(verdicts["sample_id"]), "input_redacted"].nunique()
    assert 0 < n_inputs <= 40 and stats["total"] == n_inputs + 2 * 40
    assert set(verdicts["status_ab"]) == {"ok"} and set(verdicts["status_ba"]) == {"ok"}


def test_empty_day_still_materializes_every_asset(tmp_path, monkeypatch):
    monkeypatch.setenv("EVAL_TRAFFIC_PREFIX", str(tmp_path / "no_traffic_here"))
    monkeypatch.setenv("EVAL_MONITORING_EMBEDDER", "hashing")
    (tmp_path / "data").mkdir()
    from eval_pipeline.definitions import defs

    resources = {
        "eval_config": EvalConfigResource(data_dir=str(tmp_path / "data")),
        "project": project_resource,
        "warehouse": WarehouseResource(url=str(tmp_path / "wh")),
        "llm": LLMResource(provider="replay"),
        "embeddings": EmbeddingResource(),
    }
    day = "2026-10-20"
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=ASSETS,
        partition_key=day,
        instance=dg.DagsterInstance.ephemeral(),
        resources=resources,
    )
    assert result.success
    assert "No valid traffic" in _md(result, "traffic_sample")["note"]
    assert pq.read_table(tmp_path / "wh" / SAMPLE_TABLE / f"date={day}" / "data.parquet").num_rows == 0
    assert _md(result, "traffic_drift")["status"] == "no_traffic"
    assert all(e.passed for e in result.get_asset_check_evaluations())
