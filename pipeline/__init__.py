"""The streaming graph engine: packets, stages, scheduler, sources and sinks. No ML, no Qt."""
