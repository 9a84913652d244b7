//! What a document says about itself, as item metadata: a run's `--metadata key=value`, a
//! Markdown file's front matter (YAML), an HTML page's `<meta name content>`; and the one key
//! the block keeps its own facts under ([`RESERVED_KEY`]).

use serde_json::{Map, Value};

/// Metadata keys and their values (a JSON object's).
pub type Fields = Map<String, Value>;

/// The metadata key the ingestion block keeps its own facts under (the file's path, format and
/// size): `--metadata` refuses it, and front matter or meta tags cannot overwrite it.
pub const RESERVED_KEY: &str = "aiblox";

/// A run's metadata, given as `key=value` pairs ([`RunMetadata::pair`], collected): every item of the run gets each pair,
/// over what the document says for the same key. A value that reads as a JSON number,
/// `true`, `false` or a quoted JSON string is stored as one; any other value as text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunMetadata(Map<String, Value>);

impl RunMetadata {
    /// The key and value of `pair` (`key=value`), or why it is refused.
    pub fn pair(pair: &str) -> Result<(String, Value), String> {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}` is not key=value"))?;
        let key = key.trim();
        if key.is_empty() || key.len() > 256 || key.contains('\0') {
            return Err(format!("`{pair}`: a key is 1 to 256 bytes, without NUL"));
        }
        if key == RESERVED_KEY {
            return Err(format!(
                "`{pair}`: the key `{RESERVED_KEY}` is the ingestion block's own (the file's \
                 path, format and size); use another"
            ));
        }
        if value.contains('\0') {
            return Err(format!("`{pair}`: the value contains a NUL character"));
        }
        let value = match serde_json::from_str::<Value>(value.trim()) {
            Ok(value @ (Value::Number(_) | Value::Bool(_) | Value::String(_))) => value,
            _ => Value::String(value.to_owned()),
        };
        Ok((key.to_owned(), value))
    }

    /// `metadata` (a JSON object) with the run's pairs set over it.
    pub fn apply_to(&self, metadata: &mut Value) {
        if let Value::Object(object) = metadata {
            for (key, value) in &self.0 {
                object.insert(key.clone(), value.clone());
            }
        }
    }
}

impl FromIterator<(String, Value)> for RunMetadata {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(pairs: I) -> Self {
        RunMetadata(pairs.into_iter().collect())
    }
}

/// A Markdown text's front matter (between a first line `---` and the next `---` or `...`)
/// as a JSON object, and the text after it; no front matter: none and the whole text.
///
/// # Errors
/// Front matter that is not YAML, or not a mapping: the reason.
pub fn front_matter(text: &str) -> Result<(Option<Fields>, &str), String> {
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return Ok((None, text));
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\r', '\n']);
        if bare == "---" || bare == "..." {
            let yaml = &rest[..offset];
            let body = &rest[offset + line.len()..];
            let value: Value = serde_yaml_ng::from_str(yaml)
                .map_err(|err| format!("its front matter is not YAML: {err}"))?;
            return match value {
                Value::Object(mapping) => Ok((Some(mapping), body)),
                Value::Null => Ok((Some(Map::new()), body)),
                _ => Err("its front matter is not a mapping of keys to values".to_owned()),
            };
        }
        offset += line.len();
    }
    // No closing line: a rule (`---`) at the top of the text, not front matter.
    Ok((None, text))
}

/// A title from a document's first line with text (at most 200 characters), for a file whose
/// properties give none.
pub(crate) fn first_line_title(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(|line| line.chars().take(200).collect())
}

/// `metadata` with the document's own `found` keys added, except the reserved one.
pub fn merge_found(metadata: &mut Fields, found: Fields) {
    for (key, value) in found {
        if key != RESERVED_KEY {
            metadata.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_pairs_are_typed_when_they_read_as_json_and_the_reserved_key_is_refused() {
        let run: RunMetadata = [
            "section=sql",
            "version=15",
            "draft=false",
            "code=007",
            "quoted=\"15\"",
            "a=b=c",
        ]
        .iter()
        .map(|pair| RunMetadata::pair(pair).unwrap())
        .collect();
        let mut metadata = serde_json::json!({"section": "old", "kept": 1});
        run.apply_to(&mut metadata);
        assert_eq!(
            metadata,
            serde_json::json!({"section": "sql", "version": 15, "draft": false, "code": "007",
                               "quoted": "15", "a": "b=c", "kept": 1})
        );
        assert!(
            RunMetadata::pair("aiblox=x")
                .unwrap_err()
                .contains("ingestion block's own")
        );
        assert!(
            RunMetadata::pair("novalue")
                .unwrap_err()
                .contains("not key=value")
        );
        assert!(
            RunMetadata::pair("=x")
                .unwrap_err()
                .contains("1 to 256 bytes")
        );
    }

    #[test]
    fn front_matter_is_read_as_yaml_and_the_rest_is_the_text() {
        let (found, body) =
            front_matter("---\ntitle: Vacuum\ntags:\n  - maintenance\n  - sql\nversion: 15\n---\n# Vacuum\n\nText.")
                .unwrap();
        assert_eq!(
            Value::Object(found.unwrap()),
            serde_json::json!({"title": "Vacuum", "tags": ["maintenance", "sql"], "version": 15})
        );
        assert_eq!(body, "# Vacuum\n\nText.");
        assert_eq!(
            front_matter("# No front matter").unwrap(),
            (None, "# No front matter")
        );
        assert_eq!(
            front_matter("---\nnot closed").unwrap(),
            (None, "---\nnot closed")
        );
        assert!(
            front_matter("---\n: [unclosed\n---\nx")
                .unwrap_err()
                .contains("not YAML")
        );
        assert!(
            front_matter("---\n- a list\n---\nx")
                .unwrap_err()
                .contains("not a mapping")
        );
    }
}
