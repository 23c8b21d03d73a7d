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
