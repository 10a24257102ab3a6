"""The Slack app: events, slash commands and interactivity on one request URL."""
