//! Error types shared across layers.
