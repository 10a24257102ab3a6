"""The one Slack request URL: events, slash commands and interactivity all arrive at POST /slack/events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response

from app.container import Container

if TYPE_CHECKING:
    from app.slack.bot import SlackBot

router = APIRouter(tags=["slack"])


def build_slack(container: Container) -> SlackBot | None:
    """Return the Slack bot when both Slack credentials are set, else None (the routes stay off)."""
    if not container.settings.slack_enabled:
        return None
    from app.slack.bot import SlackBot  # slack-bolt and aiohttp load only when Slack is on

    return SlackBot(container)


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request) -> Response:
    """Verify the Slack signature and dispatch the request; Bolt acknowledges within Slack's 3 seconds."""
    bot: SlackBot = request.app.state.slack
    return await bot.handle(request)
