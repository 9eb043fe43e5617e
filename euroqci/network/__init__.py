"""Network topology, planning, routing and relay accounting (pure logic)."""
