"""Engines side by side: the naive loop, the transformers backend, vLLM offline and a vLLM server.

Every engine answers the same closed-set prompts (one shuffled class order per image) about the
same images. Rounds are interleaved (each round runs every engine once, in a rotating order, on
a fresh image set, so no engine meets a prefix it cached in an earlier round) and the medians are
reported (after one warm-up round): images per second, the ratio to the naive loop, and agreement with the transformers
backend (identical answer text; identical class read from it). One vLLM engine and one server run
at a time; on CPU every engine is pinned to ``--threads`` threads (vLLM: its OpenMP threads are
bound to the first cores).

The naive loop is benchmarks/perf.py's reference loop: one ``generate`` call per prompt, batch 1.

CPU (the embedded tiny-shapes; run with the vLLM venv's interpreter)::

    .venv-vllm/bin/python benchmarks/engines.py --images 70 --rounds 3

GPU: the real Qwen2-VL-7B-Instruct from the Hugging Face cache (``--model`` for another), 448 px
images (256 image tokens each); without it in the cache, a random-weight Qwen2-VL built from a
shrunk real config, said so in the output::

    python benchmarks/engines.py --gpu --images 256 --rounds 3

``--sweep-concurrency`` measures the server alone at 1..64 requests in flight instead. The last
line is JSON with every number.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # perf.py's naive loop and decoded images

CLASSES = ("circle", "square", "triangle", "star", "cross", "heart", "background")
CONCURRENCIES = (1, 2, 4, 8, 16, 32, 64)


def pin_threads(threads: int) -> None:
    """Before torch or vLLM start: every engine on the same ``threads`` cores."""
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    os.environ["VLLM_CPU_OMP_THREADS_BIND"] = f"0-{threads - 1}" if threads > 1 else "0"
    os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")


def requests_for(images: Sequence[Any]) -> list[Any]:
    from pytest_vlm.models.base import GenerationRequest
    from pytest_vlm.strategies.base import fill
    from pytest_vlm.strategies.closed_set import PROMPT, shuffled_order

    return [
        GenerationRequest(
            image,
            fill(PROMPT, "{classes}", ", ".join(shuffled_order(CLASSES, seed=0, image_id=image.id, vote=0))),
            12,
            CLASSES,
        )
        for image in images
    ]


def image_sets(count: int, rounds: int, size: int) -> list[list[Any]]:
    """One set of decoded images per round (seeds 100, 101, ...): the same for every engine. The
    first is the warm-up round's (first calls pay one-off costs), whose timings are not kept."""
    from perf import DecodedImage

    from pytest_vlm.data.sources import generated_images

    return [
        [
            DecodedImage(g.id, g.label, g.load())
            for g in generated_images(count, seed=100 + r, classes=CLASSES, size=size)
        ]
        for r in range(rounds + 1)
    ]


def checkpoint(gpu: bool, model: str, work: Path) -> tuple[str, str]:
    """(folder or hub id, what it is). CPU: the embedded model; GPU: ``model`` if cached, else shrunk."""
    from pytest_vlm.models.aliases import ALIASES, TINY_SHAPES_DIR

    if not gpu:
        return str(TINY_SHAPES_DIR), "tiny-shapes (embedded)"
    source = ALIASES[model].source if model in ALIASES else model
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(source, local_files_only=True), f"{source} (hub cache)"
    except Exception:  # noqa: BLE001 - any miss (not cached, no hub library) means the fallback
        from pytest_vlm.tiny.checkpoints import build_qwen2_vl

        folder = build_qwen2_vl(work / "shrunk-qwen2-vl", image_size=448, seed=0)
        return str(folder), f"random-weight Qwen2-VL (shrunk real config; {source} not in the hub cache)"


def timed(generate: Callable[[list[Any]], list[str]], requests: list[Any]) -> tuple[float, list[str]]:
    start = time.perf_counter()
    answers = generate(requests)
    return time.perf_counter() - start, answers


def compare(args: argparse.Namespace) -> dict[str, Any]:
    from perf import NaiveModel

    from pytest_vlm.models.device import RuntimeOptions
    from pytest_vlm.models.hf.model import HFModel
    from pytest_vlm.models.openai_compat import ApiOptions, OpenAICompatModel
    from pytest_vlm.models.spec import ModelSpec
    from pytest_vlm.models.vllm import VLLMModel, _staged_checkpoint
    from pytest_vlm.models.vllm_server import CPU_ARGS, vllm_server
    from pytest_vlm.strategies.answers import ClassMatcher

    work = Path(tempfile.mkdtemp(prefix="engines-"))
    source, what = checkpoint(args.gpu, args.model, work)
    staged = _staged_checkpoint(source)  # transformers next to torchvision wants a video processor config
    folder = str(staged or source)
    device = "cuda" if args.gpu else "cpu"
    runtime = RuntimeOptions(device=device, batch_size=args.batch_size)
    if not args.gpu:
        import torch

        torch.set_num_threads(args.threads)
    hf = HFModel(ModelSpec("hf", "hf", folder), runtime)
    options = (("gpu_memory_utilization", 0.35),) if args.gpu else ()
    offline = VLLMModel(ModelSpec("vllm", "vllm", folder, options=options), runtime)
    server_args = CPU_ARGS if not args.gpu else ("--gpu-memory-utilization", "0.35")
    sets = image_sets(args.images, args.rounds, 448 if args.gpu else 64)
    times: dict[str, list[float]] = {}
    answers: dict[str, list[str]] = {}
    with vllm_server(folder, "model", log=work / "server.log", args=server_args) as url:
        server = OpenAICompatModel(ModelSpec("server", "openai", "model", options=(("url", url),)), ApiOptions())
        engines: dict[str, Callable[[list[Any]], list[str]]] = {
            "naive loop": NaiveModel(hf).generate,
            "transformers backend": hf.generate,
            "vLLM offline": offline.generate,
            f"vLLM server (OpenAI backend, {server.concurrency} in flight)": server.generate,
        }
        names = list(engines)
        for r, images in enumerate(sets):
            requests = requests_for(images)
            hf.forget()
            for name in names[r % len(names) :] + names[: r % len(names)]:
                seconds, said = timed(engines[name], requests)
                if r > 0:  # round 0 warms up
                    times.setdefault(name, []).append(len(images) / seconds)
                    answers.setdefault(name, []).extend(said)
    offline.close()
    matcher = ClassMatcher(CLASSES)
    reference = answers["transformers backend"]
    naive = statistics.median(times["naive loop"])
    rows = {}
    for name in names:
        ips = statistics.median(times[name])
        rows[name] = {
            "images_per_s": round(ips, 1),
            "vs_naive": round(ips / naive, 2),
            "same_text": round(sum(a == b for a, b in zip(answers[name], reference)) / len(reference), 4),
            "same_class": round(
                sum(matcher.match(a) == matcher.match(b) for a, b in zip(answers[name], reference)) / len(reference), 4
            ),
            "rounds": [round(x, 1) for x in times[name]],
        }
    return {"model": what, "device": device, "images": args.images, "rounds": args.rounds, "engines": rows}


def sweep(args: argparse.Namespace) -> dict[str, Any]:
    """The server alone: requests per second at 1..64 in flight, interleaved rounds, medians."""
    from pytest_vlm.models.openai_compat import ApiOptions, OpenAICompatModel
    from pytest_vlm.models.spec import ModelSpec
    from pytest_vlm.models.vllm import _staged_checkpoint
    from pytest_vlm.models.vllm_server import CPU_ARGS, vllm_server

    work = Path(tempfile.mkdtemp(prefix="engines-"))
    source, what = checkpoint(args.gpu, args.model, work)
    folder = str(_staged_checkpoint(source) or source)
    sets = image_sets(args.images, args.rounds, 448 if args.gpu else 64)
    rates: dict[int, list[float]] = {}
    with vllm_server(folder, "model", log=work / "server.log", args=() if args.gpu else CPU_ARGS) as url:
        spec = ModelSpec("server", "openai", "model", options=(("url", url),))
        for r, images in enumerate(sets):
            requests = requests_for(images)
            for c in CONCURRENCIES[r % 7 :] + CONCURRENCIES[: r % 7]:
                seconds, _ = timed(OpenAICompatModel(spec, ApiOptions(concurrency=c)).generate, requests)
                if r > 0:  # round 0 warms up
                    rates.setdefault(c, []).append(len(requests) / seconds)
    return {
        "model": what,
        "requests": args.images,
        "rounds": args.rounds,
        "requests_per_s": {c: round(statistics.median(rates[c]), 1) for c in CONCURRENCIES},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=70, help="images per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per engine (pinned)")
    parser.add_argument("--batch-size", type=int, default=64, help="the transformers backend's batch size")
    parser.add_argument("--gpu", action="store_true", help="on a GPU, with --model from the hub cache")
    parser.add_argument("--model", default="qwen2-vl-7b", help="GPU mode: alias or hub id")
    parser.add_argument("--sweep-concurrency", action="store_true", help="server throughput at 1..64 in flight")
    args = parser.parse_args(argv)
    if not args.gpu:
        pin_threads(args.threads)
    result = sweep(args) if args.sweep_concurrency else compare(args)
    if args.sweep_concurrency:
        for c, rate in result["requests_per_s"].items():
            print(f"{c:>3} in flight: {rate:7.1f} requests/s")
    else:
        print(f"{result['model']} on {result['device']}, {args.images} images x {args.rounds} rounds")
        print(f"{'engine':55} {'img/s':>7} {'vs naive':>9} {'same text':>10} {'same class':>11}")
        for name, row in result["engines"].items():
            print(
                f"{name:55} {row['images_per_s']:7.1f} {row['vs_naive']:9.2f} "
                f"{row['same_text']:10.3f} {row['same_class']:11.3f}"
            )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
