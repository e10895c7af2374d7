"""Zone data: the zone-file reader, the immutable zone snapshot and its loader."""
