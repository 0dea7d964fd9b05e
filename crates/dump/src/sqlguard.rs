//! A streaming filter that lets plain SQL reach psql only when psql would
//! execute nothing but SQL: every psql meta-command (`\!`, `\o`, `\copy`,
//! `\i`, `\c`, `\set`, `\gexec`, ...) is refused, except the
//! `\restrict KEY` / `\unrestrict KEY` lines of newer pg_dump versions,
//! which are stripped so the dump also restores with older psql.
//!
//! psql recognises a backslash command anywhere outside string literals,
//! quoted identifiers, dollar quotes and comments, so the filter lexes SQL
//! the way psql's `psqlscan.l` does. Wherever the two could disagree it
//! errs on the side of seeing a literal end *earlier* than psql, so
//! disagreement can only cause a refusal, never a missed meta-command.
//!
//! Lines after `COPY ... FROM stdin;` are data up to `\.`; a backslash in
//! data is an escape, not a command. Data may only hold the escapes
//! pg_dump writes (`\\ \b \f \n \r \t \v \N`), which also keeps a
//! misjudged COPY boundary from ever letting a command through.

use crate::error::{DumpError, Result};

const META_CAP: usize = 1024;
const WORD_CAP: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    Quote { escapes: bool },
    QuoteBackslash,
    QuoteEnd { escapes: bool },
    Ident,
    IdentEnd,
    DollarTag,
    Dollar { matched: usize },
    LineComment,
    BlockComment { depth: u32, prev: u8 },
    Meta { at_line_start: bool },
    CopyLineStart,
    CopyMid,
    CopyBackslash { at_line_start: bool },
    CopyEnd { cr: bool },
}

/// Tracks the first word and the last two tokens of the current
/// statement, enough to know whether it is `COPY ... FROM stdin`.
#[derive(Debug, Default)]
struct Statement {
    word: Vec<u8>,
    first: Option<Vec<u8>>,
    last: [Vec<u8>; 2],
}

impl Statement {
    fn push_token(&mut self, token: Vec<u8>) {
        if self.first.is_none() && token.first().is_some_and(|&b| is_ident(b)) {
            self.first = Some(token.clone());
        }
        self.last.swap(0, 1);
        self.last[1] = token;
    }

    fn end_word(&mut self) {
        if !self.word.is_empty() {
            let word = std::mem::take(&mut self.word);
            self.push_token(word);
        }
    }

    fn is_copy_from_stdin(&self) -> bool {
        self.first.as_deref() == Some(b"COPY")
            && self.last[0] == b"FROM"
            && self.last[1] == b"STDIN"
    }
}

/// The filter. Feed it the SQL in chunks of any size with
/// [`SqlGuard::process`], then call [`SqlGuard::finish`].
#[derive(Debug)]
pub struct SqlGuard {
    state: State,
    line: u64,
    at_line_start: bool,
    prev: u8,
    prev2: u8,
    depth: u32,
    statement: Statement,
    copies_pending: u32,
    buffer: Vec<u8>,
    tag: Vec<u8>,
    comment_head: Vec<u8>,
    pg_dump_header: bool,
    pg_dump_complete: bool,
    stripped: u32,
}

impl Default for SqlGuard {
    fn default() -> Self {
        Self::new()
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Characters after which an `e` may belong to a longer token (a number
/// like `1.e`, a psql variable like `:e`), so `e'` is not surely an
/// escape string.
fn absorbs_e(b: u8) -> bool {
    is_ident(b) || b == b'.' || b == b':'
}

fn is_tag_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_tag_cont(b: u8) -> bool {
    is_tag_start(b) || b.is_ascii_digit()
}

impl SqlGuard {
    /// A filter at the start of a SQL stream.
    pub fn new() -> Self {
        Self {
            state: State::Normal,
            line: 1,
            at_line_start: true,
            prev: b'\n',
            prev2: b'\n',
            depth: 0,
            statement: Statement::default(),
            copies_pending: 0,
            buffer: Vec::new(),
            tag: Vec::new(),
            comment_head: Vec::new(),
            pg_dump_header: false,
            pg_dump_complete: false,
            stripped: 0,
        }
    }

    /// How many `\restrict`/`\unrestrict` lines were removed.
    pub fn stripped_lines(&self) -> u32 {
        self.stripped
    }

    /// Checks `input` and appends what psql may see to `out`. On error
    /// nothing of this chunk should be passed on.
    pub fn process(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.reserve(input.len());
        let mut i = 0;
        while i < input.len() {
            if matches!(self.state, State::CopyMid) {
                // fast path through COPY data, the bulk of any dump
                let rest = &input[i..];
                let n = rest
                    .iter()
                    .position(|&b| b == b'\n' || b == b'\\')
                    .unwrap_or(rest.len());
                out.extend_from_slice(&rest[..n]);
                i += n;
                if i == input.len() {
                    break;
                }
            }
            self.byte(input[i], out)?;
            i += 1;
        }
        Ok(())
    }

    /// Declares the end of the stream: refuses input that ends inside a
    /// literal, a COPY block, or a pg_dump file without its last line.
    pub fn finish(&mut self) -> Result<()> {
        if let State::Meta { at_line_start } = self.state {
            self.end_meta_line(at_line_start)?;
        }
        let unfinished = match self.state {
            State::Quote { .. } | State::QuoteBackslash => Some("a string literal"),
            State::Ident => Some("a quoted identifier"),
            State::DollarTag | State::Dollar { .. } => Some("a dollar-quoted string"),
            State::BlockComment { .. } => Some("a /* comment */"),
            State::CopyLineStart | State::CopyMid | State::CopyBackslash { .. } => {
                Some("the data of a COPY")
            }
            _ => None,
        };
        if let Some(what) = unfinished {
            return Err(DumpError::MetaCommand {
                line: self.line,
                what: format!("the SQL ends inside {what} (truncated dump?)"),
            });
        }
        if self.pg_dump_header && !self.pg_dump_complete {
            return Err(DumpError::MetaCommand {
                line: self.line,
                what: "the dump ends before pg_dump's \"dump complete\" line (truncated dump?)"
                    .into(),
            });
        }
        Ok(())
    }

    fn refuse(&self, what: impl Into<String>) -> DumpError {
        DumpError::MetaCommand {
            line: self.line,
            what: what.into(),
        }
    }

    fn byte(&mut self, b: u8, out: &mut Vec<u8>) -> Result<()> {
        match self.state {
            State::Normal => return self.normal(b, out),
            State::Meta { at_line_start } => return self.meta(b, at_line_start, out),
            State::DollarTag => return self.dollar_tag(b, out),
            State::QuoteEnd { .. } if b != b'\'' => return self.after_literal(b'\'', b, out),
            State::QuoteEnd { escapes } => {
                self.state = State::Quote { escapes };
                out.push(b);
                return Ok(());
            }
            State::IdentEnd if b != b'"' => return self.after_literal(b'"', b, out),
            State::IdentEnd => {
                self.state = State::Ident;
                out.push(b);
                return Ok(());
            }
            State::CopyLineStart
            | State::CopyMid
            | State::CopyBackslash { .. }
            | State::CopyEnd { .. } => return self.copy(b, out),
            _ => {}
        }
        if b == b'\n' && self.copies_pending > 0 && self.state != State::LineComment {
            // psql would read COPY data from the next line while its lexer
            // is still inside this literal: refuse rather than guess.
            return Err(self.refuse("a literal or comment left open on a COPY ... FROM stdin line"));
        }
        out.push(b);
        self.literal(b);
        self.count_line(b);
        Ok(())
    }

    fn count_line(&mut self, b: u8) {
        if b == b'\n' {
            self.line += 1;
            self.at_line_start = true;
        } else {
            self.at_line_start = false;
        }
    }

    /// Inside strings, identifiers, dollar quotes and comments.
    fn literal(&mut self, b: u8) {
        self.state = match self.state {
            State::Quote { escapes } => match b {
                b'\'' => State::QuoteEnd { escapes },
                b'\\' if escapes => State::QuoteBackslash,
                _ => self.state,
            },
            State::QuoteBackslash => State::Quote { escapes: true },
            State::Ident if b == b'"' => State::IdentEnd,
            State::Dollar { matched } => self.dollar_body(b, matched),
            State::LineComment => self.line_comment(b),
            State::BlockComment { depth, prev } => block_comment(b, depth, prev),
            other => other,
        };
    }

    fn dollar_body(&mut self, b: u8, matched: usize) -> State {
        // the closing delimiter is "$" + tag + "$"; tags hold no '$'
        let delim_len = self.tag.len() + 2;
        let expected = if matched == 0 || matched == delim_len - 1 {
            b'$'
        } else {
            self.tag[matched - 1]
        };
        if b == expected {
            if matched + 1 == delim_len {
                self.prev = b'$';
                return State::Normal;
            }
            return State::Dollar {
                matched: matched + 1,
            };
        }
        State::Dollar {
            matched: usize::from(b == b'$'),
        }
    }

    fn line_comment(&mut self, b: u8) -> State {
        if b != b'\n' {
            if self.comment_head.len() < 64 {
                self.comment_head.push(b);
            }
            return State::LineComment;
        }
        let head = std::mem::take(&mut self.comment_head);
        let text = String::from_utf8_lossy(&head);
        let text = text.trim_end();
        if text == " PostgreSQL database dump" && self.line <= 5 {
            self.pg_dump_header = true;
        } else if text == " PostgreSQL database dump complete" {
            self.pg_dump_complete = true;
        }
        self.prev = b'\n';
        if self.copies_pending > 0 {
            State::CopyLineStart
        } else {
            State::Normal
        }
    }

    fn normal(&mut self, b: u8, out: &mut Vec<u8>) -> Result<()> {
        if b == b'\\' {
            self.state = State::Meta {
                at_line_start: self.at_line_start,
            };
            self.buffer.clear();
            self.buffer.push(b);
            self.at_line_start = false;
            return Ok(());
        }
        out.push(b);
        self.track_statement(b);
        let (prev, prev2) = (self.prev, self.prev2);
        self.prev2 = prev;
        self.prev = b;
        match b {
            b'\'' => {
                self.state = State::Quote {
                    escapes: (prev == b'e' || prev == b'E') && !absorbs_e(prev2),
                }
            }
            b'"' => self.state = State::Ident,
            b'$' if !is_ident(prev) => {
                self.state = State::DollarTag;
                self.tag.clear();
            }
            b'-' if prev == b'-' => {
                self.state = State::LineComment;
                self.comment_head.clear();
            }
            b'*' if prev == b'/' => self.state = State::BlockComment { depth: 1, prev: 0 },
            b'\n' if self.copies_pending > 0 => self.state = State::CopyLineStart,
            _ => {}
        }
        self.count_line(b);
        Ok(())
    }

    /// A literal closed with `quote` and `b` is not a doubled quote.
    fn after_literal(&mut self, quote: u8, b: u8, out: &mut Vec<u8>) -> Result<()> {
        self.state = State::Normal;
        self.prev2 = quote;
        self.prev = quote;
        self.normal(b, out)
    }

    fn track_statement(&mut self, b: u8) {
        let st = &mut self.statement;
        if is_ident(b) {
            if st.word.len() < WORD_CAP {
                st.word.push(b.to_ascii_uppercase());
            }
            return;
        }
        st.end_word();
        match b {
            b'(' => self.depth += 1,
            b')' => self.depth = self.depth.saturating_sub(1),
            b';' if self.depth == 0 => {
                if st.is_copy_from_stdin() {
                    self.copies_pending += 1;
                }
                *st = Statement::default();
                return;
            }
            _ => {}
        }
        // '-' and '/' may start a comment, which is not a token; no
        // operator can sit between FROM and STDIN anyway
        if !b.is_ascii_whitespace() && !matches!(b, b'-' | b'/' | b'*') {
            st.push_token(vec![b]);
        }
    }

    fn dollar_tag(&mut self, b: u8, out: &mut Vec<u8>) -> Result<()> {
        if b == b'$' {
            out.push(b);
            self.state = State::Dollar { matched: 0 };
            return Ok(());
        }
        let fits = if self.tag.is_empty() {
            is_tag_start(b)
        } else {
            is_tag_cont(b)
        };
        if fits && self.tag.len() < 64 {
            out.push(b);
            self.tag.push(b);
            return Ok(());
        }
        // not a dollar quote after all: what followed '$' is ordinary SQL
        self.state = State::Normal;
        self.prev = b'$';
        for t in std::mem::take(&mut self.tag) {
            self.track_statement(t);
            self.prev2 = self.prev;
            self.prev = t;
        }
        self.normal(b, out)
    }

    fn meta(&mut self, b: u8, at_line_start: bool, out: &mut Vec<u8>) -> Result<()> {
        if b != b'\n' {
            if self.buffer.len() >= META_CAP {
                return Err(self.refuse(format!("psql meta-command {}", self.shown())));
            }
            self.buffer.push(b);
            return Ok(());
        }
        self.end_meta_line(at_line_start)?;
        out.push(b'\n');
        self.state = if self.copies_pending > 0 {
            State::CopyLineStart
        } else {
            State::Normal
        };
        self.prev = b'\n';
        self.count_line(b'\n');
        Ok(())
    }

    fn shown(&self) -> String {
        let text = String::from_utf8_lossy(&self.buffer);
        let text = text.trim_end();
        let mut shown: String = text.chars().take(60).collect();
        if shown.len() < text.len() {
            shown.push_str("...");
        }
        shown
    }

    fn end_meta_line(&mut self, at_line_start: bool) -> Result<()> {
        if at_line_start && is_restrict_pair(&self.buffer) {
            self.stripped += 1;
            self.buffer.clear();
            self.state = State::Normal;
            return Ok(());
        }
        Err(self.refuse(format!("psql meta-command {}", self.shown())))
    }

    fn copy(&mut self, b: u8, out: &mut Vec<u8>) -> Result<()> {
        self.state = match (self.state, b) {
            (State::CopyLineStart | State::CopyMid, b'\\') => {
                State::CopyBackslash { at_line_start: self.state == State::CopyLineStart }
            }
            (State::CopyLineStart | State::CopyMid, b'\n') => State::CopyLineStart,
            (State::CopyLineStart | State::CopyMid, _) => State::CopyMid,
            (State::CopyBackslash { at_line_start: true }, b'.') => State::CopyEnd { cr: false },
            (State::CopyBackslash { .. }, b'\\' | b'b' | b'f' | b'n' | b'r' | b't' | b'v' | b'N') => State::CopyMid,
            (State::CopyBackslash { .. }, other) => {
                return Err(self.refuse(format!(
                    "backslash sequence \\{} in COPY data (pg_dump never writes it; a psql command hidden in data?)",
                    char::from(other).escape_default()
                )))
            }
            (State::CopyEnd { cr: false }, b'\r') => State::CopyEnd { cr: true },
            (State::CopyEnd { .. }, b'\n') => {
                self.copies_pending -= 1;
                self.prev = b'\n';
                if self.copies_pending > 0 {
                    State::CopyLineStart
                } else {
                    State::Normal
                }
            }
            (State::CopyEnd { .. }, _) => return Err(self.refuse("text after the \\. that ends COPY data")),
            (state, _) => state,
        };
        out.push(b);
        self.count_line(b);
        Ok(())
    }
}

fn block_comment(b: u8, depth: u32, prev: u8) -> State {
    match (prev, b) {
        (b'/', b'*') => State::BlockComment {
            depth: depth + 1,
            prev: 0,
        },
        (b'*', b'/') if depth == 1 => State::Normal,
        (b'*', b'/') => State::BlockComment {
            depth: depth - 1,
            prev: 0,
        },
        _ => State::BlockComment { depth, prev: b },
    }
}

/// `\restrict KEY` or `\unrestrict KEY` (KEY alphanumeric), nothing else.
fn is_restrict_pair(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let key = line
        .strip_prefix(b"\\restrict ")
        .or_else(|| line.strip_prefix(b"\\unrestrict "));
    matches!(key, Some(k) if !k.is_empty() && k.len() <= 256 && k.iter().all(u8::is_ascii_alphanumeric))
}

/// Filters a whole SQL text at once (tests and small inputs).
#[cfg(test)]
pub(crate) fn filter_all(sql: &[u8], chunk: usize) -> Result<Vec<u8>> {
    let mut guard = SqlGuard::new();
    let mut out = Vec::new();
    for piece in sql.chunks(chunk.max(1)) {
        guard.process(piece, &mut out)?;
    }
    guard.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests;
