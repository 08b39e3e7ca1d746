//! The batcher's settings.

use std::time::Duration;

use crate::error::EmbedError;

/// How the [`crate::Batcher`] queues, groups and runs texts. `Default` suits a 2–4 core
/// machine serving all-MiniLM-L6-v2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatcherConfig {
    /// Coalesce texts of concurrent requests into shared batches (default on). Off, each
    /// request runs alone, which exists to measure what batching buys.
    pub batching: bool,
    /// Most texts in one batch (default 16). Through MCP on 2 cores, 32 concurrent
    /// single-text callers got 9% more throughput with batches of at most 16 than of 8 on
    /// ONNX Runtime (628 against 576 emb/s; 32 gained no more) and 15% more on candle.
    pub max_batch_size: usize,
    /// Most padded positions in one batch: longest text × texts (default 4096, i.e. 16
    /// texts of the full 256 tokens). Must hold one text of the model's maximum length.
    pub token_budget: usize,
    /// Longest a queued text waits for its batch to fill once a batch is running
    /// (default 3 ms). See the dispatch policy on [`crate::Batcher`].
    pub flush_deadline: Duration,
    /// Most texts admitted and not yet answered; beyond it requests fail with
    /// [`EmbedError::Overloaded`] (default 1024). Also the largest request accepted.
    pub queue_capacity: usize,
    /// Batches run at the same time, each on its own thread (default 1). More threads
    /// run more batches at once, but split the queue into smaller, less efficient batches.
    pub inference_threads: usize,
    /// Threads one candle forward pass spreads its tensor kernels over (ONNX Runtime has its
    /// own, [`crate::OnnxOptions::intra_op_threads`]); each inference thread has
    /// its own rayon pool of this size (default 1). candle synchronises its threads at
    /// every operation (for attention, at every head of every text), so when other work
    /// takes a core away they stall: on a shared 2-core machine one kernel thread embedded
    /// as fast as two at batch 1 and up to twice as fast at batch 16–32, and it leaves a
    /// core to the server. Raise it for the lowest latency on an otherwise idle machine.
    pub kernel_threads: usize,
    /// Threads that tokenize incoming texts (default 1).
    pub tokenizer_threads: usize,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            batching: true,
            max_batch_size: 16,
            token_budget: 4096,
            flush_deadline: Duration::from_millis(3),
            queue_capacity: 1024,
            inference_threads: 1,
            kernel_threads: 1,
            tokenizer_threads: 1,
        }
    }
}

impl BatcherConfig {
    /// Checks the settings against a model whose longest input is `max_tokens`.
    pub fn validate(&self, max_tokens: usize) -> Result<(), EmbedError> {
        let reason = if self.max_batch_size == 0 {
            "max_batch_size must be at least 1"
        } else if self.token_budget < max_tokens {
            "token_budget must hold one text of the model's maximum length"
        } else if self.queue_capacity == 0 {
            "queue_capacity must be at least 1"
        } else if u32::try_from(self.queue_capacity).is_err() {
            "queue_capacity must fit in 32 bits"
        } else if self.inference_threads == 0
            || self.kernel_threads == 0
            || self.tokenizer_threads == 0
        {
            "thread counts must be at least 1"
        } else {
            return Ok(());
        };
        Err(EmbedError::InvalidConfig { reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_out_of_range_settings_are_named() {
        assert!(BatcherConfig::default().validate(256).is_ok());
        let small_budget = BatcherConfig {
            token_budget: 100,
            ..BatcherConfig::default()
        };
        let err = small_budget.validate(256).unwrap_err();
        assert!(err.to_string().contains("token_budget"), "{err}");
        let no_threads = BatcherConfig {
            inference_threads: 0,
            ..BatcherConfig::default()
        };
        assert!(no_threads.validate(256).is_err());
    }
}
