"""The transformers backend: loading and placement, the generation loop with prefix reuse, scoring."""
