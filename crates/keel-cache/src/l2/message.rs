//! Invalidation messages nodes publish to each other: `<node> k <key hex>` or
//! `<node> t <generation> <tag>` (the tag last, so it may hold spaces).

use crate::key::CacheKey;

/// One invalidation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Message {
    Key(CacheKey),
    Tag { tag: String, generation: u64 },
}

pub(crate) fn encode(node: u64, message: &Message) -> String {
    match message {
        Message::Key(key) => format!("{node:016x} k {key}"),
        Message::Tag { tag, generation } => format!("{node:016x} t {generation} {tag}"),
    }
}

/// The sender and the message; `None` for anything malformed.
pub(crate) fn decode(text: &str) -> Option<(u64, Message)> {
    let (node, rest) = text.split_once(' ')?;
    let node = u64::from_str_radix(node, 16).ok()?;
    let (kind, rest) = rest.split_once(' ')?;
    let message = match kind {
        "k" => Message::Key(CacheKey::from_hex(rest)?),
        "t" => {
            let (generation, tag) = rest.split_once(' ')?;
            Message::Tag {
                tag: tag.to_owned(),
                generation: generation.parse().ok()?,
            }
        }
        _ => return None,
    };
    Some((node, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let key = Message::Key(CacheKey([7; 32]));
        assert_eq!(decode(&encode(42, &key)), Some((42, key)));
        let tag = Message::Tag {
            tag: "user tag:x".to_owned(),
            generation: 9,
        };
        assert_eq!(decode(&encode(u64::MAX, &tag)), Some((u64::MAX, tag)));
        for garbage in [
            "",
            "x",
            "zz k 00",
            "01 k abc",
            "01 t x tag",
            "01 q 1 t",
            "01 t 5",
        ] {
            assert_eq!(decode(garbage), None, "{garbage:?}");
        }
    }
}
