"""Remote-code families: opt-in, refusal, the documented calling conventions end to end, and
InternVL2's image preprocessing against hand computations.

The checkpoints (tests/remote_checkpoints.py) are loaded through transformers' real
trust-remote-code machinery: config.json's ``auto_map`` -> ``get_class_from_dynamic_module``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from PIL import Image
from remote_checkpoints import build_remote_checkpoint

from pytest_vlm.errors import ModelError, SpecError
from pytest_vlm.models.aliases import ALIASES
from pytest_vlm.models.base import GenerationRequest
from pytest_vlm.models.device import RuntimeOptions
from pytest_vlm.models.pool import load_model
from pytest_vlm.models.remote_code import closest_aspect_ratio, internvl_pixel_values, internvl_tiles
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.models.trust import RemoteCodeRefused
from pytest_vlm.spec import parse_spec

FAMILIES = ("minicpm-v", "phi3-vision", "internvl-chat")
# The InternVL2 card's normalisation, written out here so the test does not check the code against itself.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# image file -> (true label, colour, size in pixels); "olive" is labelled green but is mostly red.
IMAGES = {
    "red/r.png": ("red", (255, 0, 0), 16),
    "green/g.png": ("green", (0, 255, 0), 32),
    "blue/b.png": ("blue", (0, 0, 255), 16),
    "green/olive.png": ("green", (200, 150, 0), 32),
}
EXPECTED = {  # what the rule in remote_checkpoints.py answers, worked out by hand
    "closed_set": {"red/r": "red", "green/g": "green", "blue/b": "blue", "green/olive": "red"},
    "binary": {"red/r": "red", "green/g": "green", "blue/b": "blue", "green/olive": "red"},
}
# binary asks red, green, blue in turn and stops at the first "Yes".
EXPECTED_BINARY_RAW = {
    "red/r": ["Yes"],
    "green/g": ["No", "Yes"],
    "blue/b": ["No", "No", "Yes"],
    "green/olive": ["Yes"],
}


@dataclass(frozen=True)
class Solid:
    """An image of one colour, built in memory."""

    id: str
    colour: tuple[int, int, int]
    size: tuple[int, int]

    def load(self) -> Image.Image:
        return Image.new("RGB", self.size, self.colour)


@pytest.fixture(scope="session")
def remote_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("remote")
    return {family: build_remote_checkpoint(root / f"tiny-{family}", family) for family in FAMILIES}


def write_benchmark(pytester: pytest.Pytester, model: str, extra: str = "") -> None:
    for name, (_, colour, size) in IMAGES.items():
        path = pytester.path / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (size, size), colour).save(path)
    pytester.makefile(
        ".vlm.yaml",
        colours=f"""
dataset: images
models: [{model}]
snapshot: false
thresholds: {{accuracy: ">= 0.75"}}
strategies:
  closed_set: {{votes: 2}}
  binary: {{order: [red, green, blue]}}
{extra}""",
    )


def predictions(pytester: pytest.Pytester) -> dict[str, dict[str, dict]]:
    document = json.loads((pytester.path / "out.json").read_text())
    return {r["strategy"]: {p["image_id"]: p for p in r["predictions"]} for r in document["results"]}


# --- opt-in and refusal -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alias",
    [
        "minicpm-v-2_6",
        "phi-3-vision",
        "internvl2-2b",
        "minicpm-v-2_6-remote-code",
        "phi-3-vision-remote-code",
        "internvl2-2b-remote-code",
    ],
)
def test_aliases_declare_remote_code_and_are_refused_without_opt_in(alias: str) -> None:
    spec = ALIASES[alias]
    assert spec.trust_remote_code and not spec.allow_remote_code
    # No network here: had anything tried to download, the error would be a loading error instead.
    with pytest.raises(RemoteCodeRefused, match=rf"model {alias} \({spec.source}\) runs Python code shipped") as exc:
        load_model(spec, RuntimeOptions(device="cpu"))
    assert f"'trust_remote_code: [{alias}]'" in str(exc.value)
    assert "--vlm-trust-remote-code" in str(exc.value)
    assert "'vlm_trust_remote_code = true' in your pytest ini file" in str(exc.value)


def test_list_models_says_which_aliases_need_remote_code(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--vlm-list-models")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "alias *backend *hub id / source *remote code *notes",
            "minicpm-v-2_6 *vllm *openbmb/MiniCPM-V-2_6 *yes *vLLM; *needs --vlm-trust-remote-code",
            "phi-3-vision *vllm *microsoft/Phi-3-vision-128k-instruct *yes *vLLM; *needs --vlm-trust-remote-code",
            "internvl2-2b *vllm *OpenGVLab/InternVL2-2B *yes *vLLM, original InternVL2; *--vlm-trust-remote-code",
            "minicpm-v-2_6-remote-code *minicpm-v *openbmb/MiniCPM-V-2_6 *yes *transformers + the hub's code",
            "phi-3-vision-remote-code *phi3-vision *microsoft/Phi-3-vision-128k-instruct *yes *transformers + *",
            "internvl2-2b-remote-code *internvl-chat *OpenGVLab/InternVL2-2B *yes *transformers + *",
        ]
    )


def test_a_user_alias_of_a_remote_code_backend_still_needs_the_opt_in(
    pytester: pytest.Pytester, remote_checkpoints: dict[str, Path]
) -> None:
    # Not declaring trust_remote_code does not skip the opt-in: these backends always run checkpoint code.
    pytester.makefile(
        ".yaml",
        **{
            "vlm-models": f"models:\n  my-phi3: {{backend: phi3-vision, source: {remote_checkpoints['phi3-vision']}}}\n"
        },
    )
    write_benchmark(pytester, "my-phi3")
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*model my-phi3 (*) runs Python code shipped with the checkpoint*"])
    write_benchmark(pytester, "my-phi3", extra="trust_remote_code: [my-phi3]\n")
    pytester.runpytest().assert_outcomes(passed=2)


def test_hub_ids_of_the_families_resolve_to_their_aliases(tmp_path: Path) -> None:
    # The first alias of a hub id wins: the vLLM one, since the hub code fails under transformers 5.
    assert resolve_model("openbmb/MiniCPM-V-2_6", base_dir=tmp_path) == ALIASES["minicpm-v-2_6"]
    assert resolve_model("microsoft/Phi-3-vision-128k-instruct", base_dir=tmp_path).backend == "vllm"
    assert resolve_model("OpenGVLab/InternVL2-2B", base_dir=tmp_path).backend == "vllm"


def test_family_folders_are_detected_from_config_model_type(remote_checkpoints: dict[str, Path]) -> None:
    for family, folder in remote_checkpoints.items():
        spec = resolve_model(str(folder), base_dir=folder.parent)
        assert (spec.backend, spec.trust_remote_code, spec.allow_remote_code) == (family, True, False)


def test_a_plain_transformers_folder_needs_no_remote_code(tiny_qwen2_vl: Path) -> None:
    spec = resolve_model(str(tiny_qwen2_vl), base_dir=tiny_qwen2_vl.parent)
    assert (spec.backend, spec.trust_remote_code) == ("hf", False)


def test_refused_folder_names_its_path_in_the_advice(remote_checkpoints: dict[str, Path]) -> None:
    folder = remote_checkpoints["phi3-vision"]
    spec = resolve_model(str(folder), base_dir=folder.parent)
    with pytest.raises(RemoteCodeRefused, match=rf"'trust_remote_code: \[{folder}\]'"):
        load_model(spec, RuntimeOptions(device="cpu"))


def test_any_backend_needing_remote_code_is_refused(tiny_qwen2_vl: Path) -> None:
    # A transformers checkpoint declared as needing its own code goes through the same gate.
    spec = ModelSpec("custom", "hf", str(tiny_qwen2_vl), trust_remote_code=True)
    with pytest.raises(RemoteCodeRefused, match=rf"'trust_remote_code: \[{tiny_qwen2_vl}\]'"):
        load_model(spec, RuntimeOptions(device="cpu"))
    assert load_model(replace(spec, allow_remote_code=True), RuntimeOptions(device="cpu")).name == "custom"


def marked_copy(folder: Path, destination: Path) -> tuple[Path, Path]:
    """A copy of ``folder`` whose modelling code writes a marker file when it is imported."""
    shutil.copytree(folder, destination)
    marker = destination.parent / f"{destination.name}-imported"
    with open(destination / "modeling_tiny.py", "a") as f:
        f.write(f"\nopen({str(marker)!r}, 'w').close()\n")
    return destination, marker


def test_no_remote_code_runs_without_opt_in(pytester: pytest.Pytester, remote_checkpoints: dict[str, Path]) -> None:
    folder, marker = marked_copy(remote_checkpoints["minicpm-v"], pytester.path / "ckpt" / "tiny-minicpm")
    write_benchmark(pytester, str(folder))
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            f"*model tiny-minicpm ({folder}) runs Python code shipped with the checkpoint (trust_remote_code), "
            "which pytest-vlm never does by default; opt in with --vlm-trust-remote-code *",
        ]
    )
    assert not marker.exists()
    assert "Traceback" not in result.stdout.str()
    # The same run, opted in, imports (and runs) the checkpoint's code.
    pytester.runpytest("--vlm-trust-remote-code").assert_outcomes(passed=2)
    assert marker.exists()


def test_spec_trust_list_trusts_only_the_models_it_names(
    pytester: pytest.Pytester, remote_checkpoints: dict[str, Path]
) -> None:
    minicpm, phi3 = remote_checkpoints["minicpm-v"], remote_checkpoints["phi3-vision"]
    write_benchmark(pytester, f"{minicpm}, {phi3}", extra=f"trust_remote_code: [{phi3}]\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*model tiny-minicpm-v (*) runs Python code shipped with the checkpoint*"])
    assert "tiny-phi3-vision (" not in result.stdout.str()


def test_spec_trust_entries_must_name_models(tmp_path: Path) -> None:
    from pytest_vlm.models.resolve import with_opt_in

    spec_file = tmp_path / "x.vlm.yaml"
    spec_file.write_text("dataset: {generated: shapes, count: 2}\nstrategies: [closed_set]\ntrust_remote_code: 1\n")
    with pytest.raises(SpecError, match=r"x.vlm.yaml: trust_remote_code: expected true, false or a list of model"):
        parse_spec(spec_file)
    spec_file.write_text(
        "dataset: {generated: shapes, count: 2}\nstrategies: [closed_set]\ntrust_remote_code: [minicpm-v-26]\n"
    )
    spec = parse_spec(spec_file)
    assert spec.trust_remote_code == ("minicpm-v-26",)
    with pytest.raises(SpecError, match=r"x.vlm.yaml: trust_remote_code\[0\]: unknown model 'minicpm-v-26' \(did you"):
        with_opt_in([], cli=False, spec_trust=spec.trust_remote_code, base_dir=tmp_path, where="x.vlm.yaml")


def test_opt_in_marks_only_models_that_need_it(tmp_path: Path) -> None:
    from pytest_vlm.models.resolve import with_opt_in

    models = [ALIASES["minicpm-v-2_6"], ALIASES["qwen2-vl-2b"], ALIASES["phi-3-vision"]]
    allowed = with_opt_in(models, cli=False, spec_trust=("minicpm-v-2_6",), base_dir=tmp_path, where="x")
    assert [m.allow_remote_code for m in allowed] == [True, False, False]
    allowed = with_opt_in(models, cli=True, spec_trust=False, base_dir=tmp_path, where="x")
    assert [m.allow_remote_code for m in allowed] == [True, False, True]
    assert with_opt_in(models, cli=False, spec_trust=False, base_dir=tmp_path, where="x") == models


# --- end to end: each family, both strategies, every opt-in mechanism ----------------------------

OPT_INS = {  # family -> (how it opts in: command-line args, ini file, spec line)
    "minicpm-v": (["--vlm-trust-remote-code"], None, ""),
    "phi3-vision": ([], None, "trust_remote_code: [{model}]\n"),
    "internvl-chat": ([], "[pytest]\nvlm_trust_remote_code = true\n", ""),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_family_end_to_end(pytester: pytest.Pytester, remote_checkpoints: dict[str, Path], family: str) -> None:
    model = str(remote_checkpoints[family])
    args, ini, spec_line = OPT_INS[family]
    write_benchmark(pytester, model, extra=spec_line.format(model=model))
    if ini:
        pytester.makeini(ini)
    result = pytester.runpytest(*args, "--vlm-batch-size", "3", "--vlm-json", "out.json")
    result.assert_outcomes(passed=2)
    found = predictions(pytester)
    for strategy, expected in EXPECTED.items():
        assert {image: p["prediction"] for image, p in found[strategy].items()} == expected, strategy
    assert {image: p["raw"] for image, p in found["binary"].items()} == EXPECTED_BINARY_RAW
    assert all(p["raw"] == [p["prediction"]] * 2 for p in found["closed_set"].values())
    document = json.loads((pytester.path / "out.json").read_text())
    info = document["results"][0]["model_info"]
    assert (info["backend"], info["remote_code"], info["source"]) == (family, True, model)


def test_spec_trust_true_opts_in_every_model(pytester: pytest.Pytester, remote_checkpoints: dict[str, Path]) -> None:
    write_benchmark(pytester, str(remote_checkpoints["internvl-chat"]), extra="trust_remote_code: true\n")
    pytester.runpytest().assert_outcomes(passed=2)


def test_weights_come_from_the_checkpoint(pytester: pytest.Pytester, tmp_path: Path) -> None:
    # Zero weights score every colour alike and pick the first: every image is "red".
    folder = build_remote_checkpoint(tmp_path / "untrained", "phi3-vision", trained=False)
    write_benchmark(pytester, str(folder))
    result = pytester.runpytest("--vlm-trust-remote-code", "--vlm-json", "out.json")
    result.assert_outcomes(failed=2)  # accuracy 0.25 < 0.75
    assert {p["prediction"] for p in predictions(pytester)["closed_set"].values()} == {"red"}


@pytest.mark.parametrize("family", FAMILIES)
def test_answers_are_independent_of_batch_size(remote_checkpoints: dict[str, Path], family: str) -> None:
    folder = remote_checkpoints[family]
    spec = replace(resolve_model(str(folder), base_dir=folder.parent), allow_remote_code=True)
    # The 96x32 image is 3 InternVL tiles plus a thumbnail, and 7 Phi-3 crops against 2 and 3.
    requests = [
        GenerationRequest(Solid(f"{i}", colour, size), prompt)
        for i, (colour, size) in enumerate([((0, 0, 255), (16, 16)), ((0, 255, 0), (96, 32)), ((255, 0, 0), (32, 32))])
        for prompt in ("Choose one from red, green, blue.", "Answer in one word: yes or no. Is the green in it?")
    ]
    answers = {}
    for batch_size in (1, 4, 32):
        model = load_model(spec, RuntimeOptions(device="cpu", batch_size=batch_size))
        answers[batch_size] = model.generate(requests)
        batches = {1: [1] * 6, 4: [4, 2], 32: [6]}[batch_size]
        assert model.model.seen_batches == batches  # type: ignore[attr-defined]
        model.close()
    assert answers[1] == ["blue", "No", "green", "Yes", "red", "No"]
    assert answers[4] == answers[1] and answers[32] == answers[1]


def test_answers_are_cached_and_changed_checkpoint_code_is_a_new_model(
    tmp_path: Path, remote_checkpoints: dict[str, Path]
) -> None:
    from pytest_vlm.models.cache.results import ResultCache, wrap
    from pytest_vlm.models.cache.store import ResultStore

    folder = tmp_path / "ckpt"
    shutil.copytree(remote_checkpoints["internvl-chat"], folder)
    spec = replace(resolve_model(str(folder), base_dir=tmp_path), allow_remote_code=True)
    requests = [GenerationRequest(Solid("g", (0, 255, 0), (64, 32)), "Choose one from red, green, blue.")] * 3
    store = ResultStore(tmp_path / "cache")
    try:
        model = load_model(spec, RuntimeOptions(device="cpu"))
        first = wrap(model, ResultCache(store)).generate(requests)
        again = wrap(model, ResultCache(store))
        assert again.generate(requests) == first == ["green"] * 3
        assert again.hits == 3 and model.model.seen_batches == [3]  # type: ignore[attr-defined]
        # The cache hashes the folder's files, so edited checkpoint code is a different model.
        with open(folder / "modeling_tiny.py", "a") as f:
            f.write("\n# edited\n")
        edited = wrap(load_model(spec, RuntimeOptions(device="cpu")), ResultCache(store))
        assert edited.generate(requests) == first and edited.hits == 0
    finally:
        store.close()


def test_broken_remote_code_is_reported_with_the_model(tmp_path: Path, remote_checkpoints: dict[str, Path]) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(remote_checkpoints["internvl-chat"], folder)
    (folder / "modeling_tiny.py").write_text("import a_package_the_card_lists_but_you_lack\n")
    spec = resolve_model(str(folder), base_dir=tmp_path)
    with pytest.raises(ModelError, match=r"cannot load model broken from .*/broken with its own code: ImportError"):
        load_model(replace(spec, allow_remote_code=True), RuntimeOptions(device="cpu"))


# --- InternVL2's load_image, reimplemented without torchvision -----------------------------------


def test_closest_aspect_ratio_follows_the_card() -> None:
    ratios = [(1, 1), (2, 1), (4, 2)]
    assert closest_aspect_ratio(2.0, ratios, 896, 448, 448) == (2, 1)  # 401408 px <= half of 8 tiles
    assert closest_aspect_ratio(2.0, ratios, 1792, 896, 448) == (4, 2)  # 1605632 px > 802816: the bigger grid
    assert closest_aspect_ratio(1.2, ratios, 120, 100, 448) == (1, 1)  # |1.2-1| < |1.2-2|


def test_tiles_are_cut_row_by_row_with_a_thumbnail() -> None:
    # 4x2 pixels, 1-pixel tiles: grids (2, 1) and (4, 2) both have aspect 2; the image's 8 pixels are
    # more than half of (4, 2)'s 8 tiles of 1 pixel, so the card takes the bigger grid.
    image = Image.new("RGB", (4, 2))
    image.putdata([(i * 30, 0, 0) for i in range(8)])
    tiles = internvl_tiles(image, image_size=1, max_num=12)
    assert len(tiles) == 8 + 1
    assert [t.getpixel((0, 0))[0] for t in tiles[:8]] == [0, 30, 60, 90, 120, 150, 180, 210]
    assert tiles[8].size == (1, 1)
    # A square image is one tile and gets no thumbnail; a very wide one is capped at max_num tiles.
    assert len(internvl_tiles(Image.new("RGB", (50, 50)), image_size=448)) == 1
    assert len(internvl_tiles(Image.new("RGB", (1000, 10)), image_size=8, max_num=6)) == 6 + 1


def test_pixel_values_match_a_hand_computation() -> None:
    colour = (10, 128, 250)
    pixels = internvl_pixel_values(Image.new("RGB", (100, 50), colour))  # aspect 2: 2 tiles + thumbnail
    assert tuple(pixels.shape) == (3, 3, 448, 448)
    for channel in range(3):
        expected = (colour[channel] / 255 - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel]
        assert float(pixels[:, channel].min()) == pytest.approx(expected, abs=1e-5)
        assert float(pixels[:, channel].max()) == pytest.approx(expected, abs=1e-5)
    # Left half red, right half blue, 2:1 -> the first tile is red, the second blue.
    image = Image.new("RGB", (896, 448), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 448, 448))
    pixels = internvl_pixel_values(image)
    red = [(c - m) / s for c, m, s in zip((1.0, 0.0, 0.0), IMAGENET_MEAN, IMAGENET_STD)]
    blue = [(c - m) / s for c, m, s in zip((0.0, 0.0, 1.0), IMAGENET_MEAN, IMAGENET_STD)]
    assert [float(v) for v in pixels[0, :, 224, 224]] == pytest.approx(red, abs=1e-5)
    assert [float(v) for v in pixels[1, :, 224, 224]] == pytest.approx(blue, abs=1e-5)


def test_likelihood_is_refused_clearly(pytester: pytest.Pytester, remote_checkpoints: dict[str, Path]) -> None:
    # chat() returns text only, so these families cannot score class names.
    write_benchmark(pytester, str(remote_checkpoints["minicpm-v"]), extra="  likelihood: {}\n")
    result = pytester.runpytest("--vlm-trust-remote-code")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*model tiny-minicpm-v cannot score answers, so it cannot run the likelihood strategy; use closed_set*"]
    )


# --- issue 10, finding 8: published code that cannot run with transformers 5 fails fast ----------


@pytest.mark.parametrize(
    ("alias", "needs"),
    [
        ("minicpm-v-2_6-remote-code", "uses transformers APIs that transformers {version} no longer has"),
        ("phi-3-vision-remote-code", "uses transformers APIs that transformers {version} no longer has"),
    ],
)
def test_seed_checkpoints_with_transformers_4_code_fail_fast(
    alias: str, needs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before any download or import: no hub access is attempted."""
    import transformers
    from transformers import AutoConfig

    def no_hub(*args: object, **kwargs: object) -> None:
        raise AssertionError("the checkpoint was fetched")

    monkeypatch.setattr(AutoConfig, "from_pretrained", no_hub)
    spec = replace(ALIASES[alias], allow_remote_code=True)
    with pytest.raises(ModelError) as exc:
        load_model(spec, RuntimeOptions(device="cpu"))
    removed = "modeling_attn_mask_utils, from_legacy_cache, seen_tokens, get_usable_length"
    assert str(exc.value) == (
        f"model {alias} ({spec.source}): the checkpoint's own code "
        f"{needs.format(version=transformers.__version__)} ({removed}), so it cannot run with this "
        f"transformers. What works instead: serve it with vLLM and use --vlm-model vllm:{spec.source}, or a "
        "transformers-native family (qwen2-vl-7b, qwen2.5-vl-7b, internvl3-2b, llava-v1.6-mistral-7b, "
        "llama-3.2-11b-vision)."
    )


def test_internvl2_needs_einops(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    if importlib.util.find_spec("einops") is not None:
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "einops" else object())
    spec = replace(ALIASES["internvl2-2b-remote-code"], allow_remote_code=True)
    with pytest.raises(ModelError) as exc:
        load_model(spec, RuntimeOptions(device="cpu"))
    assert "imports einops, which is not installed (pip install einops)" in str(exc.value)
    assert "--vlm-model vllm:OpenGVLab/InternVL2-2B" in str(exc.value)


def test_a_folder_whose_code_uses_removed_apis_fails_fast(tmp_path: Path, remote_checkpoints: dict[str, Path]) -> None:
    folder = tmp_path / "old-code"
    shutil.copytree(remote_checkpoints["minicpm-v"], folder)
    modeling = folder / "modeling_tiny.py"
    modeling.write_text(
        "from transformers.modeling_attn_mask_utils import _prepare_4d_causal_attention_mask\n" + modeling.read_text()
    )
    spec = replace(resolve_model(str(folder), base_dir=tmp_path), allow_remote_code=True)
    with pytest.raises(ModelError) as exc:
        load_model(spec, RuntimeOptions(device="cpu"))
    assert str(exc.value).startswith(
        f"model old-code ({folder}): the checkpoint's own code uses transformers APIs that transformers "
    )
    assert "(modeling_attn_mask_utils), so it cannot run with this transformers. What works instead:" in str(exc.value)
