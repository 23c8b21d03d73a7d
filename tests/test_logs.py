"""How much the libraries under the toolkit say: their noise kept out at the normal level, back with --verbose."""

import logging

from sftbench_common.logs import NORMAL, VERBOSE, setup_logging


def test_bitsandbytes_kernel_warning_is_kept_out_unless_verbose():
    # bitsandbytes/backends/cpu/ops.py warns through this logger on CPUs with AVX-512 BF16 when it cannot fetch
    # an optional kernel from the Hub (always, offline)
    ops = logging.getLogger("bitsandbytes.backends.cpu.ops")
    library = logging.getLogger("bitsandbytes")
    before = library.level
    try:
        setup_logging(NORMAL)
        assert not ops.isEnabledFor(logging.WARNING) and ops.isEnabledFor(logging.ERROR)
        setup_logging(VERBOSE)
        assert ops.isEnabledFor(logging.WARNING)
    finally:
        library.setLevel(before)
        setup_logging(NORMAL)


def test_a_command_writes_no_environment_and_puts_its_logging_back(tmp_path):
    """State is passed, not set: a command with a results folder of its own leaves SFTBENCH_RESULTS as it was
    (a second call does not nest results/study/study), and its warning filters, log levels and the libraries'
    settings last as long as the command (no test saves and restores the environment around it)."""
    import os
    import warnings

    from tests.helpers import run_sftbench

    experiment = tmp_path / "exp.yaml"
    experiment.write_text("name: t\nresults: own\ntasks: [mushroom]\nruns:\n  - {model: minilm-l6, method: full}\n")
    environment, filters = dict(os.environ), list(warnings.filters)
    level = logging.getLogger("sftbench").level
    for _ in range(2):
        done = run_sftbench("train-all", "--experiment", str(experiment), "--list", "-q")
        assert done.returncode == 0, done.stderr
    assert dict(os.environ) == environment and warnings.filters == filters
    assert logging.getLogger("sftbench").level == level
    listed = run_sftbench("train-all", "--experiment", str(experiment), "--list")
    assert "results/runs" not in listed.stdout.replace(os.environ["SFTBENCH_RESULTS"], "results")
    assert f"{os.environ['SFTBENCH_RESULTS']}/own/runs/mushroom/minilm-l6-full" in listed.stdout
    assert "own/own" not in listed.stdout
