"""Built-in backbones; each module is a plugin registering its classes through ``register_backbones``."""
