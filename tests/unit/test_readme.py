from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_opens_with_the_two_setup_commands_and_ci_runs_the_second():
    lines = (ROOT / "README.md").read_text().splitlines()
    fence = lines.index("```bash")
    main_cmd, test_cmd, end = lines[fence + 1: fence + 4]
    assert end == "```" and fence <= 2
    assert "synthgen run" in main_cmd and "pytest" in test_cmd
    assert test_cmd in (ROOT / ".ci" / "run").read_text().splitlines()
