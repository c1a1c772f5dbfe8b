"""Thin orchestration: the Faust app, the router service and the CLI."""
