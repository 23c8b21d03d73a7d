"""The executors' names, their one home: sft/executors.py maps each to its implementation, and the command line
offers them without importing it (importing the executors loads the training stack, half a second on --help)."""

EXECUTORS = ("local", "ray", "slurm")  # train-all and bench --executor
SUBMITIT_CLUSTERS = ("slurm", "local", "debug")  # --cluster: submitit's executors behind --executor slurm
