"""The pipeline: runs trackers, enriches their events, hands them to sinks."""
