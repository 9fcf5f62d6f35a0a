from __future__ import annotations

from pathlib import Path

import pytest

# pytester's in-process runs unload the modules each inner run imported; numpy's C extension
# cannot be imported twice in one process, so load what the plugin uses up front.
import sklearn.metrics  # noqa: F401  isort: skip
import PIL.JpegImagePlugin  # noqa: F401  isort: skip  (the HTML report's thumbnails)

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def tiny_qwen2_vl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight Qwen2-VL checkpoint folder built from config, with a locally trained tokenizer."""
    from pytest_vlm.tiny.checkpoints import build_qwen2_vl

    return build_qwen2_vl(tmp_path_factory.mktemp("ckpt") / "tiny-qwen2-vl", seed=0)


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One random-weight checkpoint folder per supported transformers family (tiny/families.py),
    built once per session: family name -> folder."""
    from pytest_vlm.tiny.families import TINY_FAMILIES

    root = tmp_path_factory.mktemp("families")
    return {family.name: family.build(root / family.name, 0) for family in TINY_FAMILIES}


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def example_data(tmp_path: Path) -> Path:
    """A copy of the shared example data in fixtures/ (Caltech-layout folder, manifests, example
    specs), so a test can run and record baselines without touching the repository."""
    import shutil

    return Path(shutil.copytree(FIXTURES, tmp_path / "fixtures", ignore=shutil.ignore_patterns("__*__")))
