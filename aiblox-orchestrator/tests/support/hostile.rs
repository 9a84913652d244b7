//! Hostile text for property tests: the crate's unit tests (chunker, highlights) and the HTTP
//! fuzz of `tests/properties.rs` draw from the same strategy.

use proptest::prelude::*;

/// Text that stresses splitting: words, blank lines, sentence ends, combining characters,
/// scripts without spaces, emoji, very long runs without whitespace, control characters.
pub(crate) fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z]{1,12}",
        Just(" ".to_owned()),
        Just("\n".to_owned()),
        Just("\n\n".to_owned()),
        Just(". ".to_owned()),
        Just("?! ".to_owned()),
        Just("e\u{301}\u{308}".to_owned()),
        Just("日本語のテキスト".to_owned()),
        Just("🦀👩‍👩‍👧".to_owned()),
        Just("\t\r\u{a0}\u{2028}".to_owned()),
        "[x]{100,2000}",
        "\\PC{1,40}",
    ];
    prop_oneof![
        proptest::collection::vec(piece, 0..120).prop_map(|pieces| pieces.concat()),
        "\\PC{0,2000}",
        any::<String>()
    ]
}
