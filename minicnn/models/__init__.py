"""The classic architectures."""
