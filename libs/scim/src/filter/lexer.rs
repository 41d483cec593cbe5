//! Filter text to tokens.

use serde_json::{Number, Value};

use crate::error::quoted;
use crate::ScimError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token<'t> {
    /// An attribute path, an operator, a keyword or a literal word (`true`, `null`): the parser
    /// tells them apart by where they stand.
    Word(&'t str),
    Str(String),
    Number(Number),
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// The `.` right after `]`, as in `emails[type eq "work"].value`.
    Dot,
}

impl Token<'_> {
    /// How an error message names the token.
    pub(super) fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("'{}'", quoted(w)),
            Token::Str(s) => format!("the string {}", quoted(&Value::String(s.clone()).to_string())),
            Token::Number(n) => format!("the number {n}"),
            Token::LParen => "'('".to_owned(),
            Token::RParen => "')'".to_owned(),
            Token::LBracket => "'['".to_owned(),
            Token::RBracket => "']'".to_owned(),
            Token::Dot => "'.'".to_owned(),
        }
    }
}

/// A token and the byte offset it starts at.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Spanned<'t> {
    pub token: Token<'t>,
    pub at: usize,
}

/// Where byte offset `at` of `text` is, as people count: the 1-based character position.
pub(super) fn position(text: &str, at: usize) -> usize {
    text[..at].chars().count() + 1
}

pub(super) fn tokenize(text: &str) -> Result<Vec<Spanned<'_>>, ScimError> {
    let mut tokens: Vec<Spanned<'_>> = Vec::new();
    let mut at = 0;
    while let Some(c) = text[at..].chars().next() {
        let (token, len) = match c {
            c if c.is_whitespace() => {
                at += c.len_utf8();
                continue;
            }
            '(' => (Token::LParen, 1),
            ')' => (Token::RParen, 1),
            '[' => (Token::LBracket, 1),
            ']' => (Token::RBracket, 1),
            '.' if tokens.last().is_some_and(|t| t.token == Token::RBracket) => (Token::Dot, 1),
            '"' => string(text, at)?,
            '-' | '0'..='9' => number(text, at)?,
            _ => {
                let len = text[at..].find(ends_word).unwrap_or(text.len() - at);
                (Token::Word(&text[at..at + len]), len)
            }
        };
        tokens.push(Spanned { token, at });
        at += len;
    }
    Ok(tokens)
}

/// A word runs to the next space, bracket, parenthesis or quote: URNs keep their dots and
/// colons (`urn:…:enterprise:2.0:User:manager.value`), and anything odd inside a word is
/// reported as a bad attribute path rather than as a stray character.
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"')
}

/// A JSON string literal starting at byte `start`: its value and its length in bytes.
fn string(text: &str, start: usize) -> Result<(Token<'static>, usize), ScimError> {
    let bytes = text.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            // Skipping the escaped byte is enough to find the closing quote; serde_json checks
            // the escape itself.
            b'\\' => i += 2,
            b'"' => {
                let literal = &text[start..=i];
                let value: String = serde_json::from_str(literal).map_err(|_| {
                    ScimError::invalid_filter(format!(
                        "the string at character {} has a bad escape or an unescaped control character",
                        position(text, start)
                    ))
                })?;
                return Ok((Token::Str(value), literal.len()));
            }
            _ => i += 1,
        }
    }
    Err(ScimError::invalid_filter(format!("the string at character {} is not terminated", position(text, start))))
}

/// A JSON number starting at byte `start`: its value and its length in bytes.
fn number(text: &str, start: usize) -> Result<(Token<'static>, usize), ScimError> {
    let rest = &text[start..];
    let len = rest.find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))).unwrap_or(rest.len());
    let literal = &rest[..len];
    let number = json_number(literal).ok_or_else(|| {
        ScimError::invalid_filter(format!("'{}' at character {} is not a number", quoted(literal), position(text, start)))
    })?;
    Ok((Token::Number(number), len))
}

/// serde_json checks the JSON number syntax and keeps integers exact, but without its
/// `float_roundtrip` feature it may round a decimal's last digit; Rust's own parser does not.
fn json_number(literal: &str) -> Option<Number> {
    let number: Number = serde_json::from_str(literal).ok()?;
    if number.is_f64() {
        Number::from_f64(literal.parse().ok()?)
    } else {
        Some(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<Token<'_>> {
        tokenize(text).unwrap().into_iter().map(|s| s.token).collect()
    }

    #[test]
    fn urn_paths_stay_one_word() {
        let urn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value";
        assert_eq!(tokens(&format!("{urn} pr")), [Token::Word(urn), Token::Word("pr")]);
    }

    #[test]
    fn punctuation_splits_words_and_a_dot_after_a_bracket_is_its_own_token() {
        assert_eq!(
            tokens(r#"emails[type eq"work"].value"#),
            [
                Token::Word("emails"),
                Token::LBracket,
                Token::Word("type"),
                Token::Word("eq"),
                Token::Str("work".into()),
                Token::RBracket,
                Token::Dot,
                Token::Word("value"),
            ]
        );
        assert_eq!(tokens("not(a pr)"), [Token::Word("not"), Token::LParen, Token::Word("a"), Token::Word("pr"), Token::RParen]);
    }

    #[test]
    fn strings_take_json_escapes() {
        assert_eq!(tokens(r#""a\"b\\c\u00e9\n""#), [Token::Str("a\"b\\cé\n".into())]);
        assert_eq!(tokens(r#""O'Malley""#), [Token::Str("O'Malley".into())]);
    }

    #[test]
    fn numbers_are_json_numbers() {
        let numbers: Vec<String> = tokens("42 -7 1.5 2e3 -0.25E-2").iter().map(|t| t.describe()).collect();
        assert_eq!(numbers, ["the number 42", "the number -7", "the number 1.5", "the number 2000.0", "the number -0.0025"]);
        // serde_json alone reads this one a unit in the last place off.
        assert_eq!(tokens("-7.4459554745604435e43"), [Token::Number(Number::from_f64(-7.4459554745604435e43).unwrap())]);
    }

    #[test]
    fn offsets_are_bytes_and_positions_are_characters() {
        let spans = tokenize(r#""é" x"#).unwrap();
        assert_eq!(spans[1].at, 5);
        assert_eq!(position(r#""é" x"#, spans[1].at), 5);
    }

    #[test]
    fn bad_literals_name_their_position() {
        for (text, expected) in [
            (r#"a eq "open"#, "the string at character 6 is not terminated"),
            (r#"a eq "ends with \"#, "the string at character 6 is not terminated"),
            (r#"a eq "\q""#, "the string at character 6 has a bad escape"),
            ("a eq 1.2.3", "'1.2.3' at character 6 is not a number"),
            ("a eq 01", "'01' at character 6 is not a number"),
        ] {
            let err = tokenize(text).unwrap_err();
            assert!(err.detail.starts_with(expected), "{text}: {}", err.detail);
        }
    }
}
