pub(crate) mod u2f;
