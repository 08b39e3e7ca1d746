//! Text to token ids: the shipped WordPiece tokenizer, with its fixed padding removed,
//! truncation set to the pipeline's length, and a bounded cost for very long texts.

use std::path::Path;

use tokenizers::{Encoding, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::EmbedError;

/// First guess of how many bytes of text can fill the token window. English averages
/// 4–5 bytes per WordPiece token; 20 leaves room for long words and multi-byte scripts.
const BYTES_PER_TOKEN: usize = 20;

/// How much the prefix grows when it did not fill the token window.
const GROWTH: usize = 4;

/// One text as token ids, `[CLS]` and `[SEP]` included, truncated to the model's window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedText {
    ids: Vec<u32>,
}

impl TokenizedText {
    /// The token ids.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// The number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no tokens (never the case for text from [`crate::Model`], which
    /// always adds `[CLS]` and `[SEP]`).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The tokenizer with keel's padding and truncation settings.
#[derive(Debug)]
pub(crate) struct TextTokenizer {
    inner: Tokenizer,
    max_tokens: usize,
    pad_id: u32,
}

impl TextTokenizer {
    /// Loads `tokenizer.json`. The shipped file pads every text to a fixed 128 tokens and
    /// truncates there; here single texts are not padded at all (a batch is padded to its
    /// longest text when it is assembled, keeping the shipped pad id) and truncation
    /// happens at `max_tokens`, the sentence-transformers `max_seq_length`.
    pub(crate) fn load(path: &Path, max_tokens: usize) -> Result<Self, EmbedError> {
        let mut inner = Tokenizer::from_file(path).map_err(EmbedError::Tokenizer)?;
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| inner.token_to_id("[PAD]"))
            .unwrap_or(0);
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(EmbedError::Tokenizer)?;
        Ok(Self {
            inner,
            max_tokens,
            pad_id,
        })
    }

    /// The id that fills padded positions.
    pub(crate) fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Tokenizes `text`, truncated to the window. Exactly what tokenizing the whole text
    /// gives, at a cost bounded by the window rather than by the text: a prefix is
    /// tokenized first, and its result is kept only when the window filled up with words
    /// that end before the prefix's last whitespace (so no cut word can change them);
    /// otherwise the prefix grows (×4) up to the whole text.
    pub(crate) fn tokenize(&self, text: &str) -> Result<TokenizedText, EmbedError> {
        let mut limit = self.max_tokens.saturating_mul(BYTES_PER_TOKEN);
        loop {
            if text.len() <= limit {
                return self.encode(text).map(|e| ids(&e));
            }
            let prefix = &text[..text.floor_char_boundary(limit)];
            let encoding = self.encode(prefix)?;
            if window_settled(&encoding, prefix) {
                return Ok(ids(&encoding));
            }
            limit = limit.saturating_mul(GROWTH);
        }
    }

    fn encode(&self, text: &str) -> Result<Encoding, EmbedError> {
        self.inner.encode(text, true).map_err(EmbedError::Tokenizer)
    }
}

fn ids(encoding: &Encoding) -> TokenizedText {
    TokenizedText {
        ids: encoding.get_ids().to_vec(),
    }
}

/// Whether the truncated `encoding` of `prefix` equals that of any text starting with
/// `prefix`: the window overflowed, and every kept word token ends at or before the last
/// plain whitespace (space, tab, CR, LF) of the prefix. Only those four characters count as
/// boundaries because the BERT normalizer keeps them as separators whatever follows,
/// while it deletes control characters and may merge other characters into a word.
fn window_settled(encoding: &Encoding, prefix: &str) -> bool {
    if encoding.get_overflowing().is_empty() {
        return false;
    }
    let Some(boundary) = prefix.rfind([' ', '\t', '\n', '\r']) else {
        return false;
    };
    encoding
        .get_offsets()
        .iter()
        .zip(encoding.get_special_tokens_mask())
        .filter(|(_, special)| **special == 0)
        .all(|((_, end), _)| *end <= boundary)
}
