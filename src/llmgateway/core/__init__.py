"""The pipeline of one request: validation, routing, retries, the call itself."""
