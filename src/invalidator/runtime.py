"""Composition root: the only place that picks concrete stores, propagation and clocks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from invalidator.api.app import ApiSettings, ControlPlaneApp
from invalidator.api.authn import Authenticator
from invalidator.api.distribution_ops import DistributionOperations
from invalidator.api.edge_ops import EdgeOperations
from invalidator.api.invalidation_ops import InvalidationOperations
from invalidator.api.metrics_ops import MetricsOperations
from invalidator.api.routing import Router
from invalidator.api.throttle import RateLimiter
from invalidator.api.wire.distribution_xml import DistributionWire
from invalidator.api.wire.shapes import ShapeModel
from invalidator.domain.access_keys import configured_key, new_access_key
from invalidator.domain.batches import Limits
from invalidator.domain.clock import Clock, SystemClock
from invalidator.domain.distribution_service import DistributionService
from invalidator.domain.ids import IdSource, RandomIds
from invalidator.domain.invalidations import InvalidationService
from invalidator.domain.models import AccessKey
from invalidator.domain.ports import Store
from invalidator.edge.agent import EdgeAgent
from invalidator.edge.cache import EdgeCache
from invalidator.edge.link import ControlPlaneLink
from invalidator.edge.proxy import EdgeProxy
from invalidator.propagation.coordinator import Coordinator
from invalidator.settings import Settings
from invalidator.store.sqlite import SqliteStore

log = logging.getLogger("invalidator.keys")


def open_store(settings: Settings) -> SqliteStore:
    """The configured store (SQLite in the data directory), migrated."""
    return SqliteStore(settings.database_path)


async def ensure_access_key(
    store: Store,
    settings: Settings,
    clock: Clock,
    ids: IdSource,
    *,
    update_secret: bool = True,
) -> AccessKey | None:
    """Make sure a key exists. Returns a key created now whose secret must be shown once.

    The configured pair (INVALIDATOR_ACCESS_KEY_ID / _SECRET_ACCESS_KEY) is created, when set
    and missing, allowed on every distribution. A stored key of that id keeps its scope and
    description; `serve` (`update_secret`) replaces its secret when the configured one
    differs, a client command (not `update_secret`) leaves it as it is: it only signs with the
    pair, and a stale secret in a shell must not overwrite a rotated one. A configured key
    that was revoked stays revoked (a warning says so): revocation is never undone by a
    restart. Only one of the two set is a SettingsError. Otherwise, when the store holds no
    key at all, a fresh one is generated.
    """
    pair = settings.key_pair()
    if pair is not None:
        key_id, secret = pair
        current = await store.get_access_key(key_id)
        if current is None:
            await store.put_access_key(configured_key(key_id, secret, clock.now()))
        elif current.revoked:
            log.warning(
                "the configured access key was revoked and stays revoked: requests signed "
                "with it get InvalidClientTokenId; configure another key pair",
                extra={"access_key_id": key_id},
            )
        elif update_secret and current.secret_access_key != secret:
            await store.put_access_key(replace(current, secret_access_key=secret))
        return None
    if await store.list_access_keys():
        return None
    key = new_access_key(ids, clock.now(), description="bootstrap key")
    await store.put_access_key(key)
    return key


@dataclass
class ControlPlane:
    """A wired control plane: store, propagation, service and the ASGI app."""

    settings: Settings
    store: Store
    propagation: Coordinator
    service: InvalidationService
    distributions: DistributionService
    app: ControlPlaneApp
    clock: Clock = field(default_factory=SystemClock)

    async def start(self) -> None:
        """Start background work (resumes InProgress invalidations)."""
        await self.propagation.start()

    async def stop(self) -> None:
        """Stop background work and close the store (queued writes are flushed)."""
        await self.propagation.stop()
        await self.store.close()


def build_control_plane(
    settings: Settings,
    store: Store | None = None,
    clock: Clock | None = None,
    ids: IdSource | None = None,
) -> ControlPlane:
    """Wire the embedded default deployment."""
    clock = clock or SystemClock()
    ids = ids or RandomIds()
    store = store or open_store(settings)
    propagation = Coordinator(store, clock, ids, lease_seconds=settings.lease_seconds)
    limits = Limits(
        max_batch_paths=settings.max_batch_paths,
        max_in_progress_files=settings.max_in_progress_files,
        max_in_progress_wildcards=settings.max_in_progress_wildcards,
    )
    service = InvalidationService(
        store, propagation, clock, ids, limits, create_wait=settings.create_wait
    )
    distributions = DistributionService(store, propagation, clock, ids, settings.domain_suffix)
    wire = DistributionWire(ShapeModel.load(), settings.account_id)
    router = Router(
        InvalidationOperations(service).routes()
        + DistributionOperations(distributions, wire, settings.account_id).routes()
        + EdgeOperations(propagation, store).routes()
        + MetricsOperations(propagation).routes()
    )
    limiter = (
        RateLimiter(settings.rate_limit, settings.rate_burst) if settings.rate_limit > 0 else None
    )
    api_settings = ApiSettings(
        max_body_bytes=settings.max_body_bytes,
        body_timeout=settings.body_timeout,
        account_id=settings.account_id,
        public_url=settings.public_url or None,
    )
    app = ControlPlaneApp(router, Authenticator(store, clock), api_settings, limiter)
    return ControlPlane(settings, store, propagation, service, distributions, app, clock)


@dataclass
class EdgeNode:
    """A wired edge: cache, proxy (ASGI app) and the agent that keeps it in step."""

    cache: EdgeCache
    proxy: EdgeProxy
    agent: EdgeAgent
    link: ControlPlaneLink

    async def start(self) -> None:
        """Open the origin pool, register and follow the log."""
        await self.proxy.startup()
        await self.agent.start()

    async def stop(self) -> None:
        """Leave the fleet and release connections."""
        await self.agent.stop()
        await self.proxy.aclose()
        await self.link.aclose()


class _LateGate:
    """The proxy's ServeGate, bound to the agent once both exist."""

    agent: EdgeAgent | None = None

    def position(self) -> int:
        return self.agent.position() if self.agent else 0

    def may_serve_from_cache(self) -> bool:
        return self.agent.may_serve_from_cache() if self.agent else False


def build_edge(settings: Settings, link: ControlPlaneLink, name: str, url: str) -> EdgeNode:
    """Wire an edge around a link to the control plane."""
    cache = EdgeCache(settings.cache_max_bytes, settings.cache_max_object_bytes)
    gate = _LateGate()
    proxy = EdgeProxy(cache, gate, read_timeout=settings.origin_timeout)
    agent = EdgeAgent(link, cache, proxy, name, url, heartbeat_interval=settings.heartbeat_seconds)
    gate.agent = agent
    return EdgeNode(cache, proxy, agent, link)
