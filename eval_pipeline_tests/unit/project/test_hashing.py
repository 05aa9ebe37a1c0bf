"""The frozen hashes (eval_pipeline/project/hashing.py) return what they returned when their outputs
were first stored: response-store keys, judge hashes, tool wire names, config hashes, sampling.

The expected values were computed with the code before the hashes moved into one module (the
response store's ``request_key``, the judge's ``_hash``, ``tool_names._digest``). If one of these
assertions fails, stored answers and verdicts would be missed and paid for again: restore the
function, do not update the value.
"""

from __future__ import annotations

from eval_pipeline.inference.types import ModelRequest
from eval_pipeline.project import hashing

OBJ = {"b": [1, 2.5, None], "a": "é", "c": {"z": True}}


def test_canonical_json_and_object_hashes_are_pinned():
    assert hashing.canonical_json(OBJ) == '{"a":"é","b":[1,2.5,null],"c":{"z":true}}'
    assert hashing.sha256_text("golden") == "dd56de4137951d9c92681b03416ec15f886b4482a27e3a517d32f085244cbe5d"
    assert (
        hashing.sha256_obj({"b": [1, 2.5, None], "a": "é"})
        == "d764fee2563da33e3d57334755404e635da33c995824b0adfabc4b6e1af4f608"
    )


def test_file_hash_is_pinned(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"eval_pipeline\n" * 3)
    assert hashing.sha256_file(path) == "7f2d9185d74e24b627d7eca41529b82bf9a87a66338bfa891e32d9fe09fe53a6"


def test_sampling_unit_interval_is_pinned():
    assert hashing.unit_interval("salt:req-1") == 0.6290753248171675
    assert hashing.unit_interval("") == 0.8894159948913374


def test_response_store_key_is_pinned_and_ignores_the_sample_id():
    request = ModelRequest(
        sample_id="s1",
        model="claude-x",
        messages=[{"role": "user", "content": "hi"}],
        system="be brief",
        params={"max_tokens": 16, "temperature": 0.0},
        repeat=1,
        epoch="e1",
    )
    key = "4fefa6ce7f2293824e610bf2f9546a79176e4f38fd8f62f1781b662d2217f28c"
    assert hashing.request_key("anthropic", request) == key
    request.sample_id = "another sample"
    assert hashing.request_key("anthropic", request) == key
    assert hashing.request_key("openai:http://127.0.0.1:1/v1", request) != key


def test_judge_digest_and_tool_name_digest_are_pinned():
    assert hashing.digest16({"model": "m", "dims": ("a", "b"), "set": {"x"}}) == "7c0845c41df4de38"
    assert hashing.tool_name_digest("a_very_long_tool_name") == "f0be9716"
