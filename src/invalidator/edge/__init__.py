"""The edge data plane: freshness rules, lazy purge rules, the object cache and the proxy.

Imports `invalidator.domain` only; the propagation side drives it through `EdgeCache.purge`,
`EdgeProxy.set_distributions` and a `ServeGate`.
"""
