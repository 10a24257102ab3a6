"""The knowledge base: Markdown files -> items -> an index -> ranked hits."""
