//! Splitting a SQL file into statements, the way PostgreSQL's own lexer sees semicolons.
//!
//! Understands single-quoted strings (with `''` and `E'\''` escapes), quoted identifiers,
//! `--` and nested `/* */` comments, and dollar-quoted bodies (`$$ ... $$`, `$fn$ ... $fn$`).
//! Not supported: SQL-standard function bodies (`BEGIN ATOMIC ... END`); use a dollar-quoted
//! body instead.

/// One statement of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement<'a> {
    /// Byte offset of the statement's first character in the file.
    pub offset: usize,
    /// The statement, without its terminating semicolon or surrounding whitespace.
    pub text: &'a str,
}

/// Splits `sql` into statements. Pieces holding only whitespace and comments are dropped.
pub fn split_statements(sql: &str) -> Vec<Statement<'_>> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut has_code = false;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        let next = bytes.get(i + 1).copied();
        match byte {
            b'-' if next == Some(b'-') => {
                i = sql[i..]
                    .find('\n')
                    .map_or(bytes.len(), |newline| i + newline + 1);
                continue;
            }
            b'/' if next == Some(b'*') => {
                i = skip_block_comment(bytes, i);
                continue;
            }
            b';' => {
                if has_code {
                    statements.push(trimmed(sql, start, i));
                }
                start = i + 1;
                has_code = false;
                i += 1;
                continue;
            }
            _ => {}
        }
        if !byte.is_ascii_whitespace() {
            has_code = true;
        }
        i = match byte {
            b'\'' => skip_quoted(bytes, i, b'\'', is_escape_string(bytes, i)),
            b'"' => skip_quoted(bytes, i, b'"', false),
            b'$' => skip_dollar_quoted(sql, i),
            _ => i + 1,
        };
    }
    if has_code {
        statements.push(trimmed(sql, start, bytes.len()));
    }
    statements
}

/// The statement between `start` and `end` without surrounding whitespace and comments.
fn trimmed(sql: &str, start: usize, end: usize) -> Statement<'_> {
    let mut offset = start;
    loop {
        let rest = &sql[offset..end];
        let text = rest.trim_start();
        offset += rest.len() - text.len();
        if text.starts_with("--") {
            offset = sql[offset..end]
                .find('\n')
                .map_or(end, |newline| offset + newline + 1);
        } else if text.starts_with("/*") {
            offset = skip_block_comment(sql.as_bytes(), offset).min(end);
        } else {
            break;
        }
    }
    Statement {
        offset,
        text: sql[offset..end].trim_end(),
    }
}

/// Past the end of a `/* */` comment starting at `i`; these nest in PostgreSQL.
fn skip_block_comment(bytes: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < bytes.len() {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// `E'...'` strings treat backslash as an escape; a quote after an identifier character is
/// not an E-string prefix (`name'` cannot occur, but `some_e'` would be a different token).
fn is_escape_string(bytes: &[u8], quote: usize) -> bool {
    quote >= 1
        && matches!(bytes[quote - 1], b'e' | b'E')
        && (quote < 2 || !is_identifier_byte(bytes[quote - 2]))
}

/// Past the end of a quoted string or identifier starting at `i`; a doubled quote is literal.
fn skip_quoted(bytes: &[u8], i: usize, quote: u8, backslash_escapes: bool) -> usize {
    let mut j = i + 1;
    while j < bytes.len() {
        if backslash_escapes && bytes[j] == b'\\' {
            j += 2;
        } else if bytes[j] == quote {
            if bytes.get(j + 1) == Some(&quote) {
                j += 2;
            } else {
                return j + 1;
            }
        } else {
            j += 1;
        }
    }
    bytes.len()
}

/// Past the end of a dollar-quoted string starting at `i`, or `i + 1` when the `$` does not
/// open one (a parameter like `$1`, or a `$` inside an identifier).
fn skip_dollar_quoted(sql: &str, i: usize) -> usize {
    let bytes = sql.as_bytes();
    if i > 0 && is_identifier_byte(bytes[i - 1]) {
        return i + 1;
    }
    let tag_len = bytes[i + 1..]
        .iter()
        .take_while(|&&b| is_identifier_byte(b))
        .count();
    let tag_end = i + 1 + tag_len;
    let tag_starts_with_digit = tag_len > 0 && bytes[i + 1].is_ascii_digit();
    if tag_starts_with_digit || bytes.get(tag_end) != Some(&b'$') {
        return i + 1;
    }
    let delimiter = &sql[i..=tag_end];
    let body = tag_end + 1;
    sql[body..]
        .find(delimiter)
        .map_or(bytes.len(), |close| body + close + delimiter.len())
}

fn is_identifier_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<&str> {
        split_statements(sql).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn splits_on_semicolons_outside_quotes_and_comments() {
        let sql = "CREATE TABLE a (x text DEFAULT ';'); -- comment; here\n\
                   /* block; /* nested; */ still; */ INSERT INTO \"we;ird\" VALUES (E'\\';');\n\
                   SELECT 'it''s; fine'";
        assert_eq!(
            texts(sql),
            [
                "CREATE TABLE a (x text DEFAULT ';')",
                "INSERT INTO \"we;ird\" VALUES (E'\\';')",
                "SELECT 'it''s; fine'",
            ]
        );
    }

    #[test]
    fn dollar_quoted_bodies_keep_their_semicolons() {
        let sql = "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n\
                   DO $body$ BEGIN PERFORM 1; END $body$;\n\
                   PREPARE p AS SELECT $1::int; SELECT a$b FROM t";
        assert_eq!(
            texts(sql),
            [
                "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql",
                "DO $body$ BEGIN PERFORM 1; END $body$",
                "PREPARE p AS SELECT $1::int",
                "SELECT a$b FROM t",
            ]
        );
    }

    #[test]
    fn offsets_point_at_the_statement_after_leading_comments() {
        let sql = "-- header\n\n/* note */ SELECT 1;\n  -- only a comment;\n ;\nSELECT 2";
        let statements = split_statements(sql);
        assert_eq!(statements.len(), 2);
        for statement in &statements {
            assert_eq!(
                &sql[statement.offset..statement.offset + statement.text.len()],
                statement.text
            );
        }
        assert_eq!(statements[0].text, "SELECT 1");
        assert_eq!(statements[1].text, "SELECT 2");
    }

    #[test]
    fn unterminated_constructs_do_not_panic() {
        for sql in [
            "SELECT 'open",
            "SELECT \"open",
            "/* open",
            "SELECT $$ open",
            "SELECT $",
            "E'\\",
            "--",
        ] {
            let _ = split_statements(sql);
        }
    }
}
