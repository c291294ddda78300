//! Settings from the environment (and an optional `skygeni.toml`), with embedded defaults.
