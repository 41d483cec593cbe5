//! SQLite's spelling of the query compiler's operations.

use crate::query::Dialect;

pub struct Sqlite;

/// A JSON path: `$."urn:…:User"."manager"."value"`; all-digit segments index arrays. Segments
/// come from the schema definitions, never from a request.
fn path_literal(path: &[&str]) -> String {
    let mut out = String::from("'$");
    for segment in path {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            out.push_str(&format!(".\"{segment}\""));
        }
    }
    out.push('\'');
    out
}

impl Dialect for Sqlite {
    fn param(&self, n: usize) -> String {
        format!("?{n}")
    }
    fn fold(&self, expr: &str) -> String {
        format!("scim_fold({expr})")
    }
    fn uuid_text(&self, column: &str) -> String {
        column.to_owned()
    }
    fn json_text(&self, json: &str, path: &[&str]) -> String {
        format!("json_extract({json}, {})", path_literal(path))
    }
    fn json_is_bool(&self, json: &str, path: &[&str], value: bool) -> String {
        format!("(json_type({json}, {}) = '{value}')", path_literal(path))
    }
    fn json_number(&self, json: &str, path: &[&str]) -> String {
        let p = path_literal(path);
        format!("(CASE WHEN json_type({json}, {p}) IN ('integer', 'real') THEN json_extract({json}, {p}) END)")
    }
    fn json_elements(&self, json: &str, path: &[&str], alias: &str) -> (String, String) {
        let p = path_literal(path);
        (
            format!("json_each(CASE WHEN json_type({json}, {p}) = 'array' THEN json_extract({json}, {p}) ELSE '[]' END) AS {alias}"),
            format!("{alias}.value"),
        )
    }
    fn contains(&self, expr: &str, needle: &str) -> String {
        format!("(instr({expr}, {needle}) > 0)")
    }
    fn starts_with(&self, expr: &str, prefix: &str) -> String {
        format!("(substr({expr}, 1, length({prefix})) = {prefix})")
    }
    fn ends_with(&self, expr: &str, suffix: &str) -> String {
        format!("(length({suffix}) = 0 OR substr({expr}, -length({suffix})) = {suffix})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_json_paths_with_array_indexes() {
        assert_eq!(Sqlite.json_text("r.document", &["emails", "0", "value"]), "json_extract(r.document, '$.\"emails\"[0].\"value\"')");
        assert_eq!(Sqlite.param(3), "?3");
    }
}
