//! Runnable examples of the mfa-rs toolkit. See `src/bin/`.
