"""`python -m sftbench ...` (and `accelerate launch -m sftbench ...`): the same as the `sftbench` command."""

from sftbench.cli import main

main()
