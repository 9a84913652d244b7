//! Positions in a SQL file: from byte offsets and PostgreSQL's character positions to lines,
//! columns and a caret excerpt.

/// A 1-based line and column (column in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineColumn {
    /// Line number, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

/// The line and column of byte `offset` in `text` (clamped to the text).
pub fn line_column(text: &str, offset: usize) -> LineColumn {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    LineColumn {
        line,
        column: text[line_start..offset].chars().count() + 1,
    }
}

/// The byte offset of character `position` (1-based, as PostgreSQL reports error positions)
/// in `text`; past the end it is the text's length.
pub fn offset_of_char(text: &str, position: usize) -> usize {
    text.char_indices()
        .nth(position.saturating_sub(1))
        .map_or(text.len(), |(offset, _)| offset)
}

/// The line holding byte `offset`, with a caret under its column, for error messages:
///
/// ```text
///   12 | ALTER TABLE no_such_table ADD COLUMN x int;
///      |             ^
/// ```
pub fn excerpt(text: &str, offset: usize) -> String {
    let at = line_column(text, offset);
    let line_text = text.lines().nth(at.line - 1).unwrap_or("").trim_end();
    let gutter = at.line.to_string().len();
    format!(
        "{line:>gutter$} | {line_text}\n{blank:>gutter$} | {pad}^",
        line = at.line,
        blank = "",
        pad = " ".repeat(at.column - 1)
    )
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_characters() {
        let text = "SELECT 1;\nSELECT 'é', x;";
        assert_eq!(line_column(text, 0), LineColumn { line: 1, column: 1 });
        let x = text.find("x;").unwrap();
        assert_eq!(
            line_column(text, x),
            LineColumn {
                line: 2,
                column: 13
            }
        );
        assert_eq!(
            line_column(text, 10_000),
            LineColumn {
                line: 2,
                column: 15
            }
        );
    }

    #[test]
    fn postgres_positions_are_characters() {
        let text = "SELECT 'é', x";
        assert_eq!(&text[offset_of_char(text, 13)..], "x");
        assert_eq!(offset_of_char(text, 1), 0);
        assert_eq!(offset_of_char(text, 99), text.len());
    }

    #[test]
    fn excerpt_points_at_the_column() {
        let text = "SELECT 1;\nALTER TABLE nope ADD x int;";
        let excerpt = excerpt(text, text.find("nope").unwrap());
        assert_eq!(
            excerpt,
            "2 | ALTER TABLE nope ADD x int;\n  |             ^"
        );
    }
}
