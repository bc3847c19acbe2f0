"""The project's promises about itself: README's commands are the ones CI runs."""

from __future__ import annotations

import re

from conftest import REPO


def _commands() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Two commands on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_gives_two_commands() -> None:
    main, tests = _commands()
    assert main.startswith("scripts/install.sh && ")
    assert tests.startswith("scripts/install.sh --dev && ")


def test_ci_runs_readmes_test_command() -> None:
    _, tests = _commands()
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci.splitlines()


def test_main_command_is_the_demo() -> None:
    main, _ = _commands()
    assert main.endswith("edoc demo")
    assert (REPO / "examples" / "ke-hoach-papi-2020.yaml").is_file()


def test_embedding_example_runs() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "embed.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "signed by" in result.stdout
    assert "BC-UBND" in result.stdout
