"""The shipped benchmarks on vLLM give the transformers backend's predictions: every baseline matches."""

from __future__ import annotations

from pathlib import Path

from vllm_helpers import run_benchmarks


def test_shipped_benchmarks_match_the_baselines_on_vllm(tmp_path: Path) -> None:
    items = run_benchmarks("vllm:tiny-shapes", tmp_path / "vllm.json")
    assert set(items) == {("shapes", s) for s in ("closed_set", "binary", "likelihood")} | {
        ("shapes-hard", s) for s in ("closed_set", "binary")
    }
    assert {key: (r["snapshot"], r["flips"]) for key, r in items.items()} == {key: ("matched", 0) for key in items}
    # The accuracies the shipped specs record for tiny-shapes on the transformers backend.
    accuracy = {
        s: round(items[("shapes", s)]["metrics"]["accuracy"], 3) for s in ("closed_set", "binary", "likelihood")
    }
    assert accuracy == {"closed_set": 0.977, "binary": 0.951, "likelihood": 0.977}
