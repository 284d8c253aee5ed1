"""Pulse's runtime: Faust app, topics, agents, tables, CLI and notifiers."""
