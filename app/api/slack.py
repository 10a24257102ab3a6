"""The one Slack request URL: events, slash commands and interactivity all arrive at POST /slack/events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response

from app.container import Container
from app.errors import BadRequestError

if TYPE_CHECKING:
    from app.slack.bot import SlackBot

router = APIRouter(tags=["slack"])


def build_slack(container: Container) -> SlackBot | None:
    """Return the Slack bot, started, when both Slack credentials are set, else None (the routes stay off).

    Call it from the running event loop (the app's lifespan)."""
    if not container.settings.slack_enabled:
        return None
    from app.slack.bot import SlackBot  # slack-bolt and aiohttp load only when Slack is on

    bot = SlackBot(container)
    bot.start()  # its sweeper finishes work acknowledged by a process that died
    return bot


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request) -> Response:
    """Verify the Slack signature and dispatch the request; Bolt acknowledges within Slack's 3 seconds."""
    timestamp = request.headers.get("x-slack-request-timestamp")
    # Bolt turns the header into an int unchecked: anything but whole seconds would be a 500.
    if timestamp is not None and not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise BadRequestError(
            "X-Slack-Request-Timestamp must be the request time in whole seconds since 1970, as Slack sends it"
        )
    bot: SlackBot = request.app.state.slack
    return await bot.handle(request)
