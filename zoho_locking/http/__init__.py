"""One request over the network: the transport, the retry policy, and the exchange.

`transport` moves bytes (aiohttp, or `MockTransport` in process), `retry` says
which answers are worth another attempt and how long to wait, and `exchange`
sends one request through flow control with a token, retries and refresh.
"""
