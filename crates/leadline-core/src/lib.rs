//! Leadline's domain: plain types that parse rather than validate, and decision functions that
//! take the current state plus a command and return the change (or a [`DomainError`]).
//!
//! Nothing here touches a database, a socket or the clock: callers pass `now` in.

#![forbid(unsafe_code)]

pub mod access;
pub mod archive;
pub mod catalog;
pub mod crm;
pub mod dialer;
pub mod error;
pub mod history;
pub mod import;
pub mod lead;
pub mod money;
pub mod phone;
pub mod queues;
pub mod redact;
pub mod returns;
pub mod sales;
pub mod schedule;

pub use error::DomainError;
