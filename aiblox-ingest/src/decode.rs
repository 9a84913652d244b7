//! File bytes to text: a byte order mark decides the encoding (and is dropped), else an HTML
//! file's declared charset, else UTF-8; bytes not valid in that encoding are refused.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// How far into an HTML file a `<meta charset>` is looked for (as browsers' prescan does).
const PRESCAN_BYTES: usize = 1024;

/// The text of `bytes`; `html` allows a declared charset; `fallback` is the encoding of a file
/// with neither a byte order mark nor a declaration (`None`: UTF-8). The error says why and
/// what to do.
pub(crate) fn decode(
    bytes: &[u8],
    html: bool,
    fallback: Option<&'static Encoding>,
) -> Result<String, String> {
    let (encoding, body) = encoding_of(bytes, html, fallback);
    if let Some(text) = encoding.decode_without_bom_handling_and_without_replacement(body) {
        return Ok(text.into_owned());
    }
    if encoding == UTF_8 {
        let valid = std::str::from_utf8(body).map_or_else(|err| err.valid_up_to(), str::len);
        let hint = if html {
            "convert it to UTF-8, declare its charset (<meta charset=\"...\">) or name its \
             encoding with --encoding"
        } else {
            "convert it to UTF-8 or name its encoding with --encoding (e.g. --encoding latin1)"
        };
        Err(format!(
            "not UTF-8 text (invalid byte at offset {valid}): {hint}"
        ))
    } else {
        Err(format!(
            "not valid {} text, the encoding it declares: fix the bytes or the declaration",
            encoding.name()
        ))
    }
}

/// The start of a file (`bytes` may end inside a character) decoded as [`decode`] would
/// decode the file, what does not decode replaced (U+FFFD).
pub(crate) fn decode_prefix(
    bytes: &[u8],
    html: bool,
    fallback: Option<&'static Encoding>,
) -> String {
    let (encoding, body) = encoding_of(bytes, html, fallback);
    encoding.decode_without_bom_handling(body).0.into_owned()
}

/// The encoding of `bytes` (a byte order mark, else an HTML file's declared charset, else
/// `fallback`, else UTF-8) and the bytes after the mark.
fn encoding_of<'a>(
    bytes: &'a [u8],
    html: bool,
    fallback: Option<&'static Encoding>,
) -> (&'static Encoding, &'a [u8]) {
    match Encoding::for_bom(bytes) {
        Some((encoding, bom_length)) => (encoding, &bytes[bom_length..]),
        None => (
            html.then(|| declared_charset(bytes))
                .flatten()
                .or(fallback)
                .unwrap_or(UTF_8),
            bytes,
        ),
    }
}

/// The encoding named by the first `<meta charset=...>` or
/// `<meta http-equiv="Content-Type" content="...; charset=...">` in the file's head.
fn declared_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head =
        String::from_utf8_lossy(&bytes[..bytes.len().min(PRESCAN_BYTES)]).to_ascii_lowercase();
    let mut rest = head.as_str();
    while let Some(start) = rest.find("<meta") {
        let tag = &rest[start..];
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        if let Some(at) = tag.find("charset") {
            let value = tag[at + "charset".len()..]
                .trim_start()
                .strip_prefix('=')?
                .trim_start()
                .trim_start_matches(['"', '\'']);
            let label: String = value
                .chars()
                .take_while(|c| !matches!(c, '"' | '\'' | ';' | '/' | '>') && !c.is_whitespace())
                .collect();
            // As browsers do: a UTF-16 declaration in bytes read as ASCII means UTF-8, and
            // x-user-defined means windows-1252.
            return Encoding::for_label(label.as_bytes()).map(|encoding| {
                if encoding == UTF_16LE || encoding == UTF_16BE {
                    UTF_8
                } else if encoding.name() == "x-user-defined" {
                    WINDOWS_1252
                } else {
                    encoding
                }
            });
        }
        rest = &rest[start + "<meta".len()..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_charset_decodes_the_page() {
        let latin1 =
            b"<html><head><meta charset=\"ISO-8859-1\"><title>Caf\xe9</title></head></html>";
        assert!(
            decode(latin1, true, None)
                .unwrap()
                .contains("<title>Café</title>")
        );
        let http_equiv = b"<meta http-equiv='Content-Type' content='text/html; charset=windows-1252'>\x93quoted\x94";
        assert!(
            decode(http_equiv, true, None)
                .unwrap()
                .ends_with("\u{201c}quoted\u{201d}")
        );
        // Only HTML may declare; a text file of those bytes is refused, saying where.
        let err = decode(latin1, false, None).unwrap_err();
        assert!(
            err.starts_with("not UTF-8 text (invalid byte at offset 49)"),
            "{err}"
        );
    }

    #[test]
    fn a_fallback_encoding_reads_files_without_a_mark_or_a_declaration() {
        let latin1 = Some(WINDOWS_1252);
        assert_eq!(decode(b"caf\xe9", false, latin1).unwrap(), "café");
        // A byte order mark and a declared charset still win over it.
        assert_eq!(
            decode(b"\xef\xbb\xbfcaf\xc3\xa9", false, latin1).unwrap(),
            "café"
        );
        let declared = b"<meta charset=utf-8>caf\xc3\xa9";
        assert!(decode(declared, true, latin1).unwrap().ends_with("café"));
        let err = decode(b"caf\xe9", false, None).unwrap_err();
        assert!(err.contains("--encoding"), "{err}");
    }

    #[test]
    fn a_byte_order_mark_is_dropped_and_wins() {
        assert_eq!(
            decode(b"\xef\xbb\xbf# Title", false, None).unwrap(),
            "# Title"
        );
        let utf16 = [0xff, 0xfe, b'h', 0, b'i', 0];
        assert_eq!(decode(&utf16, false, None).unwrap(), "hi");
        let bom_over_meta = b"\xef\xbb\xbf<meta charset=latin1>caf\xc3\xa9";
        assert!(decode(bom_over_meta, true, None).unwrap().ends_with("café"));
    }

    #[test]
    fn undeclared_or_invalid_text_is_refused_clearly() {
        let err = decode(b"<p>caf\xe9</p>", true, None).unwrap_err();
        assert!(err.contains("declare its charset"), "{err}");
        let err = decode(b"<meta charset=\"shift_jis\">\x82", true, None).unwrap_err();
        assert_eq!(
            err,
            "not valid Shift_JIS text, the encoding it declares: fix the bytes or the declaration"
        );
        // An unknown label is ignored: the page is read as UTF-8.
        assert_eq!(
            decode(b"<meta charset=klingon>ok", true, None).unwrap(),
            "<meta charset=klingon>ok"
        );
    }
}
