"""sftbench benchmark side: evaluate base and fine-tuned models on the held-out split."""
