"""Runtime security rules in Falco's syntax, evaluated on Eunomia's events."""
