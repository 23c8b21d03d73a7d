"""sftbench training side: model registry, configuration, SFT and classifier training."""
