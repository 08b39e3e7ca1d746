//! Remembered verdicts, so a statement that is run again is not tokenized again.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::{Checked, Rejection, check};
use crate::config::Engine;

/// Distinct statements remembered per database; the map starts over when full.
const CAPACITY: usize = 512;
/// Longer texts are checked every time rather than kept.
const MAX_CACHED_SQL_BYTES: usize = 4 * 1024;

/// What [`check`] decided about an accepted text.
#[derive(Debug, Clone, Copy)]
struct Verdict {
    statement_len: usize,
    placeholders: usize,
    may_change_session: bool,
}

/// Accepted statements and their verdicts, for one engine.
///
/// Checking a short statement costs well under a microsecond, but it is paid on every
/// call and a tool tends to run the same statements again; a lookup costs a hash of the
/// text. Rejections are not kept.
#[derive(Debug)]
pub(crate) struct VerdictCache {
    engine: Engine,
    verdicts: Mutex<HashMap<Box<str>, Verdict>>,
}

impl VerdictCache {
    pub(crate) fn new(engine: Engine) -> Self {
        Self {
            engine,
            verdicts: Mutex::new(HashMap::new()),
        }
    }

    /// [`check`], answered from memory for texts accepted before.
    pub(crate) fn check<'a>(&self, sql: &'a str) -> Result<Checked<'a>, Rejection> {
        let known = self
            .verdicts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sql)
            .copied();
        if let Some(verdict) = known {
            return Ok(Checked {
                sql: &sql[..verdict.statement_len],
                placeholders: verdict.placeholders,
                may_change_session: verdict.may_change_session,
            });
        }
        let checked = check(sql, self.engine)?;
        if sql.len() <= MAX_CACHED_SQL_BYTES {
            let mut verdicts = self.verdicts.lock().unwrap_or_else(PoisonError::into_inner);
            if verdicts.len() >= CAPACITY {
                verdicts.clear();
            }
            verdicts.insert(
                sql.into(),
                Verdict {
                    statement_len: checked.sql.len(),
                    placeholders: checked.placeholders,
                    may_change_session: checked.may_change_session,
                },
            );
        }
        Ok(checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_verdicts_match_fresh_ones() {
        let cache = VerdictCache::new(Engine::Sqlite);
        for _ in 0..2 {
            let checked = cache.check("SELECT ?, ? ;  -- two").unwrap();
            assert_eq!((checked.sql, checked.placeholders), ("SELECT ?, ? ", 2));
            assert_eq!(
                cache.check("DELETE FROM t"),
                Err(Rejection::NotReadOnly {
                    keyword: "DELETE".into(),
                    extra: super::super::AllowedExtra::Sqlite,
                })
            );
        }
        for i in 0..CAPACITY + 10 {
            cache.check(&format!("SELECT {i}")).unwrap();
        }
        assert!(cache.verdicts.lock().unwrap().len() <= CAPACITY);
    }
}
