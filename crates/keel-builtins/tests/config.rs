//! The configuration's TOML shape, its defaults and its validation.

use std::path::PathBuf;

use keel_builtins::{BuiltinsConfig, BuiltinsError, builtins};

#[test]
fn an_empty_document_is_the_default() {
    let config: BuiltinsConfig = toml::from_str("").unwrap();
    assert_eq!(config, BuiltinsConfig::default());
    assert!(config.analyze.enabled && config.embed.enabled);
    assert_eq!(config.analyze.threads, None);
    assert_eq!(config.analyze.max_in_flight.get(), 4);
    assert!(config.embed.batching);
    assert_eq!(config.embed.flush_deadline_ms, 3);
    assert_eq!(config.embed.token_budget, 4096);
}

#[test]
fn every_section_parses() {
    let config: BuiltinsConfig = toml::from_str(
        r#"
        [analyze]
        enabled = true
        threads = 2
        max_in_flight = 8

        [embed]
        enabled = false
        model_dir = "/srv/models/minilm"
        batching = false
        flush_deadline_ms = 10
        token_budget = 8192
        max_batch_size = 16
        queue_capacity = 256
        inference_threads = 2
        kernel_threads = 2
        tokenizer_threads = 2
        "#,
    )
    .unwrap();
    assert_eq!(config.analyze.threads.map(|t| t.get()), Some(2));
    assert_eq!(config.analyze.max_in_flight.get(), 8);
    assert!(!config.embed.enabled && !config.embed.batching);
    assert_eq!(
        config.embed.model_dir,
        Some(PathBuf::from("/srv/models/minilm"))
    );
    assert_eq!(config.embed.token_budget, 8192);
}

#[test]
fn unknown_keys_and_bad_values_are_refused() {
    let err = toml::from_str::<BuiltinsConfig>("[analyze]\nthreadz = 2\n").unwrap_err();
    assert!(err.to_string().contains("threadz"), "{err}");
    let err = toml::from_str::<BuiltinsConfig>("[tools]\n").unwrap_err();
    assert!(err.to_string().contains("tools"), "{err}");
    assert!(toml::from_str::<BuiltinsConfig>("[analyze]\nmax_in_flight = 0\n").is_err());
}

#[tokio::test]
async fn out_of_range_batcher_settings_fail_at_start() {
    let mut config = BuiltinsConfig::default();
    config.embed.max_batch_size = 0;
    let err = builtins(&config).await.unwrap_err();
    assert!(matches!(err, BuiltinsError::Embed(_)), "{err:?}");
    assert!(err.to_string().contains("max_batch_size"), "{err}");
}
