//! Criterion benches of the verification hot paths, each beside its raw primitive.
//!
//! **Status:** no benches yet; they arrive with the factor adapters and SQL stores they
//! measure. The performance budget they will check is in the project's design notes.
