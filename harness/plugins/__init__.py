"""Plugin discovery: the pluggy host that loads built-in and entry-point plugins, and the name registries."""
