"""Typed contracts at the boundaries between services: one frozen type per message, with to_json/parse."""
