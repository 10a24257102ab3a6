"""Sales Coach: a coaching chatbot grounded in a company's sales standards."""

__version__ = "0.1.0"
