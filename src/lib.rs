//! dyntable
