"""Rows of the result cache that are not what pytest-vlm wrote (issue 12.8): a row that is not
JSON, or JSON of the wrong shape, is recomputed and repaired; it is never served as an answer."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from test_cache import Scorer, generated, requests_for

from pytest_vlm.models.base import ScoreRequest
from pytest_vlm.models.cache.results import ResultCache, wrap
from pytest_vlm.models.cache.store import ResultStore
from pytest_vlm.models.scripted import ScriptedModel


@pytest.fixture
def cache(tmp_path: Path) -> ResultCache:
    store = ResultStore(tmp_path / "cache")
    yield ResultCache(store)
    store.close()


def spoil(cache: ResultCache, values: list[str]) -> None:
    """Overwrite the first rows of the answers table with these raw texts."""
    with sqlite3.connect(cache.store.path) as db:
        keys = [key for (key,) in db.execute("SELECT key FROM answers ORDER BY rowid")]
        for key, value in zip(keys, values):
            db.execute("UPDATE answers SET value = ? WHERE key = ?", (value, key))


def stored(cache: ResultCache) -> list[str]:
    with sqlite3.connect(cache.store.path) as db:
        return [json.loads(value) for (value,) in db.execute("SELECT value FROM answers")]


BAD_ANSWERS = ["{not json", "42", "null", '["Circle"]', '{"text": "Circle"}', "true"]


def test_bad_answer_rows_are_recomputed_and_repaired(cache: ResultCache) -> None:
    requests = requests_for(generated(8))
    model = ScriptedModel("scripted:oracle", "oracle")
    truth = wrap(model, cache).generate(requests)
    spoil(cache, BAD_ANSWERS)
    view = wrap(model, cache)
    assert view.generate(requests) == truth  # never "42" or "['Circle']"
    assert (view.hits, model.calls) == (2, 8 + 6)
    assert sorted(stored(cache)) == sorted(truth)  # repaired (a replaced row moves to the end)
    again = wrap(model, cache)
    assert again.generate(requests) == truth
    assert again.hits == 8


BAD_SCORES = ["{not json", '"Circle"', "[[0.5, 1]]", '[["x", 1], [0.1, 2]]', "[[0.5, 1, 3], [0.1, 2]]", "[null, null]"]


def test_bad_score_rows_are_recomputed_and_repaired(cache: ResultCache) -> None:
    model = Scorer("scorer", "oracle")
    requests = [ScoreRequest(image, "Which?", ("circle", "square")) for image in generated(8)]
    truth = wrap(model, cache).score(requests)
    spoil(cache, BAD_SCORES)
    view = wrap(model, cache)
    assert view.score(requests) == truth
    assert (view.hits, model.calls) == (2, 8 + 6)
    assert wrap(model, cache).score(requests) == truth
