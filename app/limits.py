"""Input limits shared by the HTTP API, the CLI and Slack."""

MAX_QUERY_CHARS = 2000
MAX_MESSAGE_CHARS = 4000
