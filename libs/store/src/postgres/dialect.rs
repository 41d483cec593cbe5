//! PostgreSQL's spelling of the query compiler's operations.

use crate::query::Dialect;

pub struct Postgres;

/// A text-array path literal: `'{"urn:…:User","manager","value"}'`. Path elements come from the
/// schema definitions, never from a request.
fn path_literal(path: &[&str]) -> String {
    let quoted: Vec<String> = path.iter().map(|p| format!("\"{p}\"")).collect();
    format!("'{{{}}}'", quoted.join(","))
}

impl Dialect for Postgres {
    fn param(&self, n: usize) -> String {
        format!("${n}")
    }
    fn fold(&self, expr: &str) -> String {
        // ICU's root locale lowercases as Rust's `str::to_lowercase` does (full mappings, a
        // final sigma), whatever the database's own collation: libc's "C.UTF-8" maps one code
        // point to one ("İ" to "i"), and "C" folds ASCII only.
        format!("lower(({expr}) COLLATE \"und-x-icu\")")
    }
    fn uuid_text(&self, column: &str) -> String {
        format!("({column})::text")
    }
    fn json_text(&self, json: &str, path: &[&str]) -> String {
        format!("({json} #>> {})", path_literal(path))
    }
    fn json_value(&self, json: &str, path: &[&str]) -> String {
        format!("({json} #> {})", path_literal(path))
    }
    fn json_is_bool(&self, json: &str, path: &[&str], value: bool) -> String {
        format!("(({json} #> {}) = '{value}'::jsonb)", path_literal(path))
    }
    fn json_number(&self, json: &str, path: &[&str]) -> String {
        format!("(CASE WHEN jsonb_typeof({json} #> {0}) = 'number' THEN ({json} #>> {0})::float8 END)", path_literal(path))
    }
    fn json_elements(&self, json: &str, path: &[&str], alias: &str) -> (String, String) {
        let p = path_literal(path);
        (
            format!("jsonb_array_elements(CASE WHEN jsonb_typeof({json} #> {p}) = 'array' THEN {json} #> {p} ELSE '[]'::jsonb END) AS {alias}(v)"),
            format!("{alias}.v"),
        )
    }
    fn code_point_order(&self, expr: &str) -> String {
        // The "C" collation orders UTF-8 bytewise, which is code point order; the database's
        // own (often en_US) would put "ärger" before "j".
        format!("({expr} COLLATE \"C\")")
    }
    fn contains(&self, expr: &str, needle: &str) -> String {
        format!("(strpos({expr}, {needle}) > 0)")
    }
    fn starts_with(&self, expr: &str, prefix: &str) -> String {
        format!("starts_with({expr}, {prefix})")
    }
    fn ends_with(&self, expr: &str, suffix: &str) -> String {
        format!("(right({expr}, length({suffix})) = {suffix})")
    }
}
