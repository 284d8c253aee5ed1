"""`pulse ingest`: the HTTP intake speaking Segment's tracking API."""
