//! Tool-result caching over keel-cache's two levels (in-process, Redis).
//!
//! A tool opts in with a [`keel_core::CachePolicy`] (configuration may override it by name
//! with [`PolicyOverride`]). Keys are SHA-256 of the tool's fingerprint (its definition and
//! declared version), the canonical arguments and, for per-principal results, the
//! principal. Never cached: `isError` results, failures, input requests, calls carrying
//! client input, task creations. Identical calls in flight compute once ([`flight`]); a
//! transient or dependency failure is answered with a stale result within the tool's
//! window, marked in `_meta`. A tool that declares what it invalidates drops those results
//! on every node after each successful call.
//!
//! Hits answer with the stored bytes ([`keel_core::SharedResult`]): no JSON tree, no
//! encoding.

mod flight;
mod key;

pub(crate) use key::arguments_digest;
mod policy;
mod service;
#[cfg(test)]
mod tests;

pub use policy::PolicyOverride;
pub use service::{CACHE_META_KEY, CacheHandle, CacheLayer, CacheReport, CacheService};
