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


def test_a_closed_pipe_is_not_a_traceback():
    """`euroqci keyrate ... | head -1`: the reader leaves early; no traceback on stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "euroqci", "keyrate", "--distance-km", "0:200:1", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err
