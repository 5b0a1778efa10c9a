"""Directory Insights: the append-only event log.

`audit` owns the `Event` model, the one function that records an event
(`audit.services.event_record`), and the queries and exports admins use to read
the log. It depends on nothing else in Stratus; every other app writes here.
"""
