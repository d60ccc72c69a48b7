"""Retrieval: bilingual dense + lexical search over the knowledge base, with confidence bands."""
