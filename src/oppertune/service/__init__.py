"""The tuning service: HTTP API (`app`), SQL storage (`storage`), API keys (`auth`), server-side
aggregation (`aggregation`), the Python client (`client.RemoteTuner`) and the commands (`commands`).

Nothing is imported here, so that the client does not pull in the server's dependencies.
"""
