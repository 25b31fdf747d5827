"""A wheel built from the repository holds every app of ours: its modules, migrations and
management commands. (A wheel without schools or reports installs, then fails to start.)"""

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# Not part of a wheel; and an in-tree build would leave build/ and *.egg-info in the checkout.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.pyc", "build", "*.egg-info", ".*_cache", "tests", "bench"
)


def our_packages() -> list[str]:
    """The project package and the top-level package of every installed app in this repo."""
    names = {app.split(".")[0] for app in settings.INSTALLED_APPS}
    apps = sorted(name for name in names if (ROOT / name / "__init__.py").is_file())
    return [settings.ROOT_URLCONF.split(".")[0], *apps]


def files_of(package: str) -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def build_wheel(tmp_path: Path) -> Path:
    """Build as pip would (PEP 517, the backend pyproject names), from a copy of the tree.

    The backend is installed into a folder of its own and called once: pip wheel runs it three
    times in fresh processes, twice as slow here."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    build_system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    backend = tmp_path / "backend"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", backend]
        + build_system["requires"],
        check=True,
    )
    out = tmp_path / "dist"
    out.mkdir()
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, {build_system['build-backend']} as backend; "
            "backend.build_wheel(sys.argv[1])",
            str(out),
        ],
        cwd=source,
        env={**os.environ, "PYTHONPATH": str(backend)},
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("*.whl")
    return wheel


def test_a_built_wheel_holds_every_app(tmp_path):
    packages = our_packages()
    assert set(packages) >= {"triage", "accounts", "incidents", "policies", "reports", "schools"}
    in_wheel = set(zipfile.ZipFile(build_wheel(tmp_path)).namelist())
    missing = {package: sorted(files_of(package) - in_wheel) for package in packages}
    assert {package: files for package, files in missing.items() if files} == {}
    assert "incidents/migrations/0001_initial.py" in in_wheel
    assert "schools/management/commands/import_oneroster.py" in in_wheel
