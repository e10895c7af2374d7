"""The request pipeline shared by the services: small synchronous handlers and middleware.

``Handler = (query_octets, client_address) -> reply_octets | None`` (the shape of
:mod:`dns_suite.net.udp` and :mod:`dns_suite.net.tcp`): ``None`` drops the query, an empty
reply defers it to the service's asynchronous path. ``Middleware = Handler -> Handler``.
"""
