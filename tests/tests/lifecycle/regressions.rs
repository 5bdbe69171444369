//! Sequences the search found, kept so that each stays fixed.
