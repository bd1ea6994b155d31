"""A container's recorded behaviour, and drift from it (`eunomia run --baseline DIR`)."""
