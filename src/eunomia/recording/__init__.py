"""Recordings: what each container did, kept on disk (`eunomia record`).

    DIR/index.json                 the run: tool, host, window, trackers, containers, drops
    DIR/<name>-<short id>/         one folder per container
        events.jsonl               every enriched event, appended as it arrives
        report.json                the container's behaviour, folded (schema/report.schema.json)
        processes.csv files.csv network.csv syscalls.csv capabilities.csv signals.csv

The layout and both JSON Schemas are documented in docs/report.md.
"""

SCHEMA_VERSION = 1
