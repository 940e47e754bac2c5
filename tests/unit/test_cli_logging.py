"""The command changes process-wide logging for the terminal, and puts it back when it returns.

A program (or a test session) that calls ``credit_monitor_cli.main()`` and then runs a poller in the same
process must still see urllib3's retry warnings and its own log lines: the last CI run lost them after an
in-process ``credit-monitor spend`` had set urllib3's level to CRITICAL for good.
"""

import logging

import pytest

from credit_monitor_cli import main


@pytest.mark.parametrize("verbose", [[], ["--verbose"]])
def test_logging_is_as_it_was_after_the_command_returns(verbose, tmp_path, capsys):
    urllib3_logger = logging.getLogger("urllib3")
    before = (urllib3_logger.level, list(urllib3_logger.handlers), urllib3_logger.propagate)
    assert main([*verbose, "validate-providers"]) == 0
    assert "ok: definitions/crun.json" in capsys.readouterr().out
    assert (urllib3_logger.level, list(urllib3_logger.handlers), urllib3_logger.propagate) == before
    assert urllib3_logger.getEffectiveLevel() < logging.CRITICAL
