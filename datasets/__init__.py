"""Built-in datasets; each module is a plugin registering its class through ``register_datasets``."""
