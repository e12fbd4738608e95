"""Who is calling: verify the request's signature against the store's access keys."""

from __future__ import annotations

from invalidator.api.auth.legacy import verify_legacy
from invalidator.api.auth.request import ParsedSigV4, SignedRequest, parse_authorization
from invalidator.api.auth.sigv4 import verify_sigv4
from invalidator.api.http import Request
from invalidator.domain.clock import Clock
from invalidator.domain.errors import AccessDenied, InvalidClientTokenId, ServiceError
from invalidator.domain.models import AccessKey
from invalidator.domain.ports import Store


class Authenticator:
    """SigV4 (every version) and the seed's `AWS key:signature` (up to 2013-05-12)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def authenticate(self, request: Request, version: str) -> AccessKey:
        """The calling key, or the matching authentication error."""
        signed = SignedRequest(
            method=request.method,
            raw_path=request.raw_path,
            query_string=request.query_string,
            headers=request.headers,
            body=request.body,
        )
        parsed = parse_authorization(signed, version)
        try:
            key = await self._store.get_access_key(parsed.access_key_id)
            if key is None or key.revoked:
                raise InvalidClientTokenId()
            now = self._clock.now()
            if isinstance(parsed, ParsedSigV4):
                verify_sigv4(signed, parsed, key.secret_access_key, now)
            else:
                verify_legacy(signed, parsed, key.secret_access_key, now)
        except ServiceError as exc:
            exc.access_key_id = parsed.access_key_id  # logged (a key id is no secret)
            raise
        return key


def authorize(key: AccessKey, operation: str, distribution_id: str, account_id: str) -> None:
    """AccessDenied unless the key may act on the distribution."""
    if not key.allows(distribution_id):
        arn = f"arn:aws:cloudfront::{account_id}:distribution/{distribution_id}"
        raise AccessDenied(
            f"User: {key.access_key_id} is not authorized to perform: "
            f"cloudfront:{operation} on resource: {arn}"
        )
