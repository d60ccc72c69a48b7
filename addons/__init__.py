"""Custom Rasa components (loaded by the Rasa server from the repository root)."""
