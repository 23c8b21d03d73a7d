"""The `sftbench` command (sftbench/cli.py): the top layer, over bench, sft, prompts and sftbench_common."""
