//! What the layers under a call learned about it (served from which cache level, which
//! dependencies it reached and their breakers), for one record of the call: the audit log.
//!
//! Notes are kept only inside [`collect_notes`]; elsewhere noting costs one task-local
//! lookup and keeps nothing. Work a call hands to another task (a computation several
//! identical calls share) notes nothing for it.

use std::sync::{Arc, Mutex, PoisonError};

tokio::task_local! {
    static NOTES: Arc<Mutex<CallNotes>>;
}

/// What was noted about one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallNotes {
    /// How the tool stack ended it (`ok`, `tool_error`, `timed_out`, …); `None` when the
    /// call never reached it.
    pub outcome: Option<&'static str>,
    /// How the result cache served it: `l1`, `l2`, `stale`, `computed`, `coalesced`.
    pub cache: Option<&'static str>,
    /// Each dependency reached, with its breaker's state when last reached.
    pub dependencies: Vec<(Arc<str>, &'static str)>,
}

/// Notes how the tool stack ended the current call.
pub fn note_outcome(outcome: &'static str) {
    let _ = NOTES.try_with(|n| lock(n).outcome = Some(outcome));
}

/// Notes how the result cache served the current call.
pub fn note_cache(how: &'static str) {
    let _ = NOTES.try_with(|n| lock(n).cache = Some(how));
}

/// Notes that the current call reached `dependency`, whose breaker was `breaker()` (asked
/// only when notes are kept).
pub fn note_dependency(dependency: &Arc<str>, breaker: impl FnOnce() -> &'static str) {
    let _ = NOTES.try_with(|n| {
        let breaker = breaker();
        let mut notes = lock(n);
        match notes
            .dependencies
            .iter_mut()
            .find(|(name, _)| name == dependency)
        {
            Some(entry) => entry.1 = breaker,
            None => notes.dependencies.push((Arc::clone(dependency), breaker)),
        }
    });
}

/// Runs `work`, keeping what is noted about it.
pub async fn collect_notes<F: Future>(work: F) -> (F::Output, CallNotes) {
    let notes = Arc::new(Mutex::new(CallNotes::default()));
    let output = NOTES.scope(Arc::clone(&notes), work).await;
    let collected = std::mem::take(&mut *lock(&notes));
    (output, collected)
}

fn lock(notes: &Mutex<CallNotes>) -> std::sync::MutexGuard<'_, CallNotes> {
    notes.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notes_are_kept_inside_the_scope_only() {
        note_cache("l1");
        let db: Arc<str> = Arc::from("db:main");
        let ((), notes) = collect_notes(async {
            note_cache("computed");
            note_dependency(&db, || "closed");
            tokio::task::yield_now().await;
            note_dependency(&db, || "open");
        })
        .await;
        assert_eq!(notes.cache, Some("computed"));
        assert_eq!(notes.dependencies, vec![(db, "open")]);
    }
}
