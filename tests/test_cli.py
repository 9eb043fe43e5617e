"""The command-line shell: help, usage errors and exit statuses."""

import subprocess
import sys

from euroqci.cli import main


def test_help_lists_commands(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error():
    result = subprocess.run(
        [sys.executable, "-m", "euroqci", "no-such-command"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
