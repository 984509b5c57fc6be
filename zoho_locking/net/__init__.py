"""How the package's HTTP sessions reach the network: the pool, the resend guard, proxies.

`session.make_session` builds every aiohttp session the package creates (and the
one a user shares between clients); `proxy.Proxies` says which proxy each
request goes through and keeps its credentials out of every message.
"""
