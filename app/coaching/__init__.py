"""Grounded coaching answers: the offline composer, the LLM chain and the provider registry."""
