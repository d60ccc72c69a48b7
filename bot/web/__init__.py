"""The web assets, no build step: the chat widget, its demo store page, and the staff consoles
(agent, editor) built on one shared console module (console.js, console.css)."""

from pathlib import Path

STATIC_DIR = Path(__file__).with_name("static")
