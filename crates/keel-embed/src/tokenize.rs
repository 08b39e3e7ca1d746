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

/// Bounds the longest prefix ever tokenized: this many bytes per window token (64 KiB
/// for a 256-token window). Tokenizing costs about 0.5 µs per byte, so a 1 MB text with
/// no whitespace would otherwise take half a second.
const MAX_BYTES_PER_TOKEN: usize = 256;

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

/// A batch padded to its longest text: row-major `ids` and attention `mask`, `rows × width`.
pub(crate) struct PaddedBatch {
    pub(crate) ids: Vec<u32>,
    pub(crate) mask: Vec<u32>,
    pub(crate) rows: usize,
    pub(crate) width: usize,
}

/// Pads every text to the longest in `batch` with `pad_id`, masking the padding out.
pub(crate) fn pad_batch(batch: &[&TokenizedText], pad_id: u32) -> PaddedBatch {
    let width = batch.iter().map(|t| t.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(batch.len() * width);
    let mut mask = Vec::with_capacity(batch.len() * width);
    for text in batch {
        let pad = width - text.len();
        ids.extend_from_slice(text.ids());
        ids.extend(std::iter::repeat_n(pad_id, pad));
        mask.extend(std::iter::repeat_n(1u32, text.len()));
        mask.extend(std::iter::repeat_n(0u32, pad));
    }
    PaddedBatch {
        ids,
        mask,
        rows: batch.len(),
        width,
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
        let inner = Tokenizer::from_file(path).map_err(EmbedError::Tokenizer)?;
        Self::new(inner, max_tokens)
    }

    fn new(mut inner: Tokenizer, max_tokens: usize) -> Result<Self, EmbedError> {
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

    /// Tokenizes `text`, truncated to the window, at a cost bounded by the window rather
    /// than by the text. A prefix is tokenized first; its result is kept when the window
    /// filled up with words that end before the prefix's last whitespace (so no cut word
    /// can change them), which makes it exactly what tokenizing the whole text gives.
    /// Otherwise the prefix grows (×4). A text that has not settled within its first
    /// [`MAX_BYTES_PER_TOKEN`] bytes per window token (no whitespace after a full window:
    /// one enormous "word") is tokenized as that prefix, cut at a character boundary.
    pub(crate) fn tokenize(&self, text: &str) -> Result<TokenizedText, EmbedError> {
        let mut limit = self.max_tokens.saturating_mul(BYTES_PER_TOKEN);
        let cap = self.max_tokens.saturating_mul(MAX_BYTES_PER_TOKEN);
        loop {
            if text.len() <= limit {
                return self.encode(text).map(|e| ids(&e));
            }
            let prefix = &text[..text.floor_char_boundary(limit)];
            let encoding = self.encode(prefix)?;
            if limit >= cap || window_settled(&encoding, prefix) {
                return Ok(ids(&encoding));
            }
            limit = limit.saturating_mul(GROWTH).min(cap);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A small tokenizer.json in the shipped file's shape (BERT normalizer and
    /// pre-tokenizer, WordPiece, `[CLS] $A [SEP]`, fixed padding), with a toy vocabulary.
    const TOY: &str = r###"{
      "version": "1.0",
      "truncation": {"max_length": 128, "strategy": "LongestFirst", "stride": 0, "direction": "Right"},
      "padding": {"strategy": {"Fixed": 128}, "direction": "Right", "pad_to_multiple_of": null,
                  "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
      "added_tokens": [],
      "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                     "strip_accents": null, "lowercase": true},
      "pre_tokenizer": {"type": "BertPreTokenizer"},
      "post_processor": {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                   {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                           "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
      "decoder": null,
      "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                "max_input_chars_per_word": 100,
                "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "the": 4, "cat": 5,
                          "sat": 6, "on": 7, "mat": 8, ".": 9, "##s": 10}}
    }"###;

    fn tokenizer(max_tokens: usize) -> TextTokenizer {
        let inner = Tokenizer::from_bytes(TOY).unwrap();
        TextTokenizer::new(inner, max_tokens).unwrap()
    }

    #[test]
    fn long_texts_tokenize_exactly_as_their_full_tokenization() {
        let tok = tokenizer(8);
        // "catsat" is [UNK] whole but [cat, ##s] when cut after "cats": a prefix that
        // trusted a cut word would get it wrong.
        let pieces = [
            "the cat sat",
            "on the mat.",
            "cats",
            "dog\u{0301}",
            "THE\tCAT\n",
            "catsat",
        ];
        for seed in 0..300usize {
            // Vary word order, word length and a leading filler, so the window fills at
            // every distance from the first prefix cut (160 bytes for 8 tokens).
            let mut text = "a".repeat(seed % 97);
            let mut i = seed;
            while text.len() < 2_000 {
                text.push(' ');
                text.push_str(pieces[i % pieces.len()]);
                text.push_str(&" the".repeat(i % 3));
                i = i.wrapping_mul(31).wrapping_add(7);
            }
            let full = tok.encode(&text).unwrap();
            assert_eq!(
                tok.tokenize(&text).unwrap().ids(),
                full.get_ids(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_word_cut_by_the_prefix_never_leaks_into_the_window() {
        let tok = tokenizer(8);
        // Five one-token words, then "catsat" ([UNK] whole, [cat, ##s] if cut after
        // "cats"), slid across the first prefix cut at 160 bytes.
        for shift in 0..60 {
            let mut text = format!("{} ", "x".repeat(90 + shift));
            for _ in 0..4 {
                text.push_str("yyyyyyyyyyyyy ");
            }
            text.push_str("catsat the cat sat on the mat ");
            let text = text.repeat(20);
            let full = tok.encode(&text).unwrap();
            assert_eq!(
                tok.tokenize(&text).unwrap().ids(),
                full.get_ids(),
                "shift {shift}"
            );
        }
    }

    #[test]
    fn a_text_without_whitespace_costs_at_most_the_capped_prefix() {
        let tok = tokenizer(8);
        let text = "é".repeat(100_000);
        assert_eq!(tok.tokenize(&text).unwrap().ids(), [2, 1, 3]);
    }

    #[test]
    fn single_texts_are_not_padded_and_are_truncated_to_the_window() {
        let tok = tokenizer(8);
        assert_eq!(tok.tokenize("").unwrap().ids(), [2, 3]);
        assert_eq!(tok.tokenize("the cat").unwrap().ids(), [2, 4, 5, 3]);
        let ids = tok.tokenize(&"the ".repeat(50)).unwrap();
        assert_eq!(ids.len(), 8);
        assert_eq!(tok.pad_id(), 0);
    }
}
