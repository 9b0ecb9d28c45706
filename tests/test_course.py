"""The generated parts of the course (badges, setup cells, table) agree with pyproject.toml."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def course():
    spec = importlib.util.spec_from_file_location("course", ROOT / "tools" / "course.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["course"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_cells_and_readme_are_up_to_date():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "course.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_different_repository_address_is_detected(course, monkeypatch):
    monkeypatch.setattr(course, "repository_url", lambda: "https://github.com/someone/else")
    stale = course.sync(check=True)
    assert "README.md" in stale and any(s.startswith("notebooks/") for s in stale)


def test_every_badge_and_setup_cell_uses_the_one_address(course):
    url = course.repository_url()
    owner_repo = url.removeprefix("https://github.com/")
    text = (ROOT / "README.md").read_text()
    for entry in course.course_entries():
        nb = entry.path.read_text()
        assert f"github/{owner_repo}/blob/main/notebooks/{entry.path.name}" in nb
        assert f"github/{owner_repo}/blob/main/notebooks/{entry.path.name}" in text
        assert url in nb  # the Colab setup cell clones it


def test_setup_cell_comes_first_and_is_executed(course):
    import nbformat

    for entry in course.course_entries():
        nb = nbformat.read(entry.path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "course:setup" in code[0].metadata.get("tags", []), entry.path.name
        assert all(c.execution_count is not None for c in code), f"{entry.path.name} not executed"
