"""The DNS wire codec (RFC 1035 §3-4, RFC 3597, RFC 6891), standard library only."""
