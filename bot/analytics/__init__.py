"""What the knowledge base did for customers: per-article outcomes and the gap report."""
