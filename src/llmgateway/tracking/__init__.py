"""The request log: every call recorded off the request path, queryable, never lost."""
