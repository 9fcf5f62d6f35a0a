"""The result cache: keys that never mix models, images or prompts; resume after a real kill; xdist."""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakes import FakeModel
from pytest_vlm.data import shapes
from pytest_vlm.data.sources import FileImage, GeneratedImage, generated_images
from pytest_vlm.models.base import ContinuationScore, GenerationRequest, ScoreRequest
from pytest_vlm.models.cache.results import CachingModel, ResultCache, wrap
from pytest_vlm.models.cache.store import CacheError, ResultStore
from pytest_vlm.models.scripted import ScriptedModel


def generated(count: int, seed: int = 3) -> list[GeneratedImage]:
    return generated_images(count, seed=seed, classes=shapes.SHAPES, size=32)


def requests_for(images: list[GeneratedImage], prompt: str = "What is it? Choose one from {c}.") -> list:
    return [GenerationRequest(image, prompt.replace("{c}", "circle, square"), 12) for image in images]


@pytest.fixture
def cache(tmp_path: Path) -> ResultCache:
    store = ResultStore(tmp_path / "cache")
    yield ResultCache(store)
    store.close()


def test_second_run_is_served_from_the_cache_with_identical_answers(cache: ResultCache) -> None:
    requests = requests_for(generated(10))
    model = ScriptedModel("scripted:noisy", "noisy")
    first = wrap(model, cache).generate(requests)
    assert model.calls == 10
    again = wrap(model, cache)
    assert again.generate(requests) == first
    assert model.calls == 10  # nothing reached the model
    assert (again.hits, again.requests) == (10, 10)
    assert cache.store.count() == 10


def test_only_misses_reach_the_model_in_one_call(cache: ResultCache) -> None:
    model = ScriptedModel("scripted:oracle", "oracle")
    images = generated(8)
    wrap(model, cache).generate(requests_for(images[:5]))
    calls: list[int] = []
    original = model.generate
    model.generate = lambda batch: calls.append(len(batch)) or original(batch)  # type: ignore[method-assign]
    answers = wrap(model, cache).generate(requests_for(images))
    assert calls == [3]
    assert answers == [image.label.capitalize() for image in images]


@dataclass(frozen=True)
class Recolored:
    """Same id and label as an image, other pixels: the cache must not confuse the two."""

    id: str
    label: str

    def load(self):  # noqa: ANN201
        from PIL import Image

        return Image.new("RGB", (32, 32), "red")


def test_keys_separate_models_images_prompts_and_lengths(cache: ResultCache) -> None:
    image = generated(1)[0]
    oracle = ScriptedModel("scripted:oracle", "oracle")
    wrap(oracle, cache).generate([GenerationRequest(image, "Which shape?", 12)])
    for model, request in [
        (ScriptedModel("scripted:noisy", "noisy"), GenerationRequest(image, "Which shape?", 12)),  # other model
        (oracle, GenerationRequest(Recolored(image.id, image.label), "Which shape?", 12)),  # other pixels
        (oracle, GenerationRequest(image, "Which shape? ", 12)),  # other prompt
        (oracle, GenerationRequest(image, "Which shape?", 4)),  # other decoding length
    ]:
        view = wrap(model, cache)
        view.generate([request])
        assert view.hits == 0, request
    assert cache.store.count() == 5


def test_file_images_are_keyed_by_their_bytes_not_their_path(cache: ResultCache, tmp_path: Path) -> None:
    from PIL import Image

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.new("RGB", (8, 8), "blue").save(a)
    b.write_bytes(a.read_bytes())
    same = cache.image_key(FileImage("a", "x", a, "test")) == cache.image_key(FileImage("other", "y", b, "test"))
    assert same
    Image.new("RGB", (8, 8), "green").save(b)
    assert cache.image_key(FileImage("a", "x", a, "t")) != cache.image_key(FileImage("b2", "x", b, "t"))


class Sampler(ScriptedModel):
    def fingerprint(self) -> None:  # type: ignore[override]
        return None  # a sampling model: answers are not reproducible


def test_models_that_sample_or_cannot_fingerprint_are_never_cached(cache: ResultCache) -> None:
    from fakes import FakeModel

    requests = requests_for(generated(3))
    for model in (Sampler("s", "oracle"), FakeModel(lambda r: "circle")):
        view = wrap(model, cache)
        view.generate(requests)
        view = wrap(model, cache)
        view.generate(requests)
        assert not view.cached and view.hits == 0
    assert cache.store.count() == 0


class Dies(Exception):
    pass


def test_each_chunk_is_stored_as_soon_as_it_is_answered(cache: ResultCache) -> None:
    model = ScriptedModel("scripted:oracle", "oracle")
    original = model.generate

    def generate(batch):  # noqa: ANN001, ANN202
        if model.calls >= 8:
            raise Dies
        return original(batch)

    model.generate = generate  # type: ignore[method-assign]
    with pytest.raises(Dies):
        CachingModel(model, cache, chunk_size=4).generate(requests_for(generated(12)))
    assert cache.store.count() == 8


class Scorer(ScriptedModel):
    def score(self, requests):  # noqa: ANN001, ANN201
        self.calls += len(requests)
        return [[ContinuationScore(-0.1 * (i + 1) / 3, i + 1) for i, _ in enumerate(r.continuations)] for r in requests]


def test_scores_round_trip_exactly(cache: ResultCache) -> None:
    model = Scorer("scorer", "oracle")
    requests = [ScoreRequest(image, "Which?", ("circle", "square")) for image in generated(4)]
    first = wrap(model, cache).score(requests)
    view = wrap(model, cache)
    assert view.score(requests) == first  # exact floats: JSON keeps every bit of a double
    assert (view.hits, model.calls) == (4, 4)
    other = wrap(model, cache)
    other.score([ScoreRequest(requests[0].image, "Which?", ("square", "circle"))])
    assert other.hits == 0


def test_a_view_scores_only_when_its_model_can() -> None:
    from pytest_vlm.models.base import ScoresContinuations

    assert not isinstance(wrap(FakeModel(lambda request: "circle")), ScoresContinuations)
    assert isinstance(wrap(Scorer("s", "oracle")), ScoresContinuations)


def test_a_corrupt_cache_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "results.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError, match=r"results\.sqlite is unreadable .*delete .*results\.sqlite.*--vlm-no-cache"):
        ResultStore(tmp_path)


def test_a_cache_of_another_schema_is_a_clear_error(tmp_path: Path) -> None:
    ResultStore(tmp_path).close()
    import sqlite3

    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(CacheError, match="schema version 99"):
        ResultStore(tmp_path)


def test_an_uncreatable_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(CacheError, match="cannot create the result cache folder"):
        ResultStore(tmp_path / "file" / "cache")


def _writer(folder: str, worker: int) -> None:
    store = ResultStore(Path(folder))
    for chunk in range(20):
        # Half the keys are shared by all writers, as when xdist workers answer the same prompts.
        store.put_many({f"shared{chunk}-{i}": i for i in range(10)}, "m")
        store.put_many({f"own{worker}-{chunk}-{i}": [worker, chunk, i] for i in range(10)}, "m")
    store.close()


def test_concurrent_writers_never_corrupt_or_lose_entries(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(tmp_path), w)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    store = ResultStore(tmp_path)
    assert store.count() == 200 + 4 * 200
    assert store.get_many(["own3-19-9", "shared0-4"]) == {"own3-19-9": [3, 19, 9], "shared0-4": 4}


# --- the transformers backend -----------------------------------------------------------------


@pytest.fixture(scope="module")
def hf_model(tiny_qwen2_vl: Path):  # noqa: ANN201
    from pytest_vlm.models.device import RuntimeOptions
    from pytest_vlm.models.hf.model import HFModel
    from pytest_vlm.models.resolve import resolve_model

    return HFModel(resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd()), RuntimeOptions(batch_size=4))


def test_predictions_identical_with_and_without_cache(hf_model, cache: ResultCache) -> None:  # noqa: ANN001
    from pytest_vlm.strategies.closed_set import ClosedSet, ClosedSetParams

    images = generated(6)
    strategy = ClosedSet(ClosedSetParams(votes=2, max_new_tokens=4), classes=shapes.SHAPES, background=None, seed=1)
    plain = strategy.run(hf_model, images)
    filled = strategy.run(wrap(hf_model, cache, chunk_size=5), images)
    view = wrap(hf_model, cache, chunk_size=5)
    cached = strategy.run(view, images)
    assert plain == filled == cached
    assert (view.hits, view.requests) == (12, 12)


def test_hf_fingerprint_follows_files_template_and_revision(
    hf_model, cache: ResultCache, tiny_qwen2_vl: Path, tmp_path: Path
) -> None:  # noqa: ANN001
    import shutil

    from pytest_vlm.models.spec import ModelSpec

    key = cache.fingerprint(hf_model)
    assert key is not None and key["decoding"]["do_sample"] is False
    assert set(key["files"]) >= {"config.json", "model.safetensors", "tokenizer.json"}
    copy = tmp_path / "copy"
    shutil.copytree(tiny_qwen2_vl, copy)
    moved = ResultCache(cache.store)
    hf_model.spec = ModelSpec("copy", "hf", str(copy))
    try:
        assert moved.fingerprint(hf_model)["files"] == key["files"]  # a moved folder is the same model
        template = copy / "chat_template.jinja"
        if not template.exists():
            template = copy / "tokenizer_config.json"
        template.write_text(template.read_text() + " ")
        assert ResultCache(cache.store).fingerprint(hf_model)["files"] != key["files"]
        hf_model.spec = ModelSpec("hub", "hf", "owner/model")
        hf_model.model.config._commit_hash = "a" * 40
        pinned = ResultCache(cache.store).fingerprint(hf_model)
        assert pinned["commit"] == "a" * 40 and "files" not in pinned
        hf_model.model.config._commit_hash = "b" * 40
        other = ResultCache(cache.store).fingerprint(hf_model)
        assert other != pinned
        hf_model.model.config._commit_hash = None
        assert hf_model.fingerprint() is None  # an unpinned hub revision is never cached
    finally:
        hf_model.spec = ModelSpec(hf_model.name, "hf", str(tiny_qwen2_vl))
        hf_model.model.config._commit_hash = None


# --- end to end: kill, resume, xdist, options ---------------------------------------------------

SPEC = """
dataset:
  generated: shapes
  count: 70
  seed: 5
  size: 32
classes: [circle, square, triangle, star, cross, heart, background]
background: background
models: [scripted:oracle]
snapshot: false
strategies:
  closed_set: {votes: 3}
"""

# Counts the requests that reach the model (appending to a file, which survives the kill) and
# kills the whole process, like an OOM or a Ctrl-C'd CI job, when told to.
CONFTEST = """
import os
import pytest
from pytest_vlm.models.scripted import ScriptedModel

@pytest.fixture(autouse=True, scope="session")
def _count_model_calls():
    original = ScriptedModel.generate
    calls = [0]

    def generate(self, requests):
        calls[0] += 1
        if calls[0] == int(os.environ.get("KILL_AT_CALL", "0")):
            os._exit(9)
        with open(os.environ["COUNT_FILE"], "a") as f:
            f.write(f"{len(requests)}\\n")
        return original(self, requests)

    patch = pytest.MonkeyPatch()
    patch.setattr(ScriptedModel, "generate", generate)
    yield
    patch.undo()
"""


def counted(path: Path) -> list[int]:
    return [int(n) for n in path.read_text().split()] if path.exists() else []


def test_a_killed_run_resumes_without_recomputing(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    pytester.makeconftest(CONFTEST)
    counts = pytester.path / "calls.txt"
    monkeypatch.setenv("COUNT_FILE", str(counts))
    monkeypatch.setenv("KILL_AT_CALL", "3")  # scripted chunks: 64 requests; 210 requests = 64+64+64+18
    killed = pytester.runpytest_subprocess("--vlm-json", "out.json")
    assert killed.ret == 9
    assert counted(counts) == [64, 64]  # two chunks answered and stored, then the process died
    monkeypatch.setenv("KILL_AT_CALL", "0")
    counts.unlink()
    resumed = pytester.runpytest_subprocess("--vlm-json", "out.json")
    resumed.assert_outcomes(passed=1)
    assert counted(counts) == [64, 18]  # only the 82 unfinished requests reached the model
    resumed.stdout.fnmatch_lines(
        ["result cache (*.vlm_cache; --vlm-no-cache to bypass):", "*closed_set cached 128/210"]
    )
    result = json.loads((pytester.path / "out.json").read_text())["results"][0]
    assert (result["cache_hits"], result["cache_requests"]) == (128, 210)
    assert result["metrics"]["accuracy"] == 1.0
    counts.unlink()
    pytester.runpytest().assert_outcomes(passed=1)
    assert counted(counts) == []


def test_no_cache_option_and_cache_folder_option(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    pytester.makeconftest(CONFTEST)
    counts = pytester.path / "calls.txt"
    monkeypatch.setenv("COUNT_FILE", str(counts))
    for _ in range(2):
        result = pytester.runpytest("--vlm-no-cache")
        result.assert_outcomes(passed=1)
        assert "result cache" not in result.stdout.str()
    assert sum(counted(counts)) == 420
    assert not (pytester.path / ".vlm_cache").exists()
    pytester.runpytest("--vlm-cache", "elsewhere").assert_outcomes(passed=1)
    assert (pytester.path / "elsewhere" / "results.sqlite").is_file()
    pytester.makeini("[pytest]\nvlm_no_cache = true\n")
    pytester.runpytest().assert_outcomes(passed=1)
    assert sum(counted(counts)) == 420 + 210 + 210


def test_a_corrupt_cache_fails_items_with_advice(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    (pytester.path / ".vlm_cache").mkdir()
    (pytester.path / ".vlm_cache" / "results.sqlite").write_bytes(b"garbage" * 500)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*results.sqlite is unreadable (file is not a database); delete *--vlm-no-cache*"])
    pytester.runpytest("--vlm-no-cache").assert_outcomes(passed=1)


def test_xdist_workers_share_one_cache(pytester: pytest.Pytester) -> None:
    for name in ("one", "two", "three"):
        pytester.makefile(".vlm.yaml", **{name: SPEC.replace("seed: 5", f"seed: {len(name)}")})
    pytester.runpytest("-n", "2").assert_outcomes(passed=3)  # two workers writing at once
    again = pytester.runpytest()
    again.assert_outcomes(passed=3)
    again.stdout.fnmatch_lines(
        ["*one / scripted:oracle: closed_set cached 210/210", "*three / scripted:oracle: closed_set cached 210/210"]
    )
