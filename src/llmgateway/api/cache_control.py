"""How a client steers the response cache, and how it learns what the cache did.

Both APIs take a `cache` object in the body (`{"ttl", "no_cache", "no_store", "paced",
"any_temperature"}`); `/v1`, whose clients cannot always add body fields, also takes
`x-llmgateway-cache-ttl`, `-no-cache`, `-no-store`, `-paced` and `-any-temperature` headers
(the body's fields win). Every answer of a cacheable request says `x-llmgateway-cache: hit`,
`miss` or `bypass`, and its key (`x-llmgateway-cache-key`, a hash that reveals nothing).
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.datastructures import Headers

from llmgateway.api.schemas import CacheControl
from llmgateway.core.call import Call
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


def cache_header(call: Call) -> dict[str, str]:
    """What the cache did, and the answer's key (for `DELETE /api/admin/cache?key=`)."""
    status = call.cache_status
    if status is None:
        return {}
    return {"x-llmgateway-cache": status, "x-llmgateway-cache-key": call.cache_key or ""}
