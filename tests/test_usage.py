"""What a user sees before any benchmark runs: --help, --vlm-list-models, one-line usage errors."""

from __future__ import annotations

import fnmatch

import pytest

HELP = {  # option as --help shows it -> what its help says
    "--vlm-model=MODEL": "*write a folder as --vlm-model=PATH*",
    "--vlm-files=GLOB": "*(default: *.vlm.yaml *.vlm.yml)",
    "--vlm-device=DEVICE": "*auto (GPU when present), cpu, cuda, cuda:N, mps (default: auto; ini: vlm_device)",
    "--vlm-dtype=DTYPE": "*(default: auto; ini: vlm_dtype)",
    "--vlm-batch-size=N": "*(default: 64; ini: vlm_batch_size)",
    "--vlm-seed=N": "*(ini: vlm_seed)",
    "--vlm-json=PATH": "*(ini: vlm_json)",
    "--vlm-markdown=PATH": "*(ini: vlm_markdown)",
    "--vlm-html=PATH": "*(ini: vlm_html)",
    "--vlm-cache=DIR": "*(default: .vlm_cache under the rootdir; ini: vlm_cache)",
    "--vlm-prefix-reuse=on|off": "*(default: on; ini: vlm_prefix_reuse)",
    "--vlm-early-stop=on|off": "*(default: on; ini: vlm_early_stop)",
    "--vlm-progress-after=SECONDS": "*(default: 2; ini: vlm_progress_after)",
    "--vlm-api-base=URL": "*(ini: vlm_api_base)",
    "--vlm-api-key-env=NAME": "*OPENAI_API_KEY when not given (ini: vlm_api_key_env)",
    "--vlm-api-concurrency=N": "*(default: 8; ini: vlm_api_concurrency)",
    "--vlm-api-timeout=SECONDS": "*(default: 120; ini: vlm_api_timeout)",
    "--vlm-api-retries=N": "*(default: 4; ini: vlm_api_retries)",
    "--vlm-baseline=MODEL": "*(ini: vlm_baseline)",
}


def test_help_names_each_value_and_shows_the_defaults(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # no wrapping: an option's help is on its line, or the next for long flags
    lines = pytester.runpytest("--help").stdout.lines
    starts = {line.split()[0]: i for i, line in enumerate(lines) if line.startswith("  --vlm-")}
    assert {flag for flag in starts if "=" in flag} == set(HELP)
    for flag, pattern in HELP.items():
        shown = " ".join(lines[starts[flag] : starts[flag] + 2])
        assert fnmatch.fnmatch(shown, pattern + "*"), (flag, shown)
