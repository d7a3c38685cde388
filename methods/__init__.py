"""Built-in methods; each module is a plugin registering its class through ``register_methods``."""
