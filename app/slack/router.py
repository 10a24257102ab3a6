"""The one Slack request URL: events, slash commands and interactivity all arrive at POST /slack/events."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.container import Container
from app.slack.bot import SlackBot

router = APIRouter(tags=["slack"])


def build_slack(container: Container) -> SlackBot | None:
    """Return the Slack bot when both Slack credentials are set, else None (the routes stay off)."""
    return SlackBot(container) if container.settings.slack_enabled else None


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request) -> Response:
    """Verify the Slack signature and dispatch the request; Bolt acknowledges within Slack's 3 seconds."""
    bot: SlackBot = request.app.state.slack
    return await bot.handle(request)
