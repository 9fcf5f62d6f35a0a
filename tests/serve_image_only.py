"""Run ``transformers serve`` on one checkpoint folder, loading its processor image-only.

Used by tests/test_openai_live.py as ``python tests/serve_image_only.py FOLDER PORT``. This is the real
``transformers serve`` server (the ``Serve`` command class the CLI runs: FastAPI + uvicorn, its own
model loading, chat template and generation), with one change: its ``ModelManager._load_processor``
calls ``AutoProcessor.from_pretrained``, which cannot build a Qwen2-VL processor without torchvision
(the video slot needs it), so here it loads the processor through pytest-vlm's image-only fallback,
exactly as the in-process backend does. Nothing else is patched; without torchvision there is no
other way to serve a Qwen2-VL checkpoint, and the tiny checkpoints pytest-vlm builds are Qwen2-VL.
"""

from __future__ import annotations

import sys


def main(folder: str, port: int) -> None:
    from transformers.cli.serve import Serve
    from transformers.cli.serving.model_manager import ModelManager

    from pytest_vlm.models.hf.processor import load_processor

    def _load_processor(self: ModelManager, model_id_and_revision: str, gguf_file: str | None = None) -> object:
        model_id, _, revision = model_id_and_revision.partition("@")
        return load_processor(model_id, revision=revision or None, trust_remote_code=self.trust_remote_code)

    ModelManager._load_processor = _load_processor  # type: ignore[method-assign]
    # force_model preloads the checkpoint before the port opens, so /health answering means ready.
    Serve(force_model=folder, host="127.0.0.1", port=port, device="cpu", dtype="float32", log_level="error")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
