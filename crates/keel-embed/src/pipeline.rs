//! The sentence-transformers pipeline around BERT, read from the shipped files:
//! sequence length, pooling mode and whether vectors are normalized.

use std::path::Path;

use serde::Deserialize;

use crate::error::EmbedError;
use crate::store::ModelFiles;

/// all-MiniLM-L6-v2's `max_seq_length`, used when `sentence_bert_config.json` is absent.
const DEFAULT_MAX_TOKENS: usize = 256;

/// The module sentence-transformers uses for L2 normalization.
const NORMALIZE_MODULE: &str = "sentence_transformers.models.Normalize";

/// How token states become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pipeline {
    /// Texts are truncated to this many tokens, `[CLS]` and `[SEP]` included.
    pub(crate) max_tokens: usize,
    /// Width of the pooled vector.
    pub(crate) dimension: usize,
    /// Whether pooled vectors are scaled to unit length.
    pub(crate) normalize: bool,
}

#[derive(Deserialize)]
struct SentenceConfig {
    max_seq_length: usize,
}

#[derive(Deserialize)]
struct PoolingConfig {
    word_embedding_dimension: usize,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct Module {
    #[serde(rename = "type")]
    kind: String,
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    let bytes = std::fs::read(path).map_err(|source| EmbedError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| EmbedError::Config {
        path: path.to_path_buf(),
        source,
    })
}

impl Pipeline {
    /// Reads the pipeline from the model files. Only mean pooling is supported (it is what
    /// all-MiniLM-L6-v2 ships); normalization follows `modules.json` and defaults to on,
    /// as the model card prescribes, when that file is absent.
    pub(crate) fn load(
        files: &ModelFiles,
        hidden_size: usize,
        max_positions: usize,
    ) -> Result<Self, EmbedError> {
        let pooling: PoolingConfig = read_json(&files.pooling)?;
        let only_mean = pooling.pooling_mode_mean_tokens
            && !pooling.pooling_mode_cls_token
            && !pooling.pooling_mode_max_tokens
            && !pooling.pooling_mode_mean_sqrt_len_tokens;
        if !only_mean {
            return Err(EmbedError::Unsupported {
                reason: "pooling must be mean-of-tokens alone".to_owned(),
            });
        }
        if pooling.word_embedding_dimension != hidden_size {
            return Err(EmbedError::Unsupported {
                reason: format!(
                    "pooling dimension {} differs from hidden size {hidden_size}",
                    pooling.word_embedding_dimension
                ),
            });
        }
        let max_tokens = match &files.sentence_config {
            Some(path) => read_json::<SentenceConfig>(path)?.max_seq_length,
            None => DEFAULT_MAX_TOKENS,
        };
        if max_tokens < 2 || max_tokens > max_positions {
            return Err(EmbedError::Unsupported {
                reason: format!(
                    "max_seq_length {max_tokens} outside 2..={max_positions} position embeddings"
                ),
            });
        }
        let normalize = match &files.modules {
            Some(path) => read_json::<Vec<Module>>(path)?
                .iter()
                .any(|m| m.kind == NORMALIZE_MODULE),
            None => true,
        };
        Ok(Self {
            max_tokens,
            dimension: hidden_size,
            normalize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ModelStore;

    fn files(
        pooling: &str,
        sentence: Option<&str>,
        modules: Option<&str>,
    ) -> (tempfile::TempDir, ModelFiles) {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("1_Pooling")).unwrap();
        for f in ["model.safetensors", "tokenizer.json", "config.json"] {
            std::fs::write(d.join(f), b"x").unwrap();
        }
        std::fs::write(d.join("1_Pooling/config.json"), pooling).unwrap();
        if let Some(s) = sentence {
            std::fs::write(d.join("sentence_bert_config.json"), s).unwrap();
        }
        if let Some(m) = modules {
            std::fs::write(d.join("modules.json"), m).unwrap();
        }
        let files = ModelStore::new(d).locate().unwrap();
        (tmp, files)
    }

    const MEAN: &str = r#"{"word_embedding_dimension": 384, "pooling_mode_mean_tokens": true}"#;

    #[test]
    fn reads_length_and_normalization_from_the_shipped_files() {
        let modules = r#"[{"type": "sentence_transformers.models.Transformer"},
                         {"type": "sentence_transformers.models.Pooling"}]"#;
        let (_tmp, f) = files(MEAN, Some(r#"{"max_seq_length": 128}"#), Some(modules));
        let p = Pipeline::load(&f, 384, 512).unwrap();
        assert_eq!((p.max_tokens, p.normalize, p.dimension), (128, false, 384));

        let (_tmp, f) = files(MEAN, None, None);
        let p = Pipeline::load(&f, 384, 512).unwrap();
        assert_eq!((p.max_tokens, p.normalize), (256, true));
    }

    #[test]
    fn rejects_other_pooling_modes_and_impossible_lengths() {
        let cls = r#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": true}"#;
        let (_tmp, f) = files(cls, None, None);
        assert!(matches!(
            Pipeline::load(&f, 384, 512),
            Err(EmbedError::Unsupported { .. })
        ));

        let (_tmp, f) = files(MEAN, Some(r#"{"max_seq_length": 1024}"#), None);
        assert!(matches!(
            Pipeline::load(&f, 384, 512),
            Err(EmbedError::Unsupported { .. })
        ));

        let (_tmp, f) = files(MEAN, None, None);
        assert!(matches!(
            Pipeline::load(&f, 768, 512),
            Err(EmbedError::Unsupported { .. })
        ));
    }
}
