"""The ``--vlm-*`` options that take a value, each with its ini key, metavar, help and default.

Declared as data (options.py adds them to pytest's parser and reads them back), so a flag and its
ini key cannot drift apart, and the rootdir check knows every flag that takes a value.
"""

from __future__ import annotations

# (option, ini key, metavar, help, default): one table so each flag and its ini key cannot drift apart.
VALUED_OPTIONS = (
    (
        "--vlm-device",
        "vlm_device",
        "DEVICE",
        "device for models: auto (GPU when present), cpu, cuda, cuda:N, mps",
        "auto",
    ),
    (
        "--vlm-dtype",
        "vlm_dtype",
        "DTYPE",
        "weights dtype: auto (bf16 on GPU, fp32 on CPU), float32, bfloat16, float16",
        "auto",
    ),
    ("--vlm-batch-size", "vlm_batch_size", "N", "most prompts per model call (batches are sized by tokens too)", "64"),
    (
        "--vlm-max-pixels",
        "vlm_max_pixels",
        "N",
        "pixels per image kept by processors that keep the photo's resolution (Qwen2-VL: max_pixels); "
        "0: the checkpoint's own cap",
        None,
    ),
    (
        "--vlm-device-map",
        "vlm_device_map",
        "auto|none",
        "auto: spread each model over the worker's GPUs; none: never; default: only when it does not fit on one",
        None,
    ),
    ("--vlm-json", "vlm_json", "PATH", "write every metric and per-image prediction as JSON to this path", None),
    ("--vlm-seed", "vlm_seed", "N", "seed of the closed-set shuffles, overriding each spec's 'seed'", None),
    (
        "--vlm-prefix-reuse",
        "vlm_prefix_reuse",
        "on|off",
        "on: encode each image and the prompt's shared start once for all its questions; off: plain generate",
        "on",
    ),
    (
        "--vlm-early-stop",
        "vlm_early_stop",
        "on|off",
        "on: stop decoding an answer once it is settled among the strategy's answers; off: decode to the end",
        "on",
    ),
    (
        "--vlm-api-base",
        "vlm_api_base",
        "URL",
        "base URL of the OpenAI-compatible server for openai: models and gpt-4o",
        None,
    ),
    (
        "--vlm-api-key-env",
        "vlm_api_key_env",
        "NAME",
        "environment variable holding the API key, OPENAI_API_KEY when not given",
        None,
    ),
    (
        "--vlm-api-concurrency",
        "vlm_api_concurrency",
        "N",
        "requests in flight at once per remote model (default 8 for api.openai.com, 32 for other servers)",
        None,
    ),
    (
        "--vlm-api-max-image-side",
        "vlm_api_max_image_side",
        "PIXELS",
        "downscale images whose longest side is larger to this many pixels before sending them",
        None,
    ),
    (
        "--vlm-api-timeout",
        "vlm_api_timeout",
        "SECONDS",
        "seconds for one whole remote request before it is retried",
        "120",
    ),
    ("--vlm-api-retries", "vlm_api_retries", "N", "retries after a 429, 5xx, timeout or lost connection", "4"),
    (
        "--vlm-baseline",
        "vlm_baseline",
        "MODEL",
        "compare every model with this model's stored baselines (read-only) instead of its own",
        None,
    ),
    ("--vlm-markdown", "vlm_markdown", "PATH", "write a Markdown summary to this path", None),
    ("--vlm-html", "vlm_html", "PATH", "write a self-contained HTML report to this path", None),
    ("--vlm-tensor-parallel-size", "vlm_tensor_parallel_size", "N", "vLLM models: GPUs each model is split over", None),
    ("--vlm-pipeline-parallel-size", "vlm_pipeline_parallel_size", "N", "vLLM models: pipeline stages", None),
    ("--vlm-data-parallel-size", "vlm_data_parallel_size", "N", "vLLM models: replicas of each model", None),
    (
        "--vlm-gpu-memory-utilization",
        "vlm_gpu_memory_utilization",
        "SHARE",
        "vLLM models: share of each GPU's memory the engine may take (0-1]",
        None,
    ),
    (
        "--vlm-max-model-len",
        "vlm_max_model_len",
        "TOKENS",
        "vLLM models: context length (tokens) to reserve KV cache for",
        None,
    ),
)
# Every option that takes a value: pytest reads a value written as its own argument for a test path
# when it picks the rootdir (rootdir_check.py).
VALUED_FLAGS = (
    "--vlm-model",
    "--vlm-files",
    "--vlm-cache",
    "--vlm-progress-after",
    *(row[0] for row in VALUED_OPTIONS),
)
