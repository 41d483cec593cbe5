//! Filter text to tokens.

use serde_json::Number;

use crate::ScimError;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// An attribute path, an operator or a keyword: told apart by the parser.
    Word(String),
    Str(String),
    Number(Number),
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// The `.` of `emails[type eq "work"].value`.
    Dot,
}

/// A token and the byte offset it starts at, for error messages.
pub type Spanned = (Token, usize);

pub fn tokenize(text: &str) -> Result<Vec<Spanned>, ScimError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => push(&mut tokens, Token::LParen, &mut i, start),
            b')' => push(&mut tokens, Token::RParen, &mut i, start),
            b'[' => push(&mut tokens, Token::LBracket, &mut i, start),
            b']' => push(&mut tokens, Token::RBracket, &mut i, start),
            b'.' if matches!(tokens.last(), Some((Token::RBracket, _))) => push(&mut tokens, Token::Dot, &mut i, start),
            b'"' => {
                let (value, end) = string(text, start)?;
                tokens.push((Token::Str(value), start));
                i = end;
            }
            b'-' | b'0'..=b'9' => {
                let end = scan(bytes, i + 1, |b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
                let literal = &text[start..end];
                let number: Number = serde_json::from_str(literal)
                    .map_err(|_| ScimError::invalid_filter(format!("'{literal}' at {start} is not a number")))?;
                tokens.push((Token::Number(number), start));
                i = end;
            }
            c if c.is_ascii_alphabetic() || c == b'$' || c == b'_' => {
                let end = scan(bytes, i + 1, |b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'$'));
                tokens.push((Token::Word(text[start..end].to_owned()), start));
                i = end;
            }
            _ => {
                let ch = text[start..].chars().next().unwrap_or('?');
                return Err(ScimError::invalid_filter(format!("unexpected '{ch}' at {start}")));
            }
        }
    }
    Ok(tokens)
}

fn push(tokens: &mut Vec<Spanned>, token: Token, i: &mut usize, start: usize) {
    tokens.push((token, start));
    *i += 1;
}

fn scan(bytes: &[u8], mut i: usize, keep: impl Fn(u8) -> bool) -> usize {
    while i < bytes.len() && keep(bytes[i]) {
        i += 1;
    }
    i
}

/// A JSON string literal starting at `start`; returns its value and the offset after it.
fn string(text: &str, start: usize) -> Result<(String, usize), ScimError> {
    let bytes = text.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => {
                let literal = &text[start..=i];
                let value: String =
                    serde_json::from_str(literal).map_err(|e| ScimError::invalid_filter(format!("bad string at {start}: {e}")))?;
                return Ok((value, i + 1));
            }
            _ => i += 1,
        }
    }
    Err(ScimError::invalid_filter(format!("unterminated string at {start}")))
}
