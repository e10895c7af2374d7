"""The authoritative server: a pure answer engine, pre-rendered replies, and a thin I/O service."""
