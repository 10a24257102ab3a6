"""Import every module that defines tables, so that Database creates them all."""

from app import ratelimit as _ratelimit  # noqa: F401
from app.coaching import store as _chat  # noqa: F401
from app.knowledge import bases as _bases  # noqa: F401
from app.knowledge import enrichment as _enrichment  # noqa: F401
from app.roleplay import store  # noqa: F401
from app.slack import store as _slack  # noqa: F401
from app.training import store as _training  # noqa: F401
