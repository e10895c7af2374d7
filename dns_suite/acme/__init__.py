"""The ACME agent: DNS-01 certificates through RFC 2136 UPDATE."""
