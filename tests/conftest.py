import pytest

from costlaw import datasets


@pytest.fixture(scope="session")
def paper_runs():
    return datasets.paper_runs()


@pytest.fixture(scope="session")
def reproduced_paper(tmp_path_factory):
    """One ``costlaw reproduce`` of the bundled runs for the whole session: (output folder, printed report)."""
    import contextlib
    import io

    from costlaw.cli import main

    out = tmp_path_factory.mktemp("paper")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["reproduce", "--out", str(out)]) == 0
    return out, printed.getvalue()
