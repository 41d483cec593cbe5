//! Filters and PATCH paths as canonical text that parses back to the same tree: lower-case keywords, JSON
//! literals, and parentheses only where precedence needs them.

use std::fmt;

use super::ast::{CompValue, CompareOp, Filter, PatchPath};

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        })
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::String(s) => f.write_str(&serde_json::to_string(s).map_err(|_| fmt::Error)?),
        }
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            // Both associate to the left, so a right operand of the same precedence needs
            // parentheses and a left one does not.
            Filter::And(a, b) => {
                a.write_operand(f, Precedence::And)?;
                f.write_str(" and ")?;
                b.write_operand(f, Precedence::Operand)
            }
            Filter::Or(a, b) => {
                a.write_operand(f, Precedence::Or)?;
                f.write_str(" or ")?;
                b.write_operand(f, Precedence::And)
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

/// How tightly a filter holds together when written out, loosest first.
#[derive(PartialEq, PartialOrd)]
enum Precedence {
    Or,
    And,
    Operand,
}

impl Filter {
    fn precedence(&self) -> Precedence {
        match self {
            Filter::Or(..) => Precedence::Or,
            Filter::And(..) => Precedence::And,
            _ => Precedence::Operand,
        }
    }

    /// Writes `self` as an operand that must hold together at least as tightly as `at_least`.
    fn write_operand(&self, f: &mut fmt::Formatter<'_>, at_least: Precedence) -> fmt::Result {
        if self.precedence() < at_least {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_canonical_text() {
        for (input, canonical) in [
            (r#"USERNAME EQ "bjensen""#, r#"USERNAME eq "bjensen""#),
            (r#"title pr AND (userType eq "Employee")"#, r#"title pr and userType eq "Employee""#),
            (
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
                r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            ),
            ("a pr or b pr and c pr", "a pr or b pr and c pr"),
            ("(a pr or b pr) and c pr", "(a pr or b pr) and c pr"),
            ("a pr and (b pr and c pr)", "a pr and (b pr and c pr)"),
            ("(a pr and b pr) and c pr", "a pr and b pr and c pr"),
            ("a pr or (b pr or c pr)", "a pr or (b pr or c pr)"),
            ("not a pr", "not (a pr)"),
            (
                r#"x eq "q\"uote\\ \u0001 é" or y eq -1.5e3 or z eq FALSE or w ne Null"#,
                r#"x eq "q\"uote\\ \u0001 é" or y eq -1500.0 or z eq false or w ne null"#,
            ),
            (r#"emails[type eq "work"].value eq "a@x""#, r#"emails[type eq "work" and value eq "a@x"]"#),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "1""#,
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "1""#,
            ),
        ] {
            let filter = Filter::parse(input).unwrap();
            assert_eq!(filter.to_string(), canonical, "{input}");
            assert_eq!(Filter::parse(canonical), Ok(filter), "{canonical}");
        }
    }
}
