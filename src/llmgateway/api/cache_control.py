"""How a client steers the response cache, and how it learns what the cache did.

Both APIs take a `cache` object in the body (`{"ttl", "no_cache", "no_store", "paced",
"any_temperature"}`); `/v1`, whose clients cannot always add body fields, also takes
`x-llmgateway-cache-ttl`, `-no-cache`, `-no-store`, `-paced` and `-any-temperature` headers
(the body's fields win). What the cache did is in each answer's headers (call_headers.py).
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.datastructures import Headers

from llmgateway.api.schemas import CacheControl
from llmgateway.errors import ValidationFailedError
from llmgateway.vocabulary.requests import CacheOptions

_HEADER_PREFIX = "x-llmgateway-cache-"


def cache_options(body: CacheControl | None, headers: Headers) -> CacheOptions | None:
    from_headers = {
        name: headers[_HEADER_PREFIX + name.replace("_", "-")]
        for name in CacheControl.model_fields
        if _HEADER_PREFIX + name.replace("_", "-") in headers
    }
    if not from_headers:
        return None if body is None else body.options()
    try:
        merged = CacheControl.model_validate({**from_headers, **(body.model_dump(exclude_unset=True) if body else {})})
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ValidationFailedError(f"{_HEADER_PREFIX}{str(error['loc'][0]).replace('_', '-')}: {error['msg']}") from None
    return merged.options()
