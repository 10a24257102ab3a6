"""Import every module that defines tables, so that Database creates them all."""
from app.roleplay import store  # noqa: F401
