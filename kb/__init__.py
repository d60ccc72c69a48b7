"""The knowledge base: articles with full version history, storage, import and export."""
