"""dns_suite: authoritative server, resolver and ACME agent sharing one DNS wire codec."""

__version__ = "0.1.0"
