"""Transports shared by the services (I/O): UDP loops and the TCP server."""
