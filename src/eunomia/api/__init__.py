"""The agent's HTTP API: REST under /api/v1, GraphQL at /graphql, a stream
of events and alerts, and a live page at /, served by `eunomia run --api`.

One resolver layer (model.py) reads the running agent; REST (rest.py) and
GraphQL (graphql.py) are two front doors to it.  Loaded only with --api:
the web stack costs memory an agent without it does not pay.
"""

DEFAULT_API_ADDRESS = "127.0.0.1:8527"  # where --api on (or `api: true` in the config) serves
