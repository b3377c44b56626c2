"""Fixtures of the noninterference twin suites, registered by tests/conftest.py.

The twins of tests/security/twins.py are compared through the CLI
(tests/security/test_noninterference.py), the HTTP API
(tests/api/test_api_noninterference.py) and on PostgreSQL
(tests/store/contract/test_postgres_noninterference.py). Each of those modules
builds its twins through one shared pipeline, under one scratch folder.

The loaded pipeline is built once a session: it holds the Enricher and the
entity spans of each text already seen — pure results, nothing from any
workspace — and its gazetteer is a copy of the session's. Installing it (every
Workspace opened gets it, embeddings are memoised) lasts one module only, so
no other test ever runs with it.

Importing this module puts tests/security on the path, where `twins` lives;
`twins` itself is imported only by the fixtures that need it.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from conftest import seed_gazetteer

SECURITY = Path(__file__).resolve().parent / "security"
if str(SECURITY) not in sys.path:
    sys.path.insert(0, str(SECURITY))

if TYPE_CHECKING:
    from twins import Pipeline


def twin_settings(max_examples: int) -> settings:
    """Hypothesis settings of a twin property: every example builds two workspaces."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.function_scoped_fixture,
        ],
    )


@pytest.fixture(scope="session")
def loaded_twin_pipeline(
    tmp_path_factory: pytest.TempPathFactory, built_gazetteer: Path
) -> Pipeline:
    """One Enricher and memoised entity spans, not installed: see `twin_pipeline`."""
    from twins import Pipeline

    folder = tmp_path_factory.mktemp("pipeline")
    seed_gazetteer(folder, built_gazetteer)
    return Pipeline(folder)


@pytest.fixture(scope="module")
def twin_pipeline(loaded_twin_pipeline: Pipeline) -> Iterator[Pipeline]:
    """The shared Enricher and memoised embeddings, for every twin of the module
    (and for the servers of the API twins, which run in this process)."""
    with loaded_twin_pipeline.installed():
        yield loaded_twin_pipeline


@pytest.fixture(scope="module")
def twin_scratch() -> Iterator[Path]:
    """The folder the module's twins are built in, each in a folder of its own."""
    from twins import scratch_folder

    folder = scratch_folder()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
