import pytest

from costlaw import datasets


@pytest.fixture(scope="session")
def paper_runs():
    return datasets.paper_runs()
