"""hlsd's views, one module per audience; each view parses, calls HlsSystem, renders."""
