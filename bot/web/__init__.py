"""The customer-facing web assets: the chat widget and the demo store page (no build step)."""

from pathlib import Path

STATIC_DIR = Path(__file__).with_name("static")
