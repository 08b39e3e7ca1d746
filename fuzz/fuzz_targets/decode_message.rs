//! Fuzzes the message decoder, batch splitting and request parsing: arbitrary bytes must
//! never panic, and a request the one-pass decoder accepts must read the same on the careful
//! path.
#![no_main]

use keel_core::{Incoming, ParsedRequest};
use keel_protocol::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(Ok(items)) = keel_protocol::batch_items(data) {
        for item in items {
            let _ = Message::decode(item.get().as_bytes());
        }
    }
    if let Ok(message) = Message::decode(data) {
        if let Ok(req) = ParsedRequest::from_message(&message) {
            let _ = req.opening();
            let _ = req.target_name();
        }
    }
    if let Incoming::Request(fast) = Incoming::decode(data) {
        let message = Message::decode(data).expect("the careful decoder reads it too");
        let slow = ParsedRequest::from_message(&message).expect("and finds a request");
        assert_eq!(fast, slow);
    }
});
